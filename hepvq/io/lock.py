"""One writer per output file: ``<fileName>.lock``, created exclusively (O_CREAT | O_EXCL) when the output
module begins and removed when it commits or aborts.

A second job that wants the same final name finds the lock and fails with one line naming the other job's
pid, instead of both jobs reporting success and one output being lost. A lock left by a job that was killed
with SIGKILL (its pid no longer runs on this host) is stale and taken over. Before the rename the holder
re-checks that the lock is still its own."""
from __future__ import annotations

import errno
import os
import socket

from hepvq.errors import HepvqError


class OutputLockError(HepvqError):
    """Another job writes the same output file."""


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def _token() -> str:
    return f"{os.getpid()} {socket.gethostname()}"


class OutputLock:
    """The lock of one output file; ``acquire()`` / ``verify()`` / ``release()``."""

    def __init__(self, file_name: str, owner: str = ""):
        self.file_name = str(file_name)
        self.path = f"{self.file_name}.lock"
        self.owner = owner
        self.held = False

    def _read(self) -> str:
        try:
            with open(self.path) as fh:
                return fh.read().strip()
        except OSError:
            return ""

    def _busy(self, holder: str) -> OutputLockError:
        pid, _, host = holder.partition(" ")
        who = f"pid {pid}" + (f" on {host}" if host and host != socket.gethostname() else "")
        return OutputLockError(f"{self.owner}: output file {self.file_name} is being written by another job "
                               f"({who}, lock file {self.path}); remove the lock file if that job is gone")

    def acquire(self) -> None:
        for _attempt in range(2):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                holder = self._read()
                pid, _, host = holder.partition(" ")
                stale = (pid.isdigit() and host == socket.gethostname() and not _pid_alive(int(pid)))
                if not stale or _attempt:
                    raise self._busy(holder) from None
                try:  # a job killed with SIGKILL left it: take it over
                    os.remove(self.path)
                except FileNotFoundError:
                    pass
                continue
            except OSError as err:
                raise HepvqError(f"{self.owner}: cannot create lock file {self.path}: "
                                 f"{err.strerror or err}") from err
            with os.fdopen(fd, "w") as fh:
                fh.write(_token() + "\n")
            self.held = True
            return

    def verify(self) -> None:
        """Raise when the lock is no longer ours (someone removed or took it over)."""
        holder = self._read()
        if holder != _token():
            raise self._busy(holder or "unknown")

    def release(self) -> None:
        if not self.held:
            return
        self.held = False
        if self._read() == _token():
            try:
                os.remove(self.path)
            except OSError as err:
                if err.errno != errno.ENOENT:
                    raise
