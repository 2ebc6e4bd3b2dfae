"""Simulator sources: make events on the fly instead of reading a file (hepvq.sim).

    process.source = cms.Source("PixelDigiSimSource", pileup=cms.double(200), seed=cms.uint32(1))
    process.source = cms.Source("TpcHitSimSource", occupancy=cms.double(-1), seed=cms.uint32(1))

The number of events is ``process.maxEvents.input`` (or ``numberOfEvents`` when that is -1). Products:
``PixelDigi`` (and ``SimHit`` with ``produceTruth=True``) / ``TpcHit``, under label = collection name and
instance "", like RootSource, so ``InputTag("PixelDigi")`` works unchanged downstream. Event k of a job has
event number ``firstEvent + k`` and its content depends only on (seed, event number): the chunk size does
not change the events.
"""
from __future__ import annotations

from abc import abstractmethod

import awkward as ak

import hepvq.config as cms
from hepvq.errors import ParameterError
from hepvq.framework import Chunk, Source, register_module


class _SimSource(Source):
    collection = ""

    def __init__(self, label, params, context):
        super().__init__(label, params, context)
        self.first = int(params.firstEvent)
        self.run = int(params.run)
        self.seed = int(params.seed)
        self.n_default = int(params.numberOfEvents)
        self.num_events = self.n_default
        self.input_bytes = 0
        self.generated = 0
        self.hits = 0

    @abstractmethod
    def _simulate(self, first_event, n):
        """Simulate events first_event .. first_event+n-1 -> (ids array, {(label, instance): array})."""

    def chunks(self, chunk_size: int, max_events: int = -1):
        total = int(max_events) if max_events is not None and max_events >= 0 else self.n_default
        self.num_events = total
        step = max(1, int(chunk_size))
        for start in range(0, total, step):
            n = min(step, total - start)
            ids, products = self._simulate(self.first + start, n)
            self.generated += n
            yield Chunk(ids, start, start + n, products)

    def empty_chunk(self):
        """0 events typed like real ones (for 0-event outputs): one event simulated, then sliced away."""
        hits = self.hits
        ids, products = self._simulate(self.first, 1)
        self.hits = hits
        return Chunk(ids[:0], 0, 0, {key: arr[:0] for key, arr in products.items()})

    def endJob(self):  # noqa: N802
        self.context.report(self.label, {"events simulated": self.generated, "hits": self.hits,
                                         "hits/event": round(self.hits / max(self.generated, 1), 1)})


@register_module
class PixelDigiSimSource(_SimSource):
    """Simulated CMS-like pile-up pixel DIGIs (hepvq.sim.pixel); puts PixelDigi (and SimHit truth).

    Phase-1 barrel (or the Phase-2 IT-like preset), Poisson pile-up of minimum-bias pp collisions, helices
    in 3.8 T with loopers, Landau charge deposition, Lorentz drift, diffusion, noise, threshold and ADC.
    See docs/simulation.md for the physics and its validation."""

    collection = "PixelDigi"

    @classmethod
    def fillDescriptions(cls, desc):  # noqa: N802
        desc.add("pileup", cms.double(200.0), "mean number of pile-up collisions (Poisson)")
        desc.add("seed", cms.uint32(0), "random seed (events depend only on seed and event number)")
        desc.add("geometry", cms.string("phase1"), "pixel geometry preset: phase1, phase2 or phase1_fpix")
        desc.add("produceTruth", cms.untracked.bool(False),
                 "also put the simulated crossings as SimHit (written as SimHit_* branches)")
        desc.add("numberOfEvents", cms.untracked.uint32(100), "events to make when maxEvents is -1")
        desc.add("firstEvent", cms.untracked.uint32(1), "event number of the first event")
        desc.add("run", cms.untracked.uint32(1), "run number of the events")
        desc.add("gun", cms.string(""), "particle gun instead of pile-up: '' (pile-up), mu, pi, e or jet "
                 "(jet: gunNTracks pions in a cone of gunCone around each of gunNJets axes); no pile-up then")
        desc.add("gunNTracks", cms.uint32(1), "gun: tracks per event (mu/pi/e) or per jet (jet)")
        desc.add("gunNJets", cms.uint32(1), "gun jet: jets per event")
        desc.add("gunPt", cms.vdouble(1.0, 100.0), "gun: pT range in GeV (log-uniform)")
        desc.add("gunEta", cms.vdouble(-2.5, 2.5), "gun: eta range (uniform)")
        desc.add("gunCone", cms.double(0.1), "gun jet: cone radius Delta R")
        desc.add("multipleScattering", cms.bool(False), "Highland multiple scattering (beam pipe + modules)")
        desc.add("noiseRate", cms.double(0.0), "noise-only pixels above threshold per pixel per event")
        desc.add("bigPixels", cms.bool(False), "Phase-1 big pixels at ROC edges (twice as wide)")

    def __init__(self, label, params, context):
        super().__init__(label, params, context)
        from hepvq.sim.geometry import GEOMETRIES

        self.geometry = str(params.geometry)
        if self.geometry not in GEOMETRIES:
            raise ParameterError(f"module '{label}' of type PixelDigiSimSource: parameter 'geometry' is "
                                 f"'{self.geometry}', expected one of {sorted(GEOMETRIES)}")
        self.pileup = float(params.pileup)
        if self.pileup < 0:
            raise ParameterError(f"module '{label}' of type PixelDigiSimSource: parameter 'pileup' must be >= 0")
        self.truth = bool(params.produceTruth)
        self.extra = _realism_params(label, params)

    def _simulate(self, first_event, n):
        from hepvq.sim import pixel

        (events, truth, _), = list(pixel.iter_chunks(n, pileup=self.pileup, seed=self.seed, geometry=self.geometry,
                                                     first_event=first_event, chunk=n, run=self.run,
                                                     **self.extra))
        ids = ak.zip({"run": events.run, "luminosityBlock": events.luminosityBlock, "event": events.event},
                     depth_limit=1)
        products = {("PixelDigi", ""): events.PixelDigi}
        if self.truth:
            products[("SimHit", "")] = truth.SimHit
        self.hits += int(ak.sum(ak.num(events.PixelDigi)))
        return ids, products


def _realism_params(label, params) -> dict:
    """PixelSimConfig overrides from the gun / realism parameters (only those that differ from the defaults,
    so a plain pile-up source makes exactly the events it always made)."""
    from hepvq.sim import bigpix, geometry, gun, pixel

    if (len(tuple(params.gunPt)) != 2) or (len(tuple(params.gunEta)) != 2):
        raise ParameterError(f"module '{label}' of type PixelDigiSimSource: parameters 'gunPt' and 'gunEta' "
                             "need two values (min, max)")
    kw = {}
    if params.multipleScattering:
        kw["multiple_scattering"] = True
    if float(params.noiseRate) != 0.0:
        kw["noise_rate"] = float(params.noiseRate)
    if params.bigPixels:
        kw["big_pixels"] = True
    if params.gun:
        kw.update(gun=str(params.gun), gun_ntracks=int(params.gunNTracks), gun_njets=int(params.gunNJets),
                  gun_pt=tuple(params.gunPt), gun_eta=tuple(params.gunEta), gun_cone=float(params.gunCone))
    try:
        cfg = pixel.PixelSimConfig().replace(**kw)
        if cfg.gun:
            gun.check(cfg)
        if cfg.big_pixels:
            mods = geometry.get_geometry(str(params.geometry)).modules
            bigpix.check_shape(mods.rows.max(), mods.cols.max())
        if not 0.0 <= cfg.noise_rate < 0.01:
            raise ValueError(f"noiseRate must be in [0, 0.01), got {cfg.noise_rate}")
    except ValueError as err:
        raise ParameterError(f"module '{label}' of type PixelDigiSimSource: {err}") from None
    return kw


@register_module
class TpcHitSimSource(_SimSource):
    """Simulated sPHENIX-like TPC hits, outer layer group (hepvq.sim.tpc); puts TpcHit.

    Central Au+Au + pile-up, helices in 1.4 T, diffusion, pad response, SAMPA-like shaping, 10-bit ADC
    zero-suppressed below 64; occupancy configurable (default ~10 %). See docs/simulation.md."""

    collection = "TpcHit"

    @classmethod
    def fillDescriptions(cls, desc):  # noqa: N802
        desc.add("occupancy", cms.double(-1.0),
                 "target mean occupancy (1e-6 .. 0.3); -1: the default (~10 %, central Au+Au + pile-up)")
        desc.add("seed", cms.uint32(0), "random seed (events depend only on seed and event number)")
        desc.add("pileupRateKHz", cms.double(100.0), "Au+Au collision rate that piles up in the drift window")
        desc.add("sectors", cms.vint32(), "keep only these sectors (0..23); empty: all 24")
        desc.add("numberOfEvents", cms.untracked.uint32(10), "events to make when maxEvents is -1")
        desc.add("firstEvent", cms.untracked.uint32(1), "event number of the first event")
        desc.add("run", cms.untracked.uint32(1), "run number of the events")

    def __init__(self, label, params, context):
        super().__init__(label, params, context)
        occ = float(params.occupancy)
        self.occupancy = None if occ < 0 else occ
        if self.occupancy is not None and not (0 < self.occupancy < 0.5):
            raise ParameterError(f"module '{label}' of type TpcHitSimSource: parameter 'occupancy' is {occ}, "
                                 "expected -1 (default) or a value in (0, 0.5)")
        sectors = [int(s) for s in (params.sectors or [])]
        if any(not 0 <= s < 24 for s in sectors):
            raise ParameterError(f"module '{label}' of type TpcHitSimSource: parameter 'sectors' must hold "
                                 f"values in 0..23, got {sectors}")
        self.sectors = tuple(sectors) or None
        self.rate = float(params.pileupRateKHz)

    def _simulate(self, first_event, n):
        from hepvq.sim import tpc

        kw = {"pileup_rate_khz": self.rate}
        if self.sectors is not None:
            kw["sectors"] = self.sectors
        parts = [ev for ev, _ in tpc.iter_chunks(n, seed=self.seed, occupancy=self.occupancy,
                                                 first_event=first_event, chunk=max(1, min(n, 2)), run=self.run,
                                                 **kw)]
        events = ak.concatenate(parts) if len(parts) > 1 else parts[0]
        ids = ak.zip({"run": events.run, "luminosityBlock": events.luminosityBlock, "event": events.event},
                     depth_limit=1)
        self.hits += int(ak.sum(ak.num(events.TpcHit)))
        return ids, {("TpcHit", ""): events.TpcHit}


__all__ = ["PixelDigiSimSource", "TpcHitSimSource"]
