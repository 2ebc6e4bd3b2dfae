"""Run-time options of the codecs: how many threads the compiled core's loops use (encode search, decode), which
onnxruntime providers run their graphs and in batches of how many rows.

RunOptions holds the three, checked once: built from ``process.options`` (``numberOfThreads``, ``providers``,
``batchSize``) by the job's context (``context.run_options``) and from ``hepvq.open(path, threads=, providers=,
batch_size=)``; ``apply(codec)`` sets them on a codec that decodes a file.  Threads in detail:

Set once per job from ``process.options.numberOfThreads`` (``hepvq-run -j N``) by the framework, or per
reader by ``hepvq.open(path, threads=N)`` (which sets the ``threads`` attribute of that reader's codecs); a
codec's own ``threads`` attribute wins over the job's setting, which wins over the default (one thread per
core, at most 8).  Results never depend on the number of threads (tests/test_core_threads.py)."""
from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass

from hepvq.errors import ParameterError, did_you_mean

_JOB = {"threads": None}


def default_threads() -> int:
    return min(8, os.cpu_count() or 1)


def check_threads(n, what: str = "threads") -> int | None:
    """n as a positive int (None stays None); a one-line ParameterError otherwise."""
    if n is None:
        return None
    try:
        value = int(n)
    except (TypeError, ValueError):
        value = 0
    if value < 1 or value != n:
        raise ParameterError(f"must be a positive number of threads, got {n!r}", parameter=what)
    return value


def threads(codec=None) -> int:
    """Threads for the core's loops of `codec`: its ``threads`` attribute, else the job's, else the default."""
    own = getattr(codec, "threads", None) if codec is not None else None
    return int(own or _JOB["threads"] or default_threads())


@contextlib.contextmanager
def job_threads(n):
    """Within the block, codecs without their own ``threads`` use n threads (None: the default)."""
    n = check_threads(n, "options.numberOfThreads")
    before = _JOB["threads"]
    _JOB["threads"] = n
    try:
        yield
    finally:
        _JOB["threads"] = before


def check_batch_size(n, what: str = "batch_size") -> int | None:
    """n as a positive int (None stays None); a one-line ParameterError otherwise."""
    if n is None:
        return None
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ParameterError(f"must be a positive number of rows per onnxruntime run, got {n!r}", parameter=what)
    return int(n)


def check_providers(providers, what: str = "providers") -> tuple[str, ...] | None:
    """onnxruntime provider names as a tuple (None stays None; "auto" lets hepvq.runtime choose).  A name that no
    onnxruntime build knows (a typo) is refused in one line; a known one that this installation lacks falls back
    to the CPU with one warning line when a session is made (hepvq.runtime.session.choose_providers)."""
    if providers is None:
        return None
    if isinstance(providers, str) or not all(isinstance(p, str) for p in providers):
        raise ParameterError(f"must be a list of onnxruntime provider names, got {providers!r}", parameter=what)
    names = tuple(providers)
    if any(p != "auto" for p in names):
        import onnxruntime as ort  # only to check names: "auto" alone needs no import

        known = list(ort.get_all_providers())
        for p in names:
            if p != "auto" and p not in known:
                raise ParameterError(f"unknown onnxruntime provider {p!r}{did_you_mean(p, known)}; available here: "
                                     f"auto, {', '.join(ort.get_available_providers())}", parameter=what)
    return names


@dataclass(frozen=True)
class RunOptions:
    """Run-time options of the codecs (None everywhere: each codec's default).  Results never depend on them."""

    providers: tuple[str, ...] | None = None  # onnxruntime providers of codecs that run ONNX graphs
    threads: int | None = None                # threads of the compiled loops (codec's > job's > one per core)
    batch_size: int | None = None             # rows per onnxruntime run (pixel_vq patches, tpc_inr points)

    @classmethod
    def build(cls, providers=None, threads=None, batch_size=None, *, prefix: str = "") -> "RunOptions":
        """Checked options; errors name the parameter as ``prefix + name`` (e.g. options.numberOfThreads)."""
        return cls(check_providers(providers, f"{prefix}providers"),
                   check_threads(threads, f"{prefix}numberOfThreads" if prefix else "threads"),
                   check_batch_size(batch_size, f"{prefix}batchSize" if prefix else "batch_size"))

    @classmethod
    def from_process_options(cls, options: dict) -> "RunOptions":
        """From process.options (a dict): numberOfThreads, providers, batchSize (0 or absent: not set)."""
        return cls.build(options.get("providers"), options.get("numberOfThreads") or None,
                         options.get("batchSize") or None, prefix="options.")

    def apply(self, codec):
        """Set threads and batch size on a codec that has them (providers are given when it is built)."""
        if self.threads is not None:
            codec.threads = self.threads
        if self.batch_size is not None and hasattr(codec, "batch_size"):
            codec.batch_size = self.batch_size
        return codec


__all__ = ["default_threads", "check_threads", "check_batch_size", "check_providers", "threads", "job_threads",
           "RunOptions"]
