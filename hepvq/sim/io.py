"""Write simulated events in the hepvq input schema (docs/ARCHITECTURE.md) with uproot mktree/extend.

Tree ``Events``: run, luminosityBlock (uint32), event (uint64) and one jagged collection written from an
``ak.zip`` of its fields -> one counter ``n<Collection>`` and branches ``<Collection>_<field>``.
Pixel truth goes to a second tree ``Truth`` (same event order): run, luminosityBlock, event and
``SimHit_*`` (counter ``nSimHit``).
"""
from __future__ import annotations

import os

import awkward as ak
import numpy as np
import uproot

ID_TYPES = {"run": np.uint32, "luminosityBlock": np.uint32, "event": np.uint64}


def _branch_types(collection: str, fields: dict) -> dict:
    t = dict(ID_TYPES)
    t[collection] = ak.types.ListType(
        ak.types.RecordType([ak.types.NumpyType(np.dtype(v).name if np.dtype(v) != np.bool_ else "bool")
                             for v in fields.values()], list(fields)))
    return t


def _payload(arr, collection):
    recs = arr[collection]
    return {
        "run": ak.to_numpy(arr["run"]).astype(np.uint32),
        "luminosityBlock": ak.to_numpy(arr["luminosityBlock"]).astype(np.uint32),
        "event": ak.to_numpy(arr["event"]).astype(np.uint64),
        collection: ak.zip({f: recs[f] for f in recs.fields}),
    }


class TreeWriter:
    """Buffered writer for one collection tree: ``add(chunk_array)`` ... ``close()``.

    Buffers until ~ ``flush_items`` jagged items so that each basket holds >= ~100 kB per branch.
    """

    def __init__(self, file, tree: str, collection: str, flush_items: int = 200_000):
        self.file, self.tree, self.collection = file, tree, collection
        self.flush_items = flush_items
        self._buf = []
        self._n = 0
        self._created = False

    def add(self, arr):
        self._buf.append(arr)
        self._n += int(ak.sum(ak.num(arr[self.collection])))
        if self._n >= self.flush_items:
            self.flush()

    def flush(self):
        if not self._buf:
            return
        arr = ak.concatenate(self._buf) if len(self._buf) > 1 else self._buf[0]
        data = _payload(arr, self.collection)
        if not self._created:
            rec = data[self.collection]
            fields = {f: ak.flatten(rec[f]).to_numpy().dtype for f in rec.fields}
            self.file.mktree(self.tree, _branch_types(self.collection, fields),
                             title=f"hepvq simulated {self.collection}")
            self._created = True
        self.file[self.tree].extend(data)
        self._buf, self._n = [], 0

    def close(self):
        self.flush()


class SimWriter:
    """Context manager writing Events (+ optional Truth) to ``path`` atomically (tmp file renamed at the end)."""

    def __init__(self, path, collection: str, truth_collection: str | None = None, compression=None,
                 flush_items: int = 200_000):
        self.path = os.fspath(path)
        self.tmp = f"{self.path}.tmp-{os.getpid()}"
        self.collection, self.truth_collection = collection, truth_collection
        self.compression = compression if compression is not None else uproot.ZSTD(5)
        self.flush_items = flush_items

    def __enter__(self):
        d = os.path.dirname(os.path.abspath(self.path))
        os.makedirs(d, exist_ok=True)
        self.file = uproot.recreate(self.tmp, compression=self.compression)
        self.events = TreeWriter(self.file, "Events", self.collection, self.flush_items)
        self.truth = TreeWriter(self.file, "Truth", self.truth_collection, self.flush_items) \
            if self.truth_collection else None
        return self

    def write(self, events, truth=None):
        self.events.add(events)
        if self.truth is not None and truth is not None:
            self.truth.add(truth)

    def __exit__(self, exc_type, exc, tb):
        try:
            if exc_type is None:
                self.events.close()
                if self.truth is not None:
                    self.truth.close()
        finally:
            self.file.close()
            if exc_type is None:
                os.replace(self.tmp, self.path)
            elif os.path.exists(self.tmp):
                os.remove(self.tmp)
        return False


def write_pixel(path, events, truth=None, compression=None):
    with SimWriter(path, "PixelDigi", "SimHit" if truth is not None else None, compression) as w:
        w.write(events, truth)


def write_tpc(path, events, compression=None):
    with SimWriter(path, "TpcHit", None, compression) as w:
        w.write(events)


def read_events(path, tree="Events"):
    """Read a file written here back as an ak.Array with the collection as jagged records."""
    with uproot.open(path) as f:
        t = f[tree]
        arr = t.arrays()
    out = {k: arr[k] for k in ("run", "luminosityBlock", "event")}
    prefixes = sorted({k.split("_", 1)[0] for k in arr.fields if "_" in k})
    for p in prefixes:
        out[p] = ak.zip({k.split("_", 1)[1]: arr[k] for k in arr.fields if k.startswith(p + "_")})
    return ak.zip(out, depth_limit=1)
