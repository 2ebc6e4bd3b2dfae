"""Termination signals as exceptions, so that every output's temporary file is removed on pre-emption.

Batch systems stop jobs with SIGTERM (and SIGHUP when a session ends); Python only turns SIGINT into
KeyboardInterrupt. Inside ``terminate_on_signals()`` SIGTERM and SIGHUP raise :class:`Terminated`, a
BaseException like KeyboardInterrupt, so the EventProcessor's cleanup (abort of every output) runs."""
from __future__ import annotations

import contextlib
import os
import signal
import threading

#: signals that end a job cleanly (SIGINT is KeyboardInterrupt already)
HANDLED = tuple(s for s in (getattr(signal, "SIGTERM", None), getattr(signal, "SIGHUP", None)) if s is not None)


class Terminated(BaseException):
    """The job received a termination signal; ``signum`` is its number (exit status 128 + signum)."""

    def __init__(self, signum: int):
        self.signum = int(signum)
        super().__init__(f"terminated by {signal.Signals(self.signum).name}")


_OWNER = {"pid": None}  # the process that installed the handlers (forked workers inherit them)


def _raise(signum, _frame):
    if os.getpid() != _OWNER["pid"]:  # a forked worker: die of the signal as it would have
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)
        return
    # a second signal during cleanup must not interrupt the cleanup itself
    for s in HANDLED:
        signal.signal(s, signal.SIG_IGN)
    raise Terminated(signum)


@contextlib.contextmanager
def terminate_on_signals():
    """Within the block, SIGTERM / SIGHUP raise Terminated (main thread only; elsewhere a no-op)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    _OWNER["pid"] = os.getpid()
    previous = {s: signal.signal(s, _raise) for s in HANDLED}
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
