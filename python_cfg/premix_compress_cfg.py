"""The main job: compress pile-up pixel DIGIs into pixel_vq codebook indices.

    hepvq-run python_cfg/premix_compress_cfg.py                       # shipped sample + shipped model
    hepvq-run python_cfg/premix_compress_cfg.py inputFiles=in.root outputFile=out.root \
        pixelVQ.model=data/models/pixel_vq pixelVQ.adcErrorBound=0    # lossless-position + lossless-ADC mode
    hepvq-run python_cfg/premix_compress_cfg.py pixelVQ.format=2 pixelVQ.operatingPoint=fine   # format 2

Output: premix_compressed.root with run/luminosityBlock/event, the index branches pixelVQ_* (integers: shape,
dcol, row, charge per patch; modules_ddet/npatch; codes_c0, codes_c1 per multi-hit patch; escapes_mask) and
the decoder (ONNX + settings) in the file's metadata.  Decode with python_cfg/decompress_cfg.py or
hepvq.open("premix_compressed.root").arrays().
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
    chunkSize=cms.untracked.int32(20),
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
    format=cms.int32(1),                  # 2: rANS byte streams (docs/pixel.md "Format 2"), ~10 % smaller
    operatingPoint=cms.string("default"), # format 2: fine | default | coarse (charge step, mu)
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
