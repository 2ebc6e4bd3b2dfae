"""RootOutputModule: writes the selected events and their kept products to a ROOT file with uproot.

TTree ``Events`` via ``mktree``/``extend`` (uproot >= 5.7 writes an RNTuple for ``file[name] = dict``, so
the tree is made explicitly). Chunks are buffered so that each ``extend`` (one basket per branch) carries at
least ``minBasketBytes`` per branch, or ``maxBufferBytes`` in all. The file is written under
``<fileName>.tmp-<pid>`` under the lock ``<fileName>.lock`` (hepvq.io.lock: one writer per final name);
``endJob`` completes it, ``commit`` renames it once every output of the job is complete
(hepvq.framework.outputs), ``abort()`` deletes it. An output path that is a directory, or in a missing or
unwritable directory, is refused when the module is built, before any input is read."""
from __future__ import annotations

import logging
import os

import awkward as ak
import numpy as np

from hepvq.errors import DataError, HepvqError, ParameterError
from hepvq.framework.module import OutputModule
from hepvq.io.layout import (ID_BRANCHES, ID_DTYPES, as_dict, is_kept, parse_output_commands,  # noqa: F401
                             product_kind, product_prefix)
from hepvq.io.lock import OutputLock
from hepvq.io.metadata import codecs_for_output, conflict_error, make_provenance, write_metadata

log = logging.getLogger("hepvq.io")

#: compression algorithm -> (uproot class, allowed levels)
COMPRESSION = {"ZSTD": ("ZSTD", range(1, 23)), "LZMA": ("LZMA", range(1, 10)), "ZLIB": ("ZLIB", range(1, 10)),
               "LZ4": ("LZ4", range(1, 13)), "NONE": (None, range(0, 100))}
#: Default ZSTD level. Issue 2 measured, on 50 M raw hits: ZSTD(1) 142 MB/s 1.77x, ZSTD(5) 29 MB/s 1.92x;
#: on data/pixel_pu200_sample.root (10 events) level 5 writes 12% fewer bytes than level 1 at 2.5x the output
#: module time. hepvq's own outputs are the compressed products, ~10x smaller than the raw hits, so level 5
#: costs little there next to the encoders while bytes on disk are the figure of merit: 5 is the default.
#: Jobs that move raw hits (copy_cfg.py) set compressionLevel = 1 for throughput.
DEFAULT_COMPRESSION_LEVEL = 5

class RootOutputModule(OutputModule):
    """Writes events (ids + kept products) to a ROOT TTree, with hepvq provenance and the cfg."""

    @classmethod
    def fillDescriptions(cls, desc):  # noqa: N802
        import hepvq.config as cms

        desc.addRequired("fileName", cms.untracked.string, "output ROOT file")
        desc.add("outputCommands", cms.untracked.vstring("keep *"),
                 "'keep <pattern>' / 'drop <pattern>' on product branch prefixes, in order, last match wins")
        desc.add("compressionAlgorithm", cms.untracked.string("ZSTD"), "ZSTD, LZMA, ZLIB, LZ4 or none")
        desc.add("compressionLevel", cms.untracked.int32(DEFAULT_COMPRESSION_LEVEL),
                 "compression level (ZSTD 5: ~8-12% fewer bytes than ZSTD 1, ~2.5-5x slower; raw-hit copies use 1)")
        free = cms.ParameterSetDescription()
        free.setAllowAnything()
        desc.addUntracked("branchAliases", free, "label = cms.untracked.string('newPrefix'): renames branches")
        desc.add("SelectEvents", cms.untracked.vstring(), "write only events accepted by one of these paths")
        desc.add("treeFormat", cms.untracked.string("TTree"),
                 "TTree (default) or RNTuple (refused when a codec's products are kept: the readers read TTrees)")
        desc.add("treeName", cms.untracked.string("Events"), "name of the events tree")
        desc.add("minBasketBytes", cms.untracked.int32(100_000),
                 "buffer chunks until each branch holds this many bytes (or maxBufferBytes in all)")
        desc.add("maxBufferBytes", cms.untracked.int64(64_000_000), "upper bound of the buffered bytes")

    def __init__(self, label, params, context):
        super().__init__(label, params, context)
        t = getattr(self, "type_name", type(self).__name__)
        self.file_name = str(params.fileName)
        if not self.file_name:
            raise ParameterError("is empty; give outputFile=...", label=label, module_type=t, parameter="fileName")
        self.commands = parse_output_commands(params.outputCommands or [], label, t)
        algo = str(params.compressionAlgorithm).upper()
        if algo not in COMPRESSION:
            raise ParameterError(f"unknown algorithm '{params.compressionAlgorithm}', expected one of "
                                 f"ZSTD, LZMA, ZLIB, LZ4, none", label=label, module_type=t,
                                 parameter="compressionAlgorithm")
        level = int(params.compressionLevel)
        if algo != "NONE" and level not in COMPRESSION[algo][1]:
            r = COMPRESSION[algo][1]
            raise ParameterError(f"level {level} out of range {r.start}..{r.stop - 1} for {algo}", label=label,
                                 module_type=t, parameter="compressionLevel")
        self.algorithm, self.level = algo, level
        self.aliases = {k: str(v) for k, v in as_dict(params.branchAliases).items()}
        fmt = str(params.treeFormat)
        if fmt not in ("TTree", "RNTuple"):
            raise ParameterError(f"unknown treeFormat '{fmt}', expected TTree or RNTuple", label=label,
                                 module_type=t, parameter="treeFormat")
        self.tree_format = fmt
        self.tree_name = str(params.treeName)
        self.min_basket = int(params.minBasketBytes)
        self.max_buffer = int(params.maxBufferBytes)
        self._check_path(t)
        self.tmp_name = f"{self.file_name}.tmp-{os.getpid()}"
        self._lock = OutputLock(self.file_name, f"output module '{label}'")
        self._completed = False
        self.tree_bytes = None  # compressed bytes of the written tree's branches (TTree), for the TimeReport
        self._file = None
        self._tree = None
        self._layout = None  # [(label, instance, prefix, kind)] fixed by the first chunk
        self._types = None
        self._buffer: list[dict] = []
        self._buffered_events = 0
        self._buffered_bytes: dict[str, int] = {}
        self.events_written = 0
        self.output_bytes = 0

    def _check_path(self, module_type):
        """Refuse, at configuration time, an output path that cannot become a file."""
        path = self.file_name
        if os.path.isdir(path):
            raise ParameterError(f"{path} is a directory, not a file name", label=self.label,
                                 module_type=module_type, parameter="fileName")
        d = os.path.dirname(os.path.abspath(path))
        if not os.path.isdir(d):
            raise ParameterError(f"directory {d} of {path} does not exist", label=self.label,
                                 module_type=module_type, parameter="fileName")
        if not os.access(d, os.W_OK | os.X_OK):
            raise ParameterError(f"directory {d} of {path} is not writable", label=self.label,
                                 module_type=module_type, parameter="fileName")

    def _write_error(self, err: OSError) -> HepvqError:
        """One line naming the output file (disk full, quota, I/O error...)."""
        return HepvqError(f"output module '{self.label}': cannot write {self.file_name} (temporary file "
                          f"{self.tmp_name}): {err.strerror or err}")

    def wants_label(self, label: str) -> bool:
        return is_kept(self.commands, label, "") or is_kept(self.commands, label, "*")

    # -- lifecycle
    def beginJob(self):  # noqa: N802
        import uproot

        d = os.path.dirname(os.path.abspath(self.file_name))
        if not os.path.isdir(d):
            raise HepvqError(f"output module '{self.label}': directory {d} of fileName does not exist")
        if self.tree_format == "RNTuple":
            kept = [label for label in self.context.codecs if self.wants_label(label)]
            if kept:  # hepvq.open and RootSource read TTrees only
                raise ParameterError(f"RNTuple cannot hold the products of codec module(s) {', '.join(kept)} "
                                     f"(hepvq.open and decompress_cfg.py read TTrees); use treeFormat TTree",
                                     label=self.label, module_type=getattr(self, "type_name", "RootOutputModule"),
                                     parameter="treeFormat")
        for label, info in self.context.codecs.items():  # input files with different models for one label
            if info.get("conflict") and self.wants_label(label):
                raise conflict_error(label, info, self.label)
        self._lock.acquire()
        comp = None
        if self.algorithm != "NONE":
            comp = getattr(uproot, COMPRESSION[self.algorithm][0])(self.level)
        try:
            self._file = uproot.recreate(self.tmp_name, compression=comp)
        except OSError as err:
            raise HepvqError(f"output module '{self.label}': cannot create {self.tmp_name}: "
                             f"{err.strerror or err}") from err

    def _decide_layout(self, chunk):
        layout, types = [], {k: ID_DTYPES[k] for k in ID_BRANCHES}
        for (label, instance), arr in chunk.products().items():
            if not is_kept(self.commands, label, instance):
                continue
            base = self.aliases.get(label, label)
            prefix = product_prefix(base, instance)
            kind = product_kind(arr)
            if kind not in ("jagged_record", "record", "jagged", "number"):
                raise DataError(f"output module '{self.label}': product '{label}:{instance}' has type "
                                f"{arr.type.content} that a TTree branch cannot hold (numbers, records of numbers, "
                                f"one level of jaggedness; no missing values: use ak.fill_none)")
            if prefix in types or any(p == prefix for *_, p, _k in layout):
                raise HepvqError(f"output module '{self.label}': two products map to branch prefix '{prefix}' "
                                 f"(use branchAliases or outputCommands)")
            layout.append((label, instance, prefix, kind))
            types[prefix] = arr.type.content if kind != "number" else np.dtype(arr.type.content.primitive)
        self._layout, self._types = layout, types
        log.debug("output %s: branches %s", self.label, ", ".join(types))

    def write(self, chunk):
        if self._layout is None:
            self._decide_layout(chunk)
        if chunk.n == 0:
            return
        products = chunk.products()
        data = {k: ak.to_numpy(chunk.ids[k]) for k in ID_BRANCHES}
        for label, instance, prefix, kind in self._layout:
            if (label, instance) not in products:
                raise HepvqError(f"output module '{self.label}': product '{label}:{instance}' missing in entries "
                                 f"{chunk.entry_start}-{chunk.entry_stop} but present before")
            arr = products[(label, instance)]
            data[prefix] = arr
            nb = arr.layout.nbytes
            nbranches = len(arr.fields) if arr.fields else 1
            self._buffered_bytes[prefix] = self._buffered_bytes.get(prefix, 0) + nb // nbranches
        self._buffer.append(data)
        self._buffered_events += chunk.n
        self.events_written += chunk.n
        per_branch = min([self._buffered_events * 4] + list(self._buffered_bytes.values()))
        total = sum(self._buffered_bytes.values()) + self._buffered_events * 16
        if per_branch >= self.min_basket or total >= self.max_buffer:
            self._flush()

    def _flush(self):
        if not self._buffer:
            return
        if len(self._buffer) == 1:
            data = self._buffer[0]
        else:
            data = {}
            for k in self._buffer[0]:
                parts = [b[k] for b in self._buffer]
                data[k] = np.concatenate(parts) if isinstance(parts[0], np.ndarray) else ak.concatenate(parts)
        self._buffer, self._buffered_events, self._buffered_bytes = [], 0, {}
        try:
            self._ensure_tree()
            self._tree.extend(data)
        except OSError as err:
            raise self._write_error(err) from err

    def _ensure_tree(self):
        if self._tree is not None:
            return
        if self._types is None:
            self._layout, self._types = [], {k: ID_DTYPES[k] for k in ID_BRANCHES}
        if self.tree_format == "RNTuple":
            self._tree = self._file.mkrntuple(self.tree_name, self._types)
        else:
            self._tree = self._file.mktree(self.tree_name, self._types)

    def endJob(self):  # noqa: N802
        """Complete the temporary file; the rename waits for ``commit`` (every output complete)."""
        self._flush()
        try:
            self._ensure_tree()
        except OSError as err:
            raise self._write_error(err) from err
        ctx = self.context
        products = [{"label": label, "instance": instance, "prefix": prefix, "kind": kind,
                     "type": str(self._types[prefix])} for label, instance, prefix, kind in self._layout]
        kept = {}
        for lab, inst, prefix, _k in self._layout:
            kept.setdefault(lab, {})[inst] = prefix
        codecs, blobs, not_kept = codecs_for_output(ctx.codecs, ctx.metadata, kept, self.label)
        for label in not_kept:
            log.warning("output %s: products of codec module '%s' are not kept; hepvq.open will not decode "
                        "them", self.label, label)
        prov = make_provenance(process_name=ctx.process_name, products=products, codecs=codecs,
                               blobs=blobs, input_files=list(ctx.input_files),
                               events=self.events_written, tree=self.tree_name, tree_format=self.tree_format,
                               compression=f"{self.algorithm}({self.level})", output_module=self.label)
        try:
            write_metadata(self._file, prov, ctx.cfg_dump, blobs)
            self._file.close()
        except OSError as err:
            raise self._write_error(err) from err
        self._file = None
        self.output_bytes = os.path.getsize(self.tmp_name)
        self.tree_bytes = _tree_bytes(self.tmp_name, self.tree_name) if self.tree_format == "TTree" else None
        self._completed = True

    def prepare_commit(self):
        """Raise unless the completed temporary file exists and the lock is still this job's."""
        if not self._completed or not os.path.exists(self.tmp_name):
            raise HepvqError(f"output module '{self.label}': temporary file {self.tmp_name} is missing; "
                             f"{self.file_name} not written")
        self._lock.verify()

    def commit(self):
        try:
            os.replace(self.tmp_name, self.file_name)
        except OSError as err:
            raise HepvqError(f"output module '{self.label}': cannot rename {self.tmp_name} to {self.file_name}: "
                             f"{err.strerror or err}") from err
        self._lock.release()
        log.info("output %s: wrote %d events to %s (%d bytes)", self.label, self.events_written, self.file_name,
                 self.output_bytes)

    def abort(self):
        if self._file is not None:
            try:
                self._file.close()
            except Exception:  # the file is deleted anyway
                pass
            self._file = None
        if os.path.exists(self.tmp_name):
            os.remove(self.tmp_name)
        self._lock.release()


def _tree_bytes(path: str, tree: str) -> int | None:
    """Compressed bytes on disk of every branch of a TTree (what the TimeReport compares with the input)."""
    import uproot

    try:
        with uproot.open(path) as f:
            return int(sum(b.compressed_bytes for b in f[tree].itervalues(recursive=True)))
    except Exception as err:  # only a report figure: never fail a completed job for it
        log.debug("cannot size the branches of %s in %s: %s", tree, path, err)
        return None


