"""RootSource: reads events from ROOT TTrees with uproot, chunk by chunk.

Both flavours of input are read: NanoAOD-style (a counter ``nX`` + branches ``X_field[nX]``, as uproot
writes them) and ROOT/CMSSW ntuples with ``std::vector<T>`` branches ``X_field``. Branches ``X_field``
are grouped into the collection ``X`` (jagged records) and put under label ``X``, instance "".
Every file is opened and checked (tree, branches, types) in ``beginJob``, before any output exists."""
from __future__ import annotations

import logging
import os

import awkward as ak
import numpy as np

from hepvq.errors import InputError, did_you_mean
from hepvq.framework.chunk import Chunk
from hepvq.framework.module import Source
from hepvq.io.layout import ID_BRANCHES, ID_DTYPES, SCHEMA, as_dict, group_branches, zip_fields
from hepvq.io.casts import checked_cast
from hepvq.io.metadata import declared_codecs, product_prefixes, read_metadata, read_provenance_of  # noqa: F401 (old name)
from hepvq.io.sizes import branch_bytes_read
from hepvq.io.rootfile import REPO_ROOT, branch_dtype, one_line, open_root, resolve_input, typename_of

log = logging.getLogger("hepvq.io")

# old names, kept for callers outside hepvq.io
_one_line, _interp_text, _REPO_ROOT = one_line, typename_of, REPO_ROOT


class FilePlan:
    """What RootSource reads from one file: entries, the branches of each product, casts."""

    def __init__(self, path, num_entries, size, products, ids, branch_names):
        self.path = path
        self.num_entries = num_entries
        self.size = size
        self.products = products  # {(label, instance): {field: (branch, cast dtype or None)}}
        self.ids = ids  # {id name: branch or None}
        self.branch_names = branch_names  # to read
        self.codecs: dict[str, dict] = {}  # codecs the file declares for products read here
        self.blobs: dict[str, bytes] = {}  # their blobs ("<label>/<key>")


class RootSource(Source):
    """Reads ROOT TTrees (counter+array or std::vector branches) into collections of jagged records."""

    @classmethod
    def fillDescriptions(cls, desc):  # noqa: N802
        import hepvq.config as cms

        desc.addRequired("fileNames", cms.untracked.vstring, "input ROOT files, read one after the other")
        desc.add("treeName", cms.untracked.string("Events"), "name of the TTree holding the events")
        desc.add("collections", cms.untracked.vstring(),
                 "collections (branch prefixes) to read; empty: every one found")
        free = cms.ParameterSetDescription()
        free.setAllowAnything()
        desc.addUntracked("branchMap", free,
                          "renames input branches to schema names: inputBranch = cms.untracked.string('PixelDigi_adc')")
        desc.add("skipEvents", cms.untracked.uint32(0), "events to skip at the start of the first file")

    def __init__(self, label, params, context):
        super().__init__(label, params, context)
        self.file_names = [resolve_input(f) for f in (params.fileNames or [])]
        self.tree_name = params.treeName
        self.requested = list(params.collections or [])
        self.branch_map = as_dict(getattr(params, "branchMap", None))
        self.skip = int(params.skipEvents or 0)
        self.plans: list[FilePlan] = []
        self.input_bytes = 0
        self.read_bytes = 0  # compressed bytes of the baskets read (hepvq.io.sizes), for the TimeReport
        self.num_events = None
        self._executor = None

    # -- checks, before any event is read
    def beginJob(self):  # noqa: N802
        if not self.file_names:
            raise InputError(f"RootSource '{self.label}': parameter 'fileNames' is empty; give inputFiles=...")
        self.plans = [self._plan(path) for path in self.file_names]
        self.input_bytes = sum(p.size for p in self.plans)
        total = sum(p.num_entries for p in self.plans)
        self.num_events = max(0, total - self.skip)
        self.context.input_files = list(self.file_names)
        self._carry_codecs()
        colls = sorted({key[0] for p in self.plans for key in p.products})
        self.read_what = ", ".join(colls + ["event ids"])
        threads = int(self.context.options.get("numberOfThreads") or 1)
        if threads > 1:  # zstd/zlib release the GIL: decompress baskets in parallel
            import uproot

            self._executor = uproot.ThreadPoolExecutor(threads)

    def _carry_codecs(self):
        """Codecs of hepvq input files travel on with their products: an output that keeps them (a copy, a skim,
        a merge) stays decodable. Input files that hold different models for one label cannot share one
        output: the declaration says so and an output keeping those products refuses (hepvq.io.metadata)."""
        first: dict[str, tuple] = {}
        for plan in self.plans:
            for label, info in plan.codecs.items():
                own = {k: v for k, v in plan.blobs.items() if k.startswith(label + "/")}
                this = (info.get("codec"), info.get("collection"), own)
                if label not in first:
                    first[label] = (this, plan.path, None)
                elif first[label][0] != this and first[label][2] is None:
                    first[label] = (first[label][0], first[label][1], plan.path)
        for label, ((codec, collection, own), path, other) in first.items():
            if label in self.context.codecs:  # declared by someone else already: not ours to change
                continue
            self.context.declare_codec(label, codec, collection)
            self.context.codecs[label]["carried"] = True
            if other is not None:
                self.context.codecs[label]["conflict"] = f"input files {path} and {other} hold different models for it"
                continue
            for key, blob in own.items():
                self.context.add_metadata(key, blob)

    def endJob(self):  # noqa: N802
        self.close()

    def close(self):
        if self._executor is not None:
            self._executor.shutdown()
            self._executor = None

    def _plan(self, path: str) -> FilePlan:
        f, tree = open_root(path, self.tree_name)
        try:
            return self._plan_tree(path, f, tree)
        finally:
            f.close()

    def _plan_tree(self, path, f, tree) -> FilePlan:
        tname = self.tree_name
        try:
            branches = {b.name: b for b in tree.branches}
        except Exception as err:
            raise InputError(f"cannot read branches: {one_line(err)}", file=path, tree=tname) from err
        # counters: the count branch of a jagged branch (uproot-written files)
        counters, counter_names = {}, set()
        for name, b in branches.items():
            cb = getattr(b, "count_branch", None)
            if cb is not None:
                counters[name] = cb.name
                counter_names.add(cb.name)
        renamed = {}  # schema name -> input branch name
        for name in branches:
            new = self.branch_map.get(name, name)
            renamed[new] = name
        missing_map = [k for k in self.branch_map if k not in branches]
        if missing_map:
            k = missing_map[0]
            raise InputError(f"branchMap names a branch that does not exist{did_you_mean(k, branches)}",
                             file=path, tree=tname, branch=k)
        ids = {k: (renamed[k] if k in renamed else None) for k in ID_BRANCHES}
        for k, b in ids.items():
            if b is None:
                continue
            dt, jagged = branch_dtype(branches[b])
            if dt is None or jagged or dt.kind not in "ui":
                raise InputError(f"event id branch has type {typename_of(branches[b])}, expected an unsigned "
                                 f"integer ({ID_DTYPES[k]})", file=path, tree=tname, branch=b)
        if any(b is None for b in ids.values()):
            log.warning("%s: tree %s lacks %s; numbering events from the entry number", path, tname,
                        ", ".join(k for k, b in ids.items() if b is None))
        prov, blobs = read_metadata(f, verify=True)  # blobs checked against their sha256 before any event is read
        prefix_to_key = product_prefixes(prov)
        known = list(prefix_to_key)
        data_names = [n for n in renamed if n not in ID_BRANCHES and renamed[n] not in counter_names]
        groups = group_branches(data_names, {n: counters.get(renamed[n]) for n in data_names}, known)
        wanted = self.requested or list(groups)
        products = {}
        for prefix in wanted:
            if prefix not in groups:
                raise InputError(f"no branches of collection '{prefix}' (expected {prefix}_<field>)"
                                 f"{did_you_mean(prefix, groups)}; collections: {', '.join(groups) or 'none'}",
                                 file=path, tree=tname, branch=f"{prefix}_*")
            fields = {}
            schema = SCHEMA.get(prefix)
            for field, schema_name in groups[prefix].items():
                b = renamed[schema_name]
                dt, jagged = branch_dtype(branches[b])
                if dt is None:
                    msg = (f"unsupported branch type {typename_of(branches[b])} "
                           "(need numbers or std::vector of numbers)")
                    if self.requested or schema is not None:
                        raise InputError(msg, file=path, tree=tname, branch=b)
                    log.warning("%s: skipping branch %s: %s", path, b, msg)
                    continue
                cast = None
                if schema is not None and field in schema:
                    if dt.kind not in "ui":
                        raise InputError(f"branch has type {typename_of(branches[b])}, expected an integer type "
                                         f"({schema[field]})", file=path, tree=tname, branch=b)
                    cast = schema[field] if dt != schema[field] else None
                fields[field] = (b, cast)
            if schema is not None:
                lacking = [fl for fl in schema if fl not in fields]
                if lacking:
                    want = f"{prefix}_{lacking[0]}"
                    raise InputError(f"missing branch of collection '{prefix}'{did_you_mean(want, branches)}",
                                     file=path, tree=tname, branch=want)
            if fields:
                products[prefix_to_key.get(prefix, (prefix, ""))] = fields
        names = sorted({b for fl in products.values() for b, _ in fl.values()} |
                       {b for b in ids.values() if b is not None})
        plan = FilePlan(path, int(tree.num_entries), os.path.getsize(path), products, ids, names)
        read_labels = {label for label, _inst in products}
        plan.codecs = {lab: info for lab, info in declared_codecs(prov).items() if lab in read_labels}
        plan.blobs = {k: v for k, v in blobs.items() if k.split("/", 1)[0] in plan.codecs}
        return plan

    # -- the event loop
    def chunks(self, chunk_size: int, max_events: int = -1):
        offset = 0  # global entry number of the first entry of the current file
        remaining = max_events if max_events is not None and max_events >= 0 else None
        to_skip = self.skip
        for plan in self.plans:
            lo = min(plan.num_entries, to_skip)
            to_skip -= lo
            hi = plan.num_entries if remaining is None else min(plan.num_entries, lo + remaining)
            if hi > lo:
                yield from self._file_chunks(plan, offset, lo, hi, chunk_size)
                if remaining is not None:
                    remaining -= hi - lo
            offset += plan.num_entries
            if remaining == 0:
                return

    def empty_chunk(self):
        """0 events of the first file, with every collection typed as in a real chunk."""
        if not self.plans:
            return None
        plan = self.plans[0]
        f, tree = open_root(plan.path, self.tree_name)
        try:
            arrays = tree.arrays(plan.branch_names, entry_start=0, entry_stop=0, how=dict, library="ak")
        except Exception as err:
            raise InputError(f"cannot read the branch types: {one_line(err)}", file=plan.path,
                             tree=self.tree_name) from err
        finally:
            f.close()
        return self._make_chunk(plan, arrays, 0, 0)

    def _file_chunks(self, plan: FilePlan, offset: int, lo: int, hi: int, chunk_size: int):
        f, tree = open_root(plan.path, self.tree_name)
        try:
            it = tree.iterate(plan.branch_names, step_size=max(1, int(chunk_size)), entry_start=lo, entry_stop=hi,
                              how=dict, library="ak", report=True,
                              **({"decompression_executor": self._executor} if self._executor else {}))
            expected = lo
            while True:
                try:
                    arrays, report = next(it)
                except StopIteration:
                    break
                except Exception as err:
                    raise InputError(f"cannot read entries: {one_line(err)}", file=plan.path,
                                     tree=self.tree_name) from err
                if report.tree_entry_start != expected:
                    raise InputError(f"entries {expected}-{report.tree_entry_start} were not read", file=plan.path,
                                     tree=self.tree_name)
                expected = report.tree_entry_stop
                yield self._make_chunk(plan, arrays, offset + report.tree_entry_start, offset + expected,
                                       report.tree_entry_start)
            if expected != hi:  # every event accounted for
                raise InputError(f"read entries {lo}-{expected}, expected {lo}-{hi}", file=plan.path,
                                 tree=self.tree_name)
            self.read_bytes += branch_bytes_read(tree, plan.branch_names, lo, hi)
        finally:
            f.close()

    def _make_chunk(self, plan, arrays, start, stop, file_start: int = 0) -> Chunk:
        n = stop - start
        ids = {}
        where = {"file": plan.path, "tree": self.tree_name, "first_entry": file_start}
        for k, b in plan.ids.items():
            if b is None:
                ids[k] = (np.arange(start, stop, dtype=np.uint64) + 1) if k == "event" else np.ones(n, ID_DTYPES[k])
            else:  # every narrowing cast is range-checked: a value that does not fit is an error, not a wrap
                ids[k] = checked_cast(ak.to_numpy(arrays[b]), ID_DTYPES[k], branch=b, **where)
        chunk = Chunk(ak.zip(ids, depth_limit=1), start, stop, source_file=plan.path)
        chunk.file_entry_start = file_start  # entry numbers in the file, for errors of later modules
        for key, fields in plan.products.items():
            cols = {}
            for field, (b, cast) in fields.items():
                arr = arrays[b]
                cols[field] = checked_cast(arr, cast, branch=b, **where) if cast is not None else arr
            try:
                product = zip_fields(cols)
            except Exception as err:
                raise InputError(f"branches of collection '{key[0]}' differ in size per event: {one_line(err)}",
                                 file=plan.path, tree=self.tree_name) from err
            chunk._put(key[0], key[1], product)
        return chunk


_as_dict = as_dict
