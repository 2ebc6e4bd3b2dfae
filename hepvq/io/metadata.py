"""Metadata that travels in every hepvq output file.

- ``hepvq_provenance``: TObjString holding JSON (hepvq version, creation time, process name, input files,
  products written with their branch prefixes, codecs declared with ``declare_codec``, sha256 of each blob).
- ``hepvq_cfg``: TObjString holding ``process.dumpPython()`` of the job that wrote the file.
- ``hepvq_blobs``: TTree, one entry per blob, branches ``key`` and ``data`` (both jagged uint8: the key in
  UTF-8 and the bytes). Blobs come from ``context.add_metadata(key, value)`` (convention ``"<label>/<name>"``).

uproot writes a python ``str`` as a TObjString, which ROOT reads as ``f.Get("hepvq_cfg").GetString()``."""
from __future__ import annotations

import datetime
import hashlib
import json

import awkward as ak
import numpy as np

from hepvq.errors import InputError

PROVENANCE_KEY = "hepvq_provenance"
CFG_KEY = "hepvq_cfg"
BLOBS_TREE = "hepvq_blobs"


def make_provenance(*, process_name: str = "", products=(), codecs=None, blobs=None, **extra) -> dict:
    import hepvq

    prov = {
        "hepvq_version": hepvq.__version__,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "process": process_name,
        "products": list(products),
        "codecs": dict(codecs or {}),
        "blobs": {k: {"bytes": len(v), "sha256": hashlib.sha256(v).hexdigest()} for k, v in (blobs or {}).items()},
    }
    prov.update(extra)
    return prov


def write_metadata(wfile, provenance: dict, cfg: str = "", blobs: dict | None = None,
                   compression=None) -> None:
    """Write provenance, cfg and blobs into an open ``uproot.recreate`` file."""
    wfile[PROVENANCE_KEY] = json.dumps(provenance, sort_keys=True)
    wfile[CFG_KEY] = cfg or ""
    blobs = blobs or {}
    keys = [np.frombuffer(k.encode(), np.uint8) for k in blobs]
    datas = [np.frombuffer(bytes(v), np.uint8) for v in blobs.values()]
    key_arr = ak.unflatten(np.concatenate(keys) if keys else np.zeros(0, np.uint8),
                           np.array([len(k) for k in keys], np.int64))
    data_arr = ak.unflatten(np.concatenate(datas) if datas else np.zeros(0, np.uint8),
                            np.array([len(d) for d in datas], np.int64))
    t = wfile.mktree(BLOBS_TREE, {"key": key_arr.type.content, "data": data_arr.type.content}, title="hepvq blobs")
    if blobs:
        t.extend({"key": key_arr, "data": data_arr})


def read_metadata(path_or_file) -> tuple[dict, dict[str, bytes]]:
    """(provenance dict, {key: bytes}) of a hepvq output file; ({}, {}) for a file without them."""
    from hepvq.io.source import open_root, read_provenance_of

    own = isinstance(path_or_file, (str, bytes)) or hasattr(path_or_file, "__fspath__")
    f = open_root(str(path_or_file))[0] if own else path_or_file
    try:
        prov = read_provenance_of(f) or {}
        blobs: dict[str, bytes] = {}
        if BLOBS_TREE in f.keys(cycle=False):
            try:
                arrs = f[BLOBS_TREE].arrays(["key", "data"], library="ak")
            except Exception as err:
                raise InputError(f"cannot read metadata blobs: {err}", file=str(getattr(f, 'file_path', path_or_file)),
                                 tree=BLOBS_TREE) from err
            for k, d in zip(arrs["key"], arrs["data"]):
                blobs[ak.to_numpy(k).astype(np.uint8).tobytes().decode()] = ak.to_numpy(d).astype(np.uint8).tobytes()
        return prov, blobs
    finally:
        if own:
            f.close()


def read_cfg(path) -> str:
    """The dumpPython() text stored in a hepvq output file ('' when absent)."""
    from hepvq.io.source import open_root

    f = open_root(str(path))[0]
    try:
        return str(f[CFG_KEY]) if CFG_KEY in f.keys(cycle=False) else ""
    finally:
        f.close()
