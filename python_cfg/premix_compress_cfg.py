"""The main job: compress pile-up pixel DIGIs with pixel_vq format 2, operating point "default".

    hepvq-run python_cfg/premix_compress_cfg.py                       # shipped sample + shipped model
    hepvq-run python_cfg/premix_compress_cfg.py inputFiles=in.root outputFile=out.root \
        pixelVQ.model=data/models/pixel_vq pixelVQ.adcErrorBound=0    # lossless-position + lossless-ADC mode
    hepvq-run python_cfg/premix_compress_cfg.py pixelVQ.operatingPoint=fine   # or coarse (docs/pixel.md)
    hepvq-run python_cfg/premix_compress_cfg.py pixelVQ.format=1      # format 1: integer index branches

Format 2 "default" is the cheapest setting that passes all 23 premixing criteria of the 200-event PU-200
study (5.62 bits/hit, docs/validation.md); format 1 passes too but costs 6.83 bits/hit.

Output: premix_compressed.root with run/luminosityBlock/event, the format-2 branches pixelVQ_* (per event the
counts nmod, ncl, npatch and one rANS byte stream per field: s_mod, s_ncl, s_dcol, s_row, s_layout, s_tiles,
s_shape, s_esc, s_charge, s_code0, ...; pixelVQ.debugIndices=True adds readable integer branches
pixelVQ_debug_*; hepvq.open(path).indices() gives them from any file) and the decoder (ONNX, settings, tables) in the
file's metadata.  With pixelVQ.format=1 the branches are integers instead (shape, dcol, row, charge per patch;
modules_ddet/npatch; codes_c0, codes_c1 per multi-hit patch; escapes_mask), readable in ROOT without hepvq.
Decode with python_cfg/decompress_cfg.py or hepvq.open("premix_compressed.root").arrays().
"""
import hepvq.config as cms

process = cms.Process("PREMIXCOMPRESS")

process.source = cms.Source(
    "RootSource",
    fileNames=cms.untracked.vstring("data/pixel_pu200_sample.root"),
    collections=cms.untracked.vstring("PixelDigi"),
)
process.maxEvents = cms.untracked.PSet(input=cms.untracked.int32(-1))
process.options = cms.untracked.PSet(
    # 10 PU-200 events (~1M hits) per chunk: the encoder's working set is ~19 MB per event, so 10 keeps peak
    # memory at ~280 MB (20: ~450 MB, 5: ~190 MB) at the same CPU time (40 events, 2 cores: median CPU of 5
    # runs 4.15 s at 10, 4.22 s at 20, 4.32 s at 5); the written tree is the same for any chunk size
    chunkSize=cms.untracked.int32(10),
    numberOfThreads=cms.untracked.int32(1),
    providers=cms.untracked.vstring("auto"),  # CUDA when onnxruntime-gpu and a GPU are present, else CPU
)

process.pixelVQ = cms.EDProducer(
    "PixelDigiVQEncoder",
    src=cms.InputTag("PixelDigi"),
    model=cms.FileInPath("data/models/pixel_vq"),
    losslessPositions=cms.bool(True),
    adcErrorBound=cms.int32(-1),          # >= 0: sparse corrections bound |ADC error| (0 = lossless ADC)
    batchSize=cms.int32(16384),
    format=cms.int32(2),                  # rANS byte streams (docs/pixel.md "Format 2"); 1: integer index branches
    operatingPoint=cms.string("default"), # format 2: fine | default | coarse (charge step, mu); docs/validation.md
)

process.out = cms.OutputModule(
    "RootOutputModule",
    fileName=cms.untracked.string("premix_compressed.root"),
    outputCommands=cms.untracked.vstring("drop *", "keep pixelVQ*"),
    compressionAlgorithm=cms.untracked.string("ZSTD"),
    compressionLevel=cms.untracked.int32(5),
)

process.p = cms.Path(process.pixelVQ)
process.e = cms.EndPath(process.out)
