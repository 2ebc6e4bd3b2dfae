"""Run-time options of the codecs: how many threads the compiled core's loops use (encode search, decode).

Set once per job from ``process.options.numberOfThreads`` (``hepvq-run -j N``) by the framework, or per
reader by ``hepvq.open(path, threads=N)`` (which sets the ``threads`` attribute of that reader's codecs); a
codec's own ``threads`` attribute wins over the job's setting, which wins over the default (one thread per
core, at most 8).  Results never depend on the number of threads (tests/test_core_threads.py)."""
from __future__ import annotations

import contextlib
import os

from hepvq.errors import ParameterError

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


__all__ = ["default_threads", "check_threads", "threads", "job_threads"]
