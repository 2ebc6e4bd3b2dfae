"""EventProcessor: builds the modules of a hepvq.config Process and runs them over chunks of events.

Order of a job (CMSSW's, columnar):
1. every module's parameters are checked against its ``fillDescriptions`` (ParameterError names module
   label, type, parameter, expected and found type), then every module is constructed; no file is opened;
2. ``beginJob``: the source first (opens and checks every input file), then producers/filters/analyzers,
   then output modules (create their temporary files);
3. for each chunk: the Paths in schedule order (each module runs at most once per chunk; a filter's
   per-event decision is ANDed into its path's decision; modules after a filter still see the whole chunk),
   then the EndPaths (analyzers, and output modules with the events selected by ``SelectEvents``,
   an OR of the listed paths; all events when empty). Producers/filters on no path run on demand when a
   later module asks for their product (CMSSW's unscheduled Tasks);
4. ``endJob`` of every module (output modules last: they complete their temporary files), then every
   output commits (renamed to its final name) only when all of them completed (hepvq.framework.outputs);
   on any error, including SIGINT and (in hepvq-run) SIGTERM / SIGHUP, every output module's ``abort()``
   deletes its temporary file.

A job that reads no event still runs one 0-event chunk (``Source.empty_chunk``) through the paths, so its
outputs have the same branches and codec declarations as any other. Outputs that are an input file, or two
outputs with the same file, are refused while building, before any file is opened.
"""
from __future__ import annotations

import logging
import sys
import time

import numpy as np

from hepvq.errors import ConfigError, HepvqError, ParameterError, ProductNotFound, did_you_mean
from hepvq.framework.context import JobContext
from hepvq.framework.module import EDAnalyzer, EDFilter, EDProducer, OutputModule, Source
from hepvq.framework.outputs import check_output_names, commit_all
from hepvq.framework.registry import module_class
from hepvq.framework.report import TimeReport

log = logging.getLogger("hepvq.framework")
report_log = logging.getLogger("hepvq.report")

_CFG_KIND = {"Source": Source, "EDProducer": EDProducer, "EDFilter": EDFilter, "EDAnalyzer": EDAnalyzer,
             "OutputModule": OutputModule}


class ModuleFailed(HepvqError):
    """A module raised an unexpected exception; names the module, its type and the entries."""


def describe(type_name: str):
    """The ParameterSetDescription of a registered module type (what --describe prints)."""
    import hepvq.config as cms

    cls = module_class(type_name)
    desc = cms.ParameterSetDescription()
    cls.fillDescriptions(desc)
    return desc


def validate_module(cfg, label: str):
    """(class, Params) of a module cfg: looked up by type and checked against its fillDescriptions."""
    import hepvq.config as cms

    type_name = cfg.type_()
    cls = module_class(type_name)
    cfg_kind = next((name for name, base in _CFG_KIND.items() if type(cfg).__name__ == name), None)
    want = _CFG_KIND.get(cfg_kind)
    if want is not None and not issubclass(cls, want):
        raise ConfigError(f"module '{label}': type '{type_name}' is a {cls.kind}, but the cfg declares it with "
                          f"cms.{cfg_kind}")
    desc = cms.ParameterSetDescription()
    cls.fillDescriptions(desc)
    return cls, desc.validate(cfg, label=label, module_type=type_name)


class _PathPlan:
    def __init__(self, name: str, labels: list[str], end: bool):
        self.name, self.labels, self.end = name, labels, end


class EventProcessor:
    """Runs a Process. ``EventProcessor(process).run() -> TimeReport dict``.

    ``threads`` overrides options.numberOfThreads; ``progress`` shows a tqdm bar on stderr."""

    def __init__(self, process, *, threads: int | None = None, progress: bool = False):
        self.process = process
        options = dict(process.options_())
        if threads:
            options["numberOfThreads"] = int(threads)
        self.max_events = int(process.maxEvents_())
        size = options.get("chunkSize")
        self.chunk_size = 1000 if size is None else int(size)
        if self.chunk_size <= 0:
            raise ParameterError(f"must be a positive number of events, got {size}", parameter="options.chunkSize")
        self.progress = progress
        self.context = JobContext(options, cfg_dump=process.dumpPython(), process_name=process.name_())
        self.report = TimeReport()
        self._build()

    # -- building (no file is touched here)
    def _build(self):
        process = self.process
        if process.source is None:
            raise ConfigError("the process has no source (process.source = cms.Source('RootSource', ...))")
        cfgs = {"source": process.source}
        cfgs.update(process.modules_())
        checked = {label: validate_module(cfg, label) for label, cfg in cfgs.items()}
        self.modules = {}
        for label, (cls, params) in checked.items():
            self.modules[label] = cls(label, params, self.context)
            self.report.add_module(label, cfgs[label].type_(), cls.kind)
        self.source = self.modules.pop("source")

        import hepvq.config as cms

        paths, endpaths = [], []
        for p in process.scheduledPaths_():
            plan = _PathPlan(p.label_(), p.moduleNames(), isinstance(p, cms.EndPath))
            for label in plan.labels:
                mod = self.modules[label]
                if not plan.end and isinstance(mod, OutputModule):
                    raise ConfigError(f"Path '{plan.name}': output module '{label}' belongs on an EndPath")
            (endpaths if plan.end else paths).append(plan)
        self.paths, self.endpaths = paths, endpaths
        scheduled = {label for p in paths + endpaths for label in p.labels}
        self.outputs = [m for m in self.modules.values() if isinstance(m, OutputModule)]
        unscheduled_out = [m for m in self.outputs if m.label not in scheduled]
        if unscheduled_out and not endpaths:
            # no EndPath at all: every output module writes (a convenience for small cfgs)
            self.endpaths.append(_PathPlan("@outputs", [m.label for m in unscheduled_out], True))
        elif unscheduled_out:
            log.warning("output module(s) %s are on no EndPath and will not write",
                        ", ".join(m.label for m in unscheduled_out))
            self.outputs = [m for m in self.outputs if m.label in scheduled]
        self.on_demand = {label: m for label, m in self.modules.items()
                          if label not in scheduled and isinstance(m, (EDProducer, EDFilter))}
        path_names = [p.name for p in self.paths]
        for out in self.outputs:
            for name in out.select_paths:
                if name not in path_names:
                    raise ConfigError(f"output module '{out.label}': SelectEvents names path '{name}' that is not "
                                      f"scheduled{did_you_mean(name, path_names)}; paths: "
                                      f"{', '.join(path_names) or 'none'}")
        self.active = [m for m in self.modules.values()
                       if m.label in scheduled or m.label in self.on_demand or m in self.outputs]
        check_output_names(self.source, self.outputs)

    # -- running
    def _call(self, mod, chunk):
        ran = chunk._ran
        if mod.label in ran:
            return ran[mod.label]
        ran[mod.label] = None  # guards against cycles through on-demand modules
        t0 = time.perf_counter()
        previous = chunk._current_label
        chunk._current_label = None if isinstance(mod, (EDAnalyzer, OutputModule)) else mod.label
        try:
            if isinstance(mod, EDFilter):
                result = mod.filter(chunk)
                result = np.ones(chunk.n, bool) if result is None else np.asarray(result, dtype=bool)
                if result.shape != (chunk.n,):
                    raise HepvqError(f"filter '{mod.label}' returned {result.shape} decisions for {chunk.n} events")
            elif isinstance(mod, EDProducer):
                mod.produce(chunk)
                result = None
            elif isinstance(mod, EDAnalyzer):
                mod.analyze(chunk)
                result = None
            else:
                raise ConfigError(f"module '{mod.label}' ({type(mod).__name__}) cannot run on a path")
        except ProductNotFound as err:
            raise ProductNotFound(f"module '{mod.label}' ({getattr(mod, 'type_name', type(mod).__name__)}): "
                                  f"{err}") from None
        except HepvqError:
            raise
        except Exception as err:
            raise ModuleFailed(f"module '{mod.label}' ({getattr(mod, 'type_name', type(mod).__name__)}) failed on "
                               f"entries {chunk.entry_start}-{chunk.entry_stop}: {type(err).__name__}: {err}") from err
        finally:
            chunk._current_label = previous
        self.report.add_time(mod.label, time.perf_counter() - t0, chunk.n)
        ran[mod.label] = result
        self._advance_bar(chunk.n, mod.label)
        return result

    def _advance_bar(self, n, label):
        """Move the bar by this module's share of the chunk's events, so that it moves within a chunk (a
        10-event file in one chunk does not sit at 0/10 until the end)."""
        bar = getattr(self, "_bar", None)
        if bar is not None:
            bar.update(max(0.0, min(n * self._bar_share, self._bar_ceiling - bar.n)))
            bar.set_postfix_str(label, refresh=False)

    def _demand(self, label, chunk):
        mod = self.on_demand.get(label)
        if mod is not None and label not in chunk._ran:
            self._call(mod, chunk)

    def _write(self, out, chunk, passed):
        for label in self.on_demand:  # unscheduled producers whose products this output keeps
            if out.wants_label(label):
                self._demand(label, chunk)
        names = out.select_paths
        if names:
            mask = np.zeros(chunk.n, bool)
            for n in names:
                mask |= passed[n]
            sub = chunk.select(mask)
        else:
            sub = chunk
        t0 = time.perf_counter()
        try:
            out.write(sub)
        except HepvqError:
            raise
        except Exception as err:
            raise ModuleFailed(f"output module '{out.label}' failed on entries {chunk.entry_start}-"
                               f"{chunk.entry_stop}: {type(err).__name__}: {err}") from err
        self.report.add_time(out.label, time.perf_counter() - t0, chunk.n)
        self.report.events_written[out.label] = self.report.events_written.get(out.label, 0) + sub.n

    def _process_chunk(self, chunk):
        chunk._ran = {}
        chunk._on_demand = self._demand
        passed = {}
        for path in self.paths:
            mask = np.ones(chunk.n, bool)
            for label in path.labels:
                result = self._call(self.modules[label], chunk)
                if result is not None:
                    mask &= result
            passed[path.name] = mask
            self.report.path_passed[path.name] = self.report.path_passed.get(path.name, 0) + int(mask.sum())
        for path in self.endpaths:
            for label in path.labels:
                mod = self.modules[label]
                if isinstance(mod, OutputModule):
                    if mod in self.outputs:
                        self._write(mod, chunk, passed)
                else:
                    self._call(mod, chunk)

    def _timed_chunks(self):
        it = iter(self.source.chunks(self.chunk_size, self.max_events))
        while True:
            t0 = time.perf_counter()
            try:
                chunk = next(it)
            except StopIteration:
                return
            self.report.add_time(self.source.label, time.perf_counter() - t0, chunk.n)
            yield chunk

    def run(self) -> dict:
        """Run the job; returns the TimeReport as a dict (also logged on hepvq.report).

        options.numberOfThreads (``-j``) also sets the threads of the codecs' compiled loops for the job."""
        from hepvq.codecs.options import job_threads

        with job_threads(self.context.threads or None):
            return self._run()

    def _run(self) -> dict:
        report = self.report
        begun = []
        try:
            for mod in [self.source] + [m for m in self.active if not isinstance(m, OutputModule)] + self.outputs:
                mod.beginJob()
                begun.append(mod)
            report.input_bytes = int(getattr(self.source, "input_bytes", 0) or 0)
            report.read_what = str(getattr(self.source, "read_what", "") or "")
            total = self.source.num_events
            if total is not None and self.max_events >= 0:
                total = min(total, self.max_events)
            for out in self.outputs:
                report.events_written.setdefault(out.label, 0)
            bar = self._bar = _progress(total, self.progress)
            self._bar_share = 1.0 / (1 + len(self.active))  # the source and each module: an equal share
            chunks = 0
            try:
                for chunk in self._timed_chunks():
                    chunks += 1
                    report.events_read += chunk.n
                    self._bar_ceiling = report.events_read
                    self._advance_bar(chunk.n, self.source.label)
                    self._process_chunk(chunk)
                    if bar is not None:
                        bar.update(report.events_read - bar.n)  # whole events once the chunk is done
            finally:
                self._bar = None
                if bar is not None:
                    bar.close()
            if not chunks:  # no event: the schema of the outputs still comes from a (0-event) chunk
                empty = self.source.empty_chunk()
                if empty is not None:
                    self._process_chunk(empty)
            for mod in [m for m in begun if m is not self.source and not isinstance(m, OutputModule)] + [self.source]:
                mod.endJob()
            for out in self.outputs:
                t0 = time.perf_counter()
                out.endJob()
                report.modules[out.label]["time"] += time.perf_counter() - t0
                report.output_bytes[out.label] = int(out.output_bytes)
                tree_bytes = getattr(out, "tree_bytes", None)
                if tree_bytes is not None:
                    report.written_bytes[out.label] = int(tree_bytes)
            commit_all(self.outputs)
        except BaseException:
            try:
                self.source.close()
            except Exception as err:  # keep the original error
                log.warning("source: cleanup failed: %s", err)
            for out in self.outputs:
                try:
                    out.abort()
                except Exception as err:  # keep the original error
                    log.warning("output module %s: cleanup failed: %s", out.label, err)
            raise
        read = getattr(self.source, "read_bytes", None)
        report.read_bytes = None if read is None else int(read)
        report.extra.update(self.context.reports)
        report.finish()
        if self.context.options.get("wantSummary", True):
            report_log.info("%s", report.format())
        return report.as_dict()


def _progress(total, enabled):
    if not enabled:
        return None
    try:
        from tqdm import tqdm
    except ImportError:  # tqdm is a dependency, but the bar is only a nicety
        return None
    # counts events (fractions while a chunk runs, printed rounded), with rate and ETA
    return tqdm(total=total, unit="evt", file=sys.stderr, dynamic_ncols=True, leave=False,
                bar_format="{l_bar}{bar}| {n:.0f}/{total_fmt} [{elapsed}<{remaining}, {rate_fmt}{postfix}]")


def run_process(process, **kwargs) -> dict:
    """EventProcessor(process, **kwargs).run()."""
    return EventProcessor(process, **kwargs).run()
