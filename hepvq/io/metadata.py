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

from hepvq.codecs.guard import jagged_offsets
from hepvq.errors import DataError, InputError
from hepvq.io.rootfile import one_line, open_root

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


def read_provenance_of(f, file: str | None = None) -> dict | None:
    """The provenance JSON of an open uproot file written by hepvq; None when the file has none.

    A provenance that is present but cannot be read is an error: the file claims to be a hepvq file, and
    guessing what it holds could turn its encoded products into silently empty collections."""
    name = file or str(getattr(f, "file_path", "?"))
    if PROVENANCE_KEY not in f.keys(cycle=False):
        if BLOBS_TREE in f.keys(cycle=False):
            raise DataError(f"file {name} has '{BLOBS_TREE}' but no '{PROVENANCE_KEY}': its metadata is damaged")
        return None
    try:
        prov = json.loads(str(f[PROVENANCE_KEY]))
    except Exception as err:
        raise DataError(f"file {name}: metadata '{PROVENANCE_KEY}' is not valid JSON ({one_line(err)}); "
                        "the file is damaged") from err
    if not isinstance(prov, dict) or not isinstance(prov.get("codecs", {}), dict) \
            or not isinstance(prov.get("products", []), list) or not isinstance(prov.get("blobs", {}), dict):
        raise DataError(f"file {name}: metadata '{PROVENANCE_KEY}' does not have the layout hepvq writes "
                        "(codecs, products, blobs); the file is damaged")
    return prov


def verify_blobs(provenance: dict, blobs: dict[str, bytes], file: str = "?") -> None:
    """DataError (one line naming the file and blob key) unless every blob matches the size and sha256 the
    provenance recorded when the file was written, and every blob is listed there."""
    listed = provenance.get("blobs") or {}
    for key, info in listed.items():
        if key not in blobs:
            raise DataError(f"file {file}: blob '{key}' listed in '{PROVENANCE_KEY}' is missing from '{BLOBS_TREE}'")
        data = blobs[key]
        if not isinstance(info, dict) or len(data) != int(info.get("bytes", -1)) \
                or hashlib.sha256(data).hexdigest() != info.get("sha256"):
            raise DataError(f"file {file}: blob '{key}' does not match the sha256 recorded in '{PROVENANCE_KEY}' "
                            f"({len(data)} bytes); the file was damaged or edited after it was written")
    extra = [k for k in blobs if k not in listed]
    if extra:
        raise DataError(f"file {file}: blob '{extra[0]}' in '{BLOBS_TREE}' is not listed in '{PROVENANCE_KEY}' "
                        "(no hash to verify it against)")


def declared_codecs(provenance: dict) -> dict[str, dict]:
    """{label: {codec, collection, prefixes}} the writing job declared (and kept the products of)."""
    return dict(provenance.get("codecs") or {})


def product_prefixes(provenance: dict) -> dict[str, tuple[str, str]]:
    """{branch prefix: (label, instance)} of every product the file lists."""
    return {p["prefix"]: (p.get("label", p["prefix"]), p.get("instance", "")) for p in provenance.get("products", [])}


#: keys of a job's codec declaration that never reach a file: "carried" (declared by RootSource from an input
#: file, not by an encoder of this job), "conflict" (input files hold different models for one label)
_INTERNAL = ("carried", "conflict")


def conflict_error(label: str, info: dict, output: str) -> DataError:
    return DataError(f"output module '{output}': keeps the products of '{label}' but {info['conflict']}; one output "
                     "file holds one model per label (decode them instead, or write one output per input)")


def codecs_for_output(codecs: dict, metadata: dict, kept: dict[str, dict[str, str]], output: str = "?"):
    """(codec declarations, blobs, labels to warn about) for an output that keeps the products ``kept``
    ({label: {instance: prefix}}).

    A codec whose products are kept is declared with its prefixes (refused if its input files disagree on the
    model); codecs carried over from input files whose products are not kept leave no blobs behind; an encoder
    of this job whose products are not kept is reported (its blobs stay, as before)."""
    out_codecs, drop, warn = {}, set(), []
    for label, info in codecs.items():
        if kept.get(label):
            if info.get("conflict"):
                raise conflict_error(label, info, output)
            out_codecs[label] = {k: v for k, v in info.items() if k not in _INTERNAL} | {"prefixes": kept[label]}
        elif info.get("carried"):
            drop.add(label)
        else:
            warn.append(label)
    blobs = {k: v for k, v in metadata.items() if k.split("/", 1)[0] not in drop}
    return out_codecs, blobs, warn


def read_metadata(path_or_file, *, verify: bool = True) -> tuple[dict, dict[str, bytes]]:
    """(provenance dict, {key: bytes}) of a hepvq output file; ({}, {}) for a file without them.

    ``verify``: check every blob against its recorded sha256 (verify_blobs) -- on by default, so that no
    reader builds a codec from damaged model bytes."""
    own = isinstance(path_or_file, (str, bytes)) or hasattr(path_or_file, "__fspath__")
    f = open_root(str(path_or_file))[0] if own else path_or_file
    name = str(path_or_file) if own else str(getattr(f, "file_path", "?"))
    try:
        prov = read_provenance_of(f, name) or {}
        blobs: dict[str, bytes] = {}
        if BLOBS_TREE in f.keys(cycle=False):
            try:
                arrs = f[BLOBS_TREE].arrays(["key", "data"], library="ak")
            except Exception as err:
                raise InputError(f"cannot read metadata blobs: {one_line(err)}", file=name, tree=BLOBS_TREE) from err
            # from the branches' buffers (one ak.Array element per blob costs ~0.1 ms)
            key_off, keys = jagged_offsets(arrs["key"])
            data_off, datas = jagged_offsets(arrs["data"])
            keys, datas = keys.astype(np.uint8, copy=False), datas.astype(np.uint8, copy=False)
            for j in range(len(key_off) - 1):
                try:
                    key = keys[key_off[j]:key_off[j + 1]].tobytes().decode()
                except UnicodeDecodeError as err:
                    raise DataError(f"file {name}: a blob key in '{BLOBS_TREE}' is not UTF-8; the file is damaged") \
                        from err
                blobs[key] = datas[data_off[j]:data_off[j + 1]].tobytes()
        if verify and prov:
            verify_blobs(prov, blobs, name)
        return prov, blobs
    finally:
        if own:
            f.close()


def read_cfg(path) -> str:
    """The dumpPython() text stored in a hepvq output file ('' when absent)."""
    f = open_root(str(path))[0]
    try:
        return str(f[CFG_KEY]) if CFG_KEY in f.keys(cycle=False) else ""
    finally:
        f.close()
