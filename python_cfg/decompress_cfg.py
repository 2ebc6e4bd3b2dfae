"""Decompress a hepvq file back to the input schema (a drop-in replacement for the original DIGIs).

    hepvq-run python_cfg/decompress_cfg.py inputFiles=premix_compressed.root outputFile=decompressed.root

Every codec declared in the input file is decoded with the decoder stored in the file itself: pixel_vq /
pixel_sparse -> PixelDigi_detId/_row/_col/_adc, tpc_inr -> TpcHit_*.  Same events, same order.
"""
import hepvq.config as cms

process = cms.Process("DECOMPRESS")

process.source = cms.Source(
    "RootSource",
    fileNames=cms.untracked.vstring("premix_compressed.root"),
)
process.maxEvents = cms.untracked.PSet(input=cms.untracked.int32(-1))
process.options = cms.untracked.PSet(chunkSize=cms.untracked.int32(20))

# one generic decoder per collection: blobs verified against their sha256, per-event checksums checked, decoded
# values range-checked; a collection stored without codec (a plain DIGI file) passes through unchanged, and a
# file with neither is refused (never written out empty)
process.decodePixel = cms.EDProducer("HepvqDecoder", collection=cms.string("PixelDigi"))
process.decodeTpc = cms.EDProducer("HepvqDecoder", collection=cms.string("TpcHit"))

process.out = cms.OutputModule(
    "RootOutputModule",
    fileName=cms.untracked.string("decompressed.root"),
    outputCommands=cms.untracked.vstring("drop *", "keep decodePixel", "keep decodeTpc"),
    branchAliases=cms.untracked.PSet(
        decodePixel=cms.untracked.string("PixelDigi"),
        decodeTpc=cms.untracked.string("TpcHit"),
    ),
    compressionAlgorithm=cms.untracked.string("ZSTD"),
    compressionLevel=cms.untracked.int32(5),
)

process.p = cms.Path(process.decodePixel + process.decodeTpc)
process.e = cms.EndPath(process.out)
