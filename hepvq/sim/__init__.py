"""Simulators of the sample data: CMS-like pile-up pixel DIGIs and sPHENIX-like TPC hits.

    from hepvq.sim import pixel, tpc
    events, truth = pixel.simulate_events(10, pileup=200, seed=0, geometry="phase1")
    tpc_events = tpc.simulate_events(2, seed=0, occupancy=None)

See docs/simulation.md for the physics, the validation plots and the reference values.
Sub-modules: geometry (presets, detId), physics (spectra, Landau, helices), pixel, tpc,
clusters (connected components + cluster observables), io (writing the input schema).
"""
from hepvq.sim import geometry  # noqa: F401  (light: numpy only)

__all__ = ["geometry", "physics", "pixel", "tpc", "clusters", "io"]


def __getattr__(name):
    if name in ("physics", "pixel", "tpc", "clusters", "io"):
        import importlib

        return importlib.import_module(f"hepvq.sim.{name}")
    raise AttributeError(name)
