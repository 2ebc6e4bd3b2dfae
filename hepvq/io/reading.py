"""Reading hepvq output files in analysis: ``hepvq.open(path)`` -> a reader that decodes on the fly.

The file says everything needed (provenance JSON + blobs): for each codec declared by the job that wrote
it, ``codec_class(name).from_metadata(blobs of "<label>/", prefix stripped)`` rebuilds the codec, the
products of that label are gathered from the ``Events`` tree (instance -> array, field names without the
branch prefix) and ``codec.decode(products)`` gives jagged records in the input schema. Collections that
were written plainly (no codec) pass through under their branch prefix. Decoded collections take
precedence over a plain collection of the same name.

Helpers for decoder modules: ``codecs_from_file(path)`` and ``products_of(arrays, prefixes)``."""
from __future__ import annotations

import awkward as ak

from hepvq.codecs import codec_class
from hepvq.codecs.guard import decode_checked
from hepvq.codecs.options import RunOptions
from hepvq.errors import DataError, HepvqError, InputError, ModelError
from hepvq.io.layout import ID_BRANCHES, group_branches, zip_fields
from hepvq.io.metadata import CFG_KEY, declared_codecs, read_metadata
from hepvq.io.rootfile import one_line, open_root


def _takes_providers(cls) -> bool:
    """Whether a codec class's from_metadata passes ``providers`` (onnxruntime) on to the codec."""
    import inspect

    init = inspect.signature(cls.__init__).parameters
    fm = inspect.signature(cls.from_metadata).parameters
    return "providers" in fm or ("providers" in init and any(p.kind == p.VAR_KEYWORD for p in fm.values()))


def codecs_from_blobs(provenance: dict, blobs: dict[str, bytes], file: str = "?", *,
                      options: RunOptions | None = None) -> dict:
    """{label: (codec, collection, {instance: branch prefix})} for every codec declared in provenance.

    A codec that cannot be set up (unknown name, missing or corrupt blobs) is an error naming the file:
    a file whose encoded products cannot be decoded must never read as a file without those hits.
    Run-time ``options`` (hepvq.codecs.options.RunOptions): onnxruntime ``providers`` of codecs that run ONNX
    graphs (None: "auto"), ``threads`` of the compiled decode loops (None: the job's or one per core) and
    ``batch_size`` of their onnxruntime runs (None: the codec's)."""
    options = options or RunOptions()
    providers = None if options.providers is None else list(options.providers)
    out = {}
    codecs = declared_codecs(provenance)
    for label, info in codecs.items():
        if not isinstance(info, dict) or not info.get("codec"):
            raise DataError(f"file {file}: codec declaration of '{label}' in the provenance names no codec; "
                            "the file is damaged")
        own = {k[len(label) + 1:]: v for k, v in blobs.items() if k.startswith(label + "/")}
        try:
            cls = codec_class(info["codec"])
            extra = {"providers": providers} if providers is not None and _takes_providers(cls) else {}
            codec = options.apply(cls.from_metadata(own, **extra))
        except HepvqError as err:
            raise type(err)(f"file {file}: codec '{label}' ({info['codec']}) cannot be set up: {err}") from err
        except Exception as err:  # KeyError/ValueError from a settings blob that is not what the codec wrote
            raise ModelError(f"file {file}: codec '{label}' ({info['codec']}) cannot be set up: "
                             f"{one_line(err)}") from err
        out[label] = (codec, info.get("collection", getattr(codec, "collection", label)),
                      dict(info.get("prefixes") or {}))
    # blobs of an encoder label whose products were written but whose declaration is gone: undecodable
    labels = {k.split("/", 1)[0] for k in blobs if "/" in k}
    for p in provenance.get("products", []):
        if p.get("label") in labels and p.get("label") not in codecs:
            raise DataError(f"file {file}: products '{p.get('prefix')}' of encoder '{p.get('label')}' are in the "
                            "file but the provenance declares no codec for them; the file is damaged")
    return out


def codecs_from_file(path, *, options: RunOptions | None = None) -> dict:
    """{label: (codec, collection, {instance: branch prefix})} of a hepvq output file (run-time options as
    codecs_from_blobs)."""
    prov, blobs = read_metadata(str(path))
    return codecs_from_blobs(prov, blobs, str(path), options=options)


def products_of(arrays, prefixes: dict[str, str], all_prefixes=()) -> dict[str, ak.Array]:
    """{instance: product} from raw branch arrays (dict or record ak.Array of branch name -> array).

    ``prefixes`` is {instance: branch prefix}; branches ``<prefix>_<field>`` become the fields of the
    product (zipped per event), a branch named ``<prefix>`` is the product itself. ``all_prefixes`` lists
    the other prefixes of the file so that ``enc_corrections_x`` is not taken as field of ``enc``."""
    names = list(arrays.fields) if isinstance(arrays, ak.Array) else list(arrays)
    known = set(prefixes.values()) | set(all_prefixes)
    counters = {f"n{p}" for p in known}
    groups = group_branches([n for n in names if n not in ID_BRANCHES and n not in counters], {}, known)
    out = {}
    for instance, prefix in prefixes.items():
        if prefix not in groups:
            raise InputError(f"no branches for product prefix '{prefix}'")
        out[instance] = zip_fields({f: arrays[b] for f, b in groups[prefix].items()})
    return out


class CompressedReader:
    """A hepvq output file opened for analysis; see hepvq.open."""

    def __init__(self, path, *, tree: str = "Events", decode: bool = True, threads: int | None = None,
                 providers=None, batch_size: int | None = None):
        self.path = str(path)
        self.tree_name = tree
        self.options = RunOptions.build(providers, threads, batch_size)  # checked before the file is opened
        self.threads = self.options.threads
        self._file, self._tree = open_root(self.path, tree)
        try:
            self.provenance, self.blobs = read_metadata(self._file)
            self.cfg = str(self._file[CFG_KEY]) if CFG_KEY in self._file.keys(cycle=False) else ""
            self.codecs = (codecs_from_blobs(self.provenance, self.blobs, self.path, options=self.options)
                           if decode else {})
            self._plan()
        except Exception:
            self._file.close()
            raise

    def _plan(self):
        branches = {b.name: b for b in self._tree.branches}
        counter_of = {n: b.count_branch.name for n, b in branches.items()
                      if getattr(b, "count_branch", None) is not None}
        counter_names = set(counter_of.values())
        known = [p["prefix"] for p in self.provenance.get("products", [])]
        names = [n for n in branches if n not in ID_BRANCHES and n not in counter_names]
        self._groups = group_branches(names, counter_of, known)
        self._ids = [k for k in ID_BRANCHES if k in branches]
        codec_prefixes = {p for (_c, _coll, prefixes) in self.codecs.values() for p in prefixes.values()}
        for label, (_c, _coll, prefixes) in self.codecs.items():
            lacking = [p for p in prefixes.values() if p not in self._groups]
            if lacking:
                raise InputError(f"codec '{label}' needs branches '{lacking[0]}*' that the file lacks",
                                 file=self.path, tree=self.tree_name)
        decoded = {coll for (_c, coll, _p) in self.codecs.values()}
        self._plain = [p for p in self._groups if p not in codec_prefixes and p not in decoded]
        needed = codec_prefixes | set(self._plain)
        self._branches = sorted(set(self._ids) | {b for p in needed for b in self._groups[p].values()})

    @property
    def num_entries(self) -> int:
        return int(self._tree.num_entries)

    @property
    def collections(self) -> list[str]:
        return [coll for (_c, coll, _p) in self.codecs.values()] + list(self._plain)

    def keys(self):
        return list(self._ids) + self.collections

    def _build(self, arrays, first_entry: int = 0) -> ak.Array:
        fields = {k: arrays[k] for k in self._ids}
        for p in self._plain:
            fields[p] = zip_fields({f: arrays[b] for f, b in self._groups[p].items()})
        for label, (codec, coll, prefixes) in self.codecs.items():
            products = {inst: zip_fields({f: arrays[b] for f, b in self._groups[p].items()})
                        for inst, p in prefixes.items()}
            fields[coll] = decode_checked(codec, products, file=self.path, label=label, first_entry=first_entry)
        return ak.zip(fields, depth_limit=1)

    def arrays(self, entry_start=None, entry_stop=None) -> ak.Array:
        """Every event in [entry_start, entry_stop), decoded: ids + one field per collection."""
        try:
            arrays = self._tree.arrays(self._branches, entry_start=entry_start, entry_stop=entry_stop,
                                       how=dict, library="ak")
        except Exception as err:
            raise InputError(f"cannot read entries: {one_line(err)}", file=self.path, tree=self.tree_name) from err
        return self._build(arrays, int(entry_start or 0))

    def iterate(self, step_size=100_000, entry_start=None, entry_stop=None):
        """Yield decoded chunks of ``step_size`` entries (or a memory size like "100 MB")."""
        it = self._tree.iterate(self._branches, step_size=step_size, entry_start=entry_start,
                                entry_stop=entry_stop, how=dict, library="ak", report=True)
        while True:
            try:
                arrays, report = next(it)
            except StopIteration:
                return
            except Exception as err:
                raise InputError(f"cannot read entries: {one_line(err)}", file=self.path,
                                 tree=self.tree_name) from err
            yield self._build(arrays, report.tree_entry_start)

    def indices(self, entry_start=None, entry_stop=None, label: str | None = None) -> ak.Array:
        """The decoded per-patch symbols of a codec that has them (pixel_vq, format 1 and 2: detId, anchor
        row/col, shape, mask, charge, charge_adc, code), per event; checksums verified as for arrays().
        label: the encoder's label, needed only when the file holds several such codecs."""
        from hepvq.codecs.guard import verify_checksum

        have = {lab: v for lab, v in self.codecs.items() if hasattr(v[0], "indices")}
        if label is not None and label not in have:
            raise InputError(f"no codec with readable indices under label '{label}' (have: {', '.join(have) or 'none'})",
                             file=self.path, tree=self.tree_name)
        if label is None:
            if len(have) != 1:
                raise InputError(f"indices(): {len(have)} codecs with indices ({', '.join(have) or 'none'}); name "
                                 "one with label=", file=self.path, tree=self.tree_name)
            label = next(iter(have))
        codec, _coll, prefixes = have[label]
        names = sorted({b for p in prefixes.values() for b in self._groups[p].values()})
        try:
            arrays = self._tree.arrays(names, entry_start=entry_start, entry_stop=entry_stop, how=dict, library="ak")
        except Exception as err:
            raise InputError(f"cannot read entries: {one_line(err)}", file=self.path, tree=self.tree_name) from err
        products = {inst: zip_fields({f: arrays[b] for f, b in self._groups[p].items()}) for inst, p in prefixes.items()}
        first = int(entry_start or 0)
        products = verify_checksum(products, file=self.path, label=label, first_entry=first)
        try:
            return codec.indices(products)
        except DataError as err:
            raise DataError(f"file {self.path}: '{label}' ({codec.name}), entries from {first}: {err}") from err

    def close(self):
        self._file.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __len__(self):
        return self.num_entries

    def __repr__(self):
        return f"<hepvq reader {self.path}: {self.num_entries} events, collections {', '.join(self.collections)}>"


def open_compressed(path, **kwargs) -> CompressedReader:
    """hepvq.open: a CompressedReader (``.arrays()``, ``.iterate(step_size)``, ``.num_entries``,
    ``.provenance``, ``.cfg``, ``.codecs``). Keyword options: ``tree``, ``threads`` (of the compiled decode
    loops; default one per core, at most 8), ``providers`` (onnxruntime, for codecs that run ONNX graphs: a list
    of names or ["auto"]; an unknown name is refused), ``batch_size`` (rows per onnxruntime run)."""
    return CompressedReader(path, **kwargs)


__all__ = ["open_compressed", "CompressedReader", "codecs_from_file", "codecs_from_blobs", "products_of"]
