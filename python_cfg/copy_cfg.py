"""Copy job: read events, drop some branches, write them again.

    hepvq-run python_cfg/copy_cfg.py inputFiles=data/pixel_pu200_sample.root outputFile=copy.root
"""
import hepvq.config as cms

process = cms.Process("COPY")

process.source = cms.Source(
    "RootSource",
    fileNames=cms.untracked.vstring("data/pixel_pu200_sample.root"),
    treeName=cms.untracked.string("Events"),
)
process.maxEvents = cms.untracked.PSet(input=cms.untracked.int32(-1))
process.options = cms.untracked.PSet(chunkSize=cms.untracked.int32(1000))

process.out = cms.OutputModule(
    "RootOutputModule",
    fileName=cms.untracked.string("copy.root"),
    # last match wins: keep everything, then drop the TPC hits
    outputCommands=cms.untracked.vstring("keep *", "drop TpcHit"),
    compressionAlgorithm=cms.untracked.string("ZSTD"),
    # raw hits: ZSTD(1) writes ~5x faster than the default ZSTD(5) for ~8-12% more bytes
    compressionLevel=cms.untracked.int32(1),
)
process.end = cms.EndPath(process.out)
