"""Compress TPC hits into implicit neural representations (codec tpc_inr).

    hepvq-run python_cfg/tpc_inr_compress_cfg.py                        # shipped sample, amortised hybrid
    hepvq-run python_cfg/tpc_inr_compress_cfg.py inputFiles=in.root outputFile=out.root
    hepvq-run python_cfg/tpc_inr_compress_cfg.py tpcInr.adcErrorBound=16             # |ADC error| <= 16 per hit
    hepvq-run python_cfg/tpc_inr_compress_cfg.py tpcInr.method=fit tpcInr.mode=dense tpcInr.epochs=20  # paper (torch)

Default: method "amortised" (ONNX encoder -> int8 latents of a shared decoder, a few ms per sector) in mode
"hybrid" (hit positions stored losslessly, the INR carries the ADC values: hit recall = precision = 1).
Output: tpc_inr_compressed.root with the products tpcInr (sector, nbytes), tpcInr_weights (byte),
tpcInr_coords (byte) and the decoder (config + ONNX) in the file's metadata.  Decode with
python_cfg/decompress_cfg.py or hepvq.open("tpc_inr_compressed.root").arrays().
"""
import hepvq.config as cms

process = cms.Process("TPCINRCOMPRESS")

process.source = cms.Source(
    "RootSource",
    fileNames=cms.untracked.vstring("data/tpc_sample.root"),
    collections=cms.untracked.vstring("TpcHit"),
)
process.maxEvents = cms.untracked.PSet(input=cms.untracked.int32(-1))
process.options = cms.untracked.PSet(
    chunkSize=cms.untracked.int32(2),
    numberOfThreads=cms.untracked.int32(1),
    providers=cms.untracked.vstring("auto"),
)

process.tpcInr = cms.EDProducer(
    "TpcInrEncoder",
    src=cms.InputTag("TpcHit"),
    method=cms.string("amortised"),       # or "fit": one SIREN/FFNet/WIRE per sector (the paper; needs torch)
    mode=cms.string("hybrid"),            # or "dense": the INR represents the whole volume (lossy positions)
    encoderModel=cms.string("data/models/tpc_amortised_encoder.onnx"),
    decoderModel=cms.string("data/models/tpc_amortised_decoder.onnx"),
    quant=cms.string("int8"),
    adcErrorBound=cms.int32(-1),          # hybrid: >= 0 stores residuals so that every |ADC error| <= this
    # method "fit" only:
    kind=cms.string("siren"),
    width=cms.int32(48),
    depth=cms.int32(3),
    strategy=cms.string("importance"),
    samplingRatio=cms.double(0.05),
    epochs=cms.int32(200),
)

process.out = cms.OutputModule(
    "RootOutputModule",
    fileName=cms.untracked.string("tpc_inr_compressed.root"),
    outputCommands=cms.untracked.vstring("drop *", "keep tpcInr*"),
    compressionAlgorithm=cms.untracked.string("ZSTD"),
    compressionLevel=cms.untracked.int32(5),
)

process.p = cms.Path(process.tpcInr)
process.e = cms.EndPath(process.out)
