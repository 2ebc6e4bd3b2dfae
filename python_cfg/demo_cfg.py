"""Demo: source -> HitMultiplicityProducer -> output (hit count and summed ADC per event).

    hepvq-run python_cfg/demo_cfg.py inputFiles=data/pixel_pu200_sample.root outputFile=demo.root
"""
import hepvq.config as cms

process = cms.Process("DEMO")

process.source = cms.Source("RootSource", fileNames=cms.untracked.vstring("data/pixel_pu200_sample.root"))

process.hitMult = cms.EDProducer(
    "HitMultiplicityProducer",
    src=cms.InputTag("PixelDigi"),
    minAdc=cms.int32(0),
)

process.out = cms.OutputModule(
    "RootOutputModule",
    fileName=cms.untracked.string("demo.root"),
    outputCommands=cms.untracked.vstring("keep *"),
)

process.p = cms.Path(process.hitMult)
process.end = cms.EndPath(process.out)
