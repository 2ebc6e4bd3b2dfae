"""Core framework modules: RootSource, RootOutputModule and a small demo producer."""
from __future__ import annotations

import awkward as ak
import numpy as np

import hepvq.config as cms
from hepvq.framework import EDProducer, register_module
from hepvq.io.output import RootOutputModule
from hepvq.io.source import RootSource

register_module(RootSource)
register_module(RootOutputModule)


@register_module
class HitMultiplicityProducer(EDProducer):
    """Per-event hit count and summed ADC of a hit collection (demo producer).

    Puts a flat record {nhits: int32, sumadc: int64} per event under the module label, which the output
    writes as branches <label>_nhits and <label>_sumadc."""

    @classmethod
    def fillDescriptions(cls, desc):  # noqa: N802
        desc.add("src", cms.InputTag("PixelDigi"), "hit collection (jagged records with an adc field)")
        desc.add("adcField", cms.string("adc"), "field summed per event")
        desc.add("minAdc", cms.int32(0), "count and sum only hits with adc >= minAdc")

    def beginJob(self):  # noqa: N802
        self.total_hits = 0

    def produce(self, chunk):
        hits = chunk.get(self.params.src)
        adc = hits[self.params.adcField]
        if self.params.minAdc > 0:
            adc = adc[adc >= self.params.minAdc]
        nhits = ak.values_astype(ak.num(adc, axis=1), np.int32)
        sumadc = ak.values_astype(ak.sum(adc, axis=1), np.int64)
        self.total_hits += int(ak.sum(nhits))
        chunk.put(ak.zip({"nhits": nhits, "sumadc": sumadc}, depth_limit=1))

    def endJob(self):  # noqa: N802
        self.context.report(self.label, {"hits": self.total_hits})
