"""Lossless peers: the same collections written as a plain ROOT file (uproot, ZSTD / LZMA / ZLIB / LZ4 at a
chosen level, the input schema with ``ak.zip`` counters), and generic zstd / lzma of raw bytes."""
from __future__ import annotations

import lzma
import os
import tempfile
from collections import defaultdict

import awkward as ak
import numpy as np


def _group_schema(arrays: dict) -> dict:
    """{"PixelDigi_detId": jagged, ...} -> {"PixelDigi": ak.zip({...})} (one shared counter nPixelDigi);
    a value that is already a record array, or a flat branch, is kept under its own name."""
    out: dict = {}
    groups: dict[str, dict] = defaultdict(dict)
    for name, arr in arrays.items():
        if isinstance(arr, ak.Array) and arr.ndim == 2 and not arr.fields and "_" in name:
            prefix, field = name.split("_", 1)
            groups[prefix][field] = arr
        else:
            out[name] = arr
    for prefix, fields in groups.items():
        if len(fields) > 1:
            out[prefix] = ak.zip(fields)
        else:  # a lone jagged branch keeps its full name
            (field, arr), = fields.items()
            out[f"{prefix}_{field}"] = arr
    return out


def _compression(name: str, level: int):
    import uproot

    table = {"ZSTD": uproot.ZSTD, "LZMA": uproot.LZMA, "ZLIB": uproot.ZLIB, "LZ4": uproot.LZ4}
    if name is None or str(name).upper() in ("NONE", ""):
        return None
    try:
        return table[str(name).upper()](level)
    except KeyError:
        raise ValueError(f"compression must be one of {', '.join(table)} or None, not {name!r}") from None


def root_file_size(arrays: dict, compression: str = "ZSTD", level: int = 5, *, step: int | None = None,
                   tree: str = "Events") -> int:
    """Bytes of a ROOT file holding `arrays` (name -> numpy / awkward, per event) in tree `tree`.

    Jagged branches named ``<Prefix>_<field>`` are zipped per prefix, so they share one counter
    ``n<Prefix>`` like hepvq's own output; `step` events per basket (None: all in one extend call)."""
    import uproot

    arrays = {k: (v if isinstance(v, ak.Array) else ak.Array(np.asarray(v))) for k, v in arrays.items()}
    grouped = _group_schema(arrays)
    n = len(next(iter(grouped.values()))) if grouped else 0
    fd, path = tempfile.mkstemp(suffix=".root", prefix=".hepvq-tmp-size-")
    os.close(fd)
    try:
        with uproot.recreate(path, compression=_compression(compression, level)) as f:
            types = {k: v.type.content for k, v in grouped.items()}
            t = f.mktree(tree, types)
            step = step or max(n, 1)
            for start in range(0, max(n, 1), step):
                t.extend({k: v[start:start + step] for k, v in grouped.items()})
        return os.path.getsize(path)
    finally:
        os.unlink(path)


def zstd_size(data: bytes, level: int = 19) -> int:
    """Bytes of `data` compressed by zstd at `level` (frame header included)."""
    import zstandard

    return len(zstandard.ZstdCompressor(level=level).compress(bytes(data)))


def lzma_size(data: bytes, preset: int = 9) -> int:
    """Bytes of `data` compressed by xz/LZMA2 at `preset` (container included)."""
    return len(lzma.compress(bytes(data), preset=preset))


def columns_bytes(arrays: dict) -> bytes:
    """The raw column bytes of a set of arrays (flattened numpy buffers, counts included), concatenated:
    the input to zstd_size / lzma_size for a 'generic compressor on the raw columns' figure.  Jagged
    ``<Prefix>_<field>`` columns share one uint32 counts array per prefix."""
    parts = []
    grouped = _group_schema({k: (v if isinstance(v, ak.Array) else ak.Array(np.asarray(v))) for k, v in arrays.items()})
    for a in grouped.values():  # one counter per collection, as in the ROOT file
        if a.ndim > 1:
            parts.append(np.asarray(ak.num(a), dtype=np.uint32).tobytes())
            a = ak.flatten(a)
        if a.fields:
            for f in a.fields:
                parts.append(np.ascontiguousarray(ak.to_numpy(a[f])).tobytes())
        else:
            parts.append(np.ascontiguousarray(ak.to_numpy(a)).tobytes())
    return b"".join(parts)
