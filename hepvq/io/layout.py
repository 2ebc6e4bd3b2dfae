"""How products map to TTree branches and back (shared by RootSource, RootOutputModule, hepvq.open), and which
products an output keeps (outputCommands). Format-neutral: nothing here opens a file.

Writing (contract, docs/ARCHITECTURE.md "Output files"): product (label, instance) -> branch prefix
``label`` (instance "") or ``label_instance``; jagged records -> counter ``n<prefix>`` + ``<prefix>_<field>``;
flat records -> ``<prefix>_<field>``; flat numbers -> ``<prefix>``.

Reading: branches are grouped back into products by prefix: the prefixes a hepvq file lists in its
provenance first (longest first), then the counter ``nX`` of a jagged branch ``X_field``, then the text
before the first ``_``. A branch without ``_`` and without a known prefix is a product on its own.
"""
from __future__ import annotations

import fnmatch
import re

import awkward as ak
import numpy as np

from hepvq.detectors import SCHEMA  # noqa: F401  (the input schema: RootSource, decoders)
from hepvq.errors import ParameterError

ID_BRANCHES = ("run", "luminosityBlock", "event")
ID_DTYPES = {"run": np.dtype(np.uint32), "luminosityBlock": np.dtype(np.uint32), "event": np.dtype(np.uint64)}

_COMMAND = re.compile(r"^\s*(keep|drop)\s+(\S+)\s*$")


def parse_output_commands(commands, label="", module_type="RootOutputModule"):
    """[(keep: bool, pattern)] from CMSSW-style "keep *" / "drop PixelDigi" / "keep encoder_*" lines."""
    out = []
    for c in commands:
        m = _COMMAND.match(str(c))
        if not m:
            raise ParameterError(f"bad command '{c}', expected 'keep <pattern>' or 'drop <pattern>'",
                                 label=label, module_type=module_type, parameter="outputCommands")
        out.append((m.group(1) == "keep", m.group(2)))
    return out


def is_kept(commands, label: str, instance: str) -> bool:
    """Apply the commands in order, last match wins. A pattern matches the branch prefix (``label`` or
    ``label_instance``) or ``label_instance`` with an empty instance (so ``keep enc_*`` keeps all of enc)."""
    keep = False
    names = {product_prefix(label, instance), f"{label}_{instance}", label if instance == "" else None}
    names.discard(None)
    for k, pat in commands:
        if any(fnmatch.fnmatchcase(n, pat) for n in names):
            keep = k
    return keep


def as_dict(value) -> dict:
    """A PSet-like value (dict, Params, cms.PSet) as {name: python value} (branchMap, branchAliases)."""
    if value is None:
        return {}
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if hasattr(value, "parameterNames_"):
        return {k: _plain(getattr(value, k)) for k in value.parameterNames_()}
    if hasattr(value, "items"):
        return {k: _plain(v) for k, v in value.items()}
    if hasattr(value, "__dict__"):
        return {k: _plain(v) for k, v in vars(value).items() if not k.startswith("_")}
    return dict(value)


def _plain(v):
    return v.value() if hasattr(v, "value") and callable(v.value) else v


def product_prefix(label: str, instance: str = "") -> str:
    return f"{label}_{instance}" if instance else label


def product_kind(array: ak.Array) -> str:
    """'jagged_record', 'record', 'jagged' or 'number'; anything else ('other': option types, fixed-size or
    doubly jagged lists, strings) cannot be written to a TTree branch."""
    form = array.layout.form
    while form.__class__.__name__ == "IndexedForm":  # a selection of events, not a type
        form = form.content
    name = form.__class__.__name__
    if name in ("ListOffsetForm", "ListForm") and form.parameter("__array__") is None:
        inner = form.content
        while inner.__class__.__name__ == "IndexedForm":
            inner = inner.content
        if inner.__class__.__name__ == "RecordForm" and all(
                c.__class__.__name__ == "NumpyForm" and not c.inner_shape for c in inner.contents):
            return "jagged_record"
        if inner.__class__.__name__ == "NumpyForm" and not inner.inner_shape:
            return "jagged"
        return "other"
    if name == "RecordForm":
        return "record" if all(product_kind(array[f]) in ("number", "jagged") for f in array.fields) else "other"
    if name == "NumpyForm" and not form.inner_shape:
        return "number"
    return "other"


def group_branches(names, counters: dict[str, str] | None = None, known_prefixes=()) -> dict[str, dict]:
    """{prefix: {field: branch}} for the given branch names (ids and counters already removed).

    A product stored as one branch (flat or jagged numbers) has the single field ``None``."""
    counters = counters or {}
    known = sorted(set(known_prefixes), key=len, reverse=True)
    groups: dict[str, dict] = {}
    for name in names:
        prefix = field = None
        for p in known:
            if name == p:
                prefix, field = p, None
                break
            if name.startswith(p + "_"):
                prefix, field = p, name[len(p) + 1:]
                break
        if prefix is None:
            counter = counters.get(name)
            if counter and counter.startswith("n") and name.startswith(counter[1:] + "_"):
                prefix = counter[1:]
                field = name[len(prefix) + 1:]
            elif "_" in name.strip("_"):
                prefix, field = name.split("_", 1)
            else:
                prefix, field = name, None
        groups.setdefault(prefix, {})[field] = name
    return groups


def zip_fields(fields: dict[str, ak.Array]) -> ak.Array:
    """One product from its field arrays: a jagged record when the fields are jagged (per event), a flat
    record otherwise. Fields that share their offsets (a common counter, or std::vector branches with the
    same sizes) are zipped without copying."""
    if list(fields) == [None]:
        return fields[None]
    layouts = {k: ak.to_layout(v) for k, v in fields.items()}
    lists = [lay for lay in layouts.values() if isinstance(lay, ak.contents.ListOffsetArray)]
    if lists and len(lists) == len(layouts):
        first = lists[0].offsets.data
        if all(lay.offsets.data is first or (len(lay.offsets) == len(first) and
                                             np.array_equal(np.asarray(lay.offsets.data), np.asarray(first)))
               for lay in lists[1:]):
            start, stop = int(first[0]), int(first[-1])
            contents = [lay.content[start:stop] if (start, stop) != (0, len(lay.content)) else lay.content
                        for lay in layouts.values()]
            if start:
                offsets = ak.index.Index64(np.asarray(first, dtype=np.int64) - start)
            else:
                offsets = lists[0].offsets
            record = ak.contents.RecordArray(contents, list(layouts), length=stop - start)
            return ak.Array(ak.contents.ListOffsetArray(offsets, record))
        return ak.zip(fields)  # raises when the per-event sizes differ
    return ak.zip(fields, depth_limit=1)


def split_product(prefix: str, array: ak.Array) -> dict[str, ak.Array]:
    """{branch name: array} of a product as the output writes it (for tests and plain readers)."""
    kind = product_kind(array)
    if kind in ("jagged_record", "record"):
        return {f"{prefix}_{f}": array[f] for f in array.fields}
    return {prefix: array}
