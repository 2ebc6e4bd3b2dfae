"""hepvq-run: run a cfg file, the way cmsRun does.

    hepvq-run CFG [key=value ...] [--dump] [--list-modules] [--describe TYPE] [-j N] [--no-progress] [-v]

Keys (VarParsing-style): inputFiles=a.root,b.root (-> source.fileNames), outputFile=x.root (-> the output
module's fileName), maxEvents=N, skipEvents=N, and label.param=value for any module parameter
(parsed by the parameter's declared type). Exit code 0 only on success; a HepvqError prints one line
``hepvq-run: error: ...`` (the traceback with -v) and exits 1."""
from __future__ import annotations

import argparse
import gc
import json
import logging
import os
import sys
import traceback

from hepvq.errors import HepvqError, ParameterError, did_you_mean

SPECIAL_KEYS = ("inputFiles", "outputFile", "maxEvents", "skipEvents")
_KIND_TITLES = {"source": "Sources", "producer": "Producers", "filter": "Filters", "analyzer": "Analyzers",
                "output": "Output modules"}


def build_parser() -> argparse.ArgumentParser:
    from hepvq.cli import _common

    p = argparse.ArgumentParser(
        prog="hepvq-run",
        description="Run a hepvq cfg file (python_cfg/*_cfg.py), like cmsRun.",
        epilog="keys: inputFiles=a.root,b.root  outputFile=x.root  maxEvents=N  skipEvents=N  label.param=value",
        formatter_class=_common.HelpFormatter)
    _common.add_version(p)
    p.add_argument("cfg", nargs="?", help="the cfg file (defines `process`)")
    p.add_argument("overrides", nargs="*", metavar="key=value", help="command-line settings, applied in order")
    p.add_argument("--dump", action="store_true", help="print the final configuration (dumpPython) and exit")
    p.add_argument("--list-modules", action="store_true", help="print the registered module types and exit")
    p.add_argument("--describe", metavar="TYPE", help="print the parameters of a module type and exit")
    p.add_argument("-j", "--threads", type=int, metavar="N", help="threads (onnxruntime intra-op)")
    p.add_argument("--no-progress", action="store_true",
                   help="no progress bar (events, rate, ETA; shown only when stderr is a terminal)")
    p.add_argument("--report-json", metavar="FILE", help="also write the TimeReport as JSON to FILE")
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging and tracebacks")
    return p


def _set_param(process, holder, name, text, factory, label):
    """Set holder.name from text (parsed by its declared type) when it exists, else add factory(text)."""
    import hepvq.config as cms

    if name in holder.parameterNames_():
        cms.apply_override(process, f"{label}.{name}", text)
    else:
        setattr(holder, name, factory(text))


def apply_overrides(process, overrides) -> None:
    """Apply key=value settings to a Process (see module docstring)."""
    for item in overrides:
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ParameterError(f"command-line setting '{item}': expected key=value")
        try:
            _apply_one(process, key, text)
        except ParameterError as err:
            if key.split(".")[-1] in str(err):
                raise
            raise ParameterError(f"command-line setting '{item}': {err}") from None


def _apply_one(process, key, text):
    import hepvq.config as cms

    if key == "inputFiles":
        if process.source is None:
            raise ParameterError("inputFiles=: the process has no source")
        files = [f.strip() for f in text.split(",") if f.strip()]
        if not files:
            raise ParameterError("inputFiles=: no file given")
        _set_param(process, process.source, "fileNames", ",".join(files),
                   lambda t: cms.untracked.vstring(*files), "source")
    elif key == "outputFile":
        outs = process.outputModules_()
        if not outs:
            raise ParameterError("outputFile=: the process has no output module")
        if len(outs) > 1:
            raise ParameterError(f"outputFile=: the process has {len(outs)} output modules "
                                 f"({', '.join(outs)}); set <label>.fileName=... instead")
        label = next(iter(outs))
        _set_param(process, outs[label], "fileName", text, lambda t: cms.untracked.string(t), label)
    elif key == "maxEvents":
        cms.apply_override(process, "maxEvents.input", text)
    elif key == "skipEvents":
        if process.source is None:
            raise ParameterError("skipEvents=: the process has no source")
        try:
            n = int(text)
        except ValueError:
            raise ParameterError(f"skipEvents=: expects an unsigned integer, got {text!r}") from None
        _set_param(process, process.source, "skipEvents", text, lambda t: cms.untracked.uint32(n), "source")
    elif "." in key:
        _declare_default(process, key)
        cms.apply_override(process, key, text)
    else:
        raise ParameterError(f"unknown command-line key '{key}'{did_you_mean(key, SPECIAL_KEYS)}; expected "
                             f"{', '.join(SPECIAL_KEYS)} or label.param")


def _declare_default(process, key):
    """Make `label.param` settable when the cfg left the parameter at its declared default: add the
    default (typed) from the module type's fillDescriptions, so that apply_override can parse the text."""
    import copy

    label, _, name = key.partition(".")
    if "." in name:
        return
    holder = process.source if label == "source" else process.modules_().get(label)
    if holder is None or name in holder.parameterNames_():
        return
    from hepvq.framework.processor import describe

    try:
        decls = dict(describe(holder.type_()).items())
    except HepvqError:
        return  # unknown type: the run reports it
    decl = decls.get(name)
    if decl is not None and decl.default is not None:
        setattr(holder, name, copy.deepcopy(decl.default))


def list_modules() -> str:
    from hepvq.framework import registered_modules

    groups: dict[str, list] = {}
    for name, cls in registered_modules().items():
        groups.setdefault(getattr(cls, "kind", "module"), []).append((name, cls))
    lines = []
    for kind in list(_KIND_TITLES) + sorted(set(groups) - set(_KIND_TITLES)):
        if kind not in groups:
            continue
        lines.append(f"{_KIND_TITLES.get(kind, kind)}:")
        width = max(len(n) for n, _ in groups[kind])
        for name, cls in groups[kind]:
            lines.append(f"  {name:<{width}}  {cls.describe_line()}")
    return "\n".join(lines)


def describe_module(type_name: str) -> str:
    from hepvq.framework.processor import describe
    from hepvq.framework.registry import module_class

    cls = module_class(type_name)
    desc = describe(type_name)
    doc = (cls.__doc__ or "").strip()
    head = f"{type_name} ({cls.kind})" + (f"\n\n{doc}\n" if doc else "\n")
    return head + "\n" + desc.describe_text()


class _StderrHandler(logging.Handler):
    """Writes to the sys.stderr of the moment (so that redirection after start-up is honoured)."""

    def emit(self, record):
        try:
            sys.stderr.write(self.format(record) + "\n")
        except Exception:  # logging must never raise
            self.handleError(record)


def _setup_logging(verbose: bool):
    logger = logging.getLogger("hepvq")
    if not any(isinstance(h, _StderrHandler) for h in logger.handlers):
        h = _StderrHandler()
        logger.addHandler(h)
    for h in logger.handlers:
        if isinstance(h, _StderrHandler):
            h.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s" if verbose else "%(message)s"))
    logger.setLevel(logging.DEBUG if verbose else logging.INFO)


def run(argv=None, gc_enabled: bool | None = None) -> dict | None:
    """The command without the exit-code handling (raises HepvqError); returns the TimeReport dict. gc_enabled
    (from main, which disables collections for the imports and the setup): the setup's objects frozen and
    collections enabled again (True) or not (False) for the event loop; None leaves the collector alone."""
    parser = build_parser()
    args = parser.parse_intermixed_args(argv)
    _setup_logging(args.verbose)
    if args.list_modules:
        print(list_modules())
        return None
    if args.describe:
        print(describe_module(args.describe))
        return None
    if not args.cfg:
        parser.error("a cfg file is needed (or --list-modules / --describe TYPE)")
    if "=" in args.cfg and not args.cfg.endswith(".py"):
        parser.error(f"the first argument must be the cfg file, got '{args.cfg}'")
    import hepvq.config as cms
    from hepvq.framework.processor import EventProcessor

    process = cms.load_cfg(args.cfg)
    apply_overrides(process, args.overrides)
    if args.threads is not None:
        if args.threads < 0:
            raise ParameterError(f"-j: expects a non-negative number of threads, got {args.threads}")
        cms.apply_override(process, "options.numberOfThreads", str(args.threads))
    if args.dump:
        sys.stdout.write(process.dumpPython())
        return None
    progress = not args.no_progress and sys.stderr.isatty()
    processor = EventProcessor(process, threads=args.threads, progress=progress)
    if args.report_json:
        from hepvq.framework.outputs import check_side_file

        check_side_file(args.report_json, "--report-json", processor.source, processor.outputs)
    # the setup's objects (modules, config, tables) out of the event loop's collections (~50k objects: a full
    # collection of them costs ~20 ms of the 40-event job's CPU; main unfreezes them at the end)
    if gc_enabled is not None:
        gc.freeze()
        if gc_enabled:
            gc.enable()
    report = processor.run()
    if args.report_json:
        with open(args.report_json, "w") as fh:
            json.dump(report, fh, indent=1, default=str)
    return report


def main(argv=None) -> int:
    verbose = "-v" in (argv if argv is not None else sys.argv[1:]) or "--verbose" in (argv or sys.argv[1:])
    # before numpy's import (hepvq.framework imports it): its OpenBLAS starts a thread per core that spins ~50 ms of
    # CPU right after, for a job whose numpy work is element-wise (the heavy loops are the compiled core's,
    # threaded by -j); a value the user set is kept
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    gc_enabled = gc.isenabled()
    gc.disable()  # until the event loop (run): collections of the imports' and setup's objects find next to nothing
    from hepvq.framework.signals import Terminated, terminate_on_signals
    from hepvq.runtime.memory import keep_freed_pages

    keep_freed_pages()  # this process is the job's: chunk-sized arrays reuse heap pages (hepvq/runtime/memory.py)

    try:
        with terminate_on_signals():  # SIGTERM / SIGHUP: outputs removed like on Ctrl-C
            run(argv, gc_enabled)
    except Terminated as sig:
        print(f"hepvq-run: {sig}", file=sys.stderr)
        return 128 + sig.signum
    except HepvqError as err:
        if verbose:
            traceback.print_exc()
        msg = " ".join(str(err).split())
        print(f"hepvq-run: error: {msg}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("hepvq-run: interrupted", file=sys.stderr)
        return 130
    finally:
        gc.unfreeze()
        if gc_enabled:
            gc.enable()
    return 0


if __name__ == "__main__":
    sys.exit(main())
