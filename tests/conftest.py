"""Shared fixtures: tiny input files of both flavours, written in temporary directories.

- ``pixel_file_uproot``: uproot ``mktree`` with ``ak.zip`` -> counter ``nPixelDigi`` + ``PixelDigi_*``.
- ``pixel_file_stdvector``: real ROOT TTree with ``std::vector<uint32_t/uint16_t>`` branches (no counter).
- ``tpc_file_uproot``: ``nTpcHit`` + ``TpcHit_*``.
- ``pixel_events`` / ``tpc_events``: the python content of those files (dict of arrays), to compare with.
- ``root_module``: ``import ROOT`` once per session (skips when ROOT is missing).
All files have run/luminosityBlock/event. Use ``make_pixel_events`` / ``write_uproot`` to make variants."""
from __future__ import annotations

import awkward as ak
import numpy as np
import pytest

N_EVENTS = 60


def make_pixel_events(n_events: int = N_EVENTS, seed: int = 1, mean_hits: float = 40.0) -> dict:
    """{run, luminosityBlock, event, PixelDigi: jagged records detId,row,col,adc} with the schema dtypes."""
    rng = np.random.default_rng(seed)
    counts = rng.poisson(mean_hits, n_events)
    counts[3 % n_events] = 0  # an empty event
    n = int(counts.sum())
    flat = {
        "detId": rng.choice(np.array([303042564, 303046660, 344201220, 352588804], np.uint32), n),
        "row": rng.integers(0, 160, n).astype(np.uint16),
        "col": rng.integers(0, 416, n).astype(np.uint16),
        "adc": rng.integers(1, 256, n).astype(np.uint16),  # zero-suppressed, as DIGIs are (codecs refuse ADC 0)
    }
    digis = ak.unflatten(ak.zip(flat), counts)
    return {
        "run": np.full(n_events, 1, np.uint32),
        "luminosityBlock": (np.arange(n_events) // 20 + 1).astype(np.uint32),
        "event": (np.arange(n_events, dtype=np.uint64) * 3 + 1000),
        "PixelDigi": digis,
    }


def make_tpc_events(n_events: int = N_EVENTS, seed: int = 2, mean_hits: float = 60.0) -> dict:
    rng = np.random.default_rng(seed)
    counts = rng.poisson(mean_hits, n_events)
    n = int(counts.sum())
    flat = {
        "sector": rng.integers(0, 24, n).astype(np.uint16),
        "layer": rng.integers(0, 48, n).astype(np.uint16),
        "phi": rng.integers(0, 2304, n).astype(np.uint16),
        "z": rng.integers(0, 498, n).astype(np.uint16),
        "adc": rng.integers(0, 1024, n).astype(np.uint16),
    }
    return {
        "run": np.full(n_events, 7, np.uint32),
        "luminosityBlock": np.full(n_events, 1, np.uint32),
        "event": np.arange(1, n_events + 1, dtype=np.uint64),
        "TpcHit": ak.unflatten(ak.zip(flat), counts),
    }


def write_uproot(path, events: dict, tree: str = "Events", extra: dict | None = None) -> str:
    """Write events with uproot mktree/extend (collections as ak.zip -> one counter nX)."""
    import uproot

    data = dict(events)
    data.update(extra or {})
    with uproot.recreate(path) as f:
        types = {k: (v.type.content if isinstance(v, ak.Array) else v.dtype) for k, v in data.items()}
        t = f.mktree(tree, types)
        t.extend(data)
    return str(path)


def write_stdvector(ROOT, path, events: dict, collection: str = "PixelDigi", tree: str = "Events") -> str:
    """Write events with real ROOT: scalar ids and std::vector<T> branches X_field (no counter)."""
    from array import array

    ctype = {np.dtype(np.uint16): "unsigned short", np.dtype(np.uint32): "unsigned int",
             np.dtype(np.float32): "float", np.dtype(np.int32): "int"}
    f = ROOT.TFile(str(path), "RECREATE")
    t = ROOT.TTree(tree, tree)
    run, lumi, evt = array("I", [0]), array("I", [0]), array("Q", [0])
    t.Branch("run", run, "run/i")
    t.Branch("luminosityBlock", lumi, "luminosityBlock/i")
    t.Branch("event", evt, "event/l")
    hits = events[collection]
    vecs = {}
    for field in hits.fields:
        dt = ak.to_numpy(ak.flatten(hits[field])).dtype
        vecs[field] = ROOT.std.vector(ctype[dt])()
        t.Branch(f"{collection}_{field}", vecs[field])
    cols = {field: ak.to_list(hits[field]) for field in hits.fields}
    for i in range(len(hits)):
        run[0], lumi[0], evt[0] = int(events["run"][i]), int(events["luminosityBlock"][i]), int(events["event"][i])
        for field, vec in vecs.items():
            vec.clear()
            for v in cols[field][i]:
                vec.push_back(v)
        t.Fill()
    t.Write()
    f.Close()
    return str(path)


@pytest.fixture(scope="session")
def root_module():
    return pytest.importorskip("ROOT")


@pytest.fixture(scope="session")
def pixel_events():
    return make_pixel_events()


@pytest.fixture(scope="session")
def tpc_events():
    return make_tpc_events()


@pytest.fixture(scope="session")
def pixel_file_uproot(tmp_path_factory, pixel_events):
    return write_uproot(tmp_path_factory.mktemp("pixel_uproot") / "pixel_uproot.root", pixel_events)


@pytest.fixture(scope="session")
def tpc_file_uproot(tmp_path_factory, tpc_events):
    return write_uproot(tmp_path_factory.mktemp("tpc_uproot") / "tpc_uproot.root", tpc_events)


@pytest.fixture(scope="session")
def pixel_file_stdvector(tmp_path_factory, pixel_events, root_module):
    return write_stdvector(root_module, tmp_path_factory.mktemp("pixel_stdvector") / "pixel_stdvector.root",
                           pixel_events)


def tpc_hit_table(hits):
    """Per event, the TPC hits as an int64 (n, 5) table (sector, layer, phi, z, adc) in canonical order."""
    out = []
    for e in range(len(hits)):
        t = np.stack([ak.to_numpy(hits[f][e]).astype(np.int64) for f in ("sector", "layer", "phi", "z", "adc")], 1)
        out.append(t[np.lexsort(t[:, :4].T[::-1])])
    return out
