"""Job-level guarantees about output files (checked by the EventProcessor, whatever the output module type).

- at configuration time: no output may be an input file (same inode: same path, ``./x``, symlink, hard
  link), and no two output modules may write the same file;
- at the end of the job: outputs commit together. Every output completes its temporary file first
  (``endJob``), then every output checks it may still commit (``prepare_commit``), and only then are they
  renamed (``commit``); a failure in any of these steps leaves no final file of this job.

An output module takes part by having ``file_name`` (its final path); sources by ``file_names``."""
from __future__ import annotations

import logging
import os

from hepvq.errors import ConfigError

log = logging.getLogger("hepvq.framework")


def same_file(a: str, b: str) -> bool:
    """True when a and b name the same file: equal resolved paths, or the same inode (hard links)."""
    if os.path.realpath(a) == os.path.realpath(b):
        return True
    try:
        return os.path.samefile(a, b)
    except OSError:  # one of them does not exist: only the resolved paths could match
        return False


def check_output_names(source, outputs) -> None:
    """ConfigError (one line) when an output is an input file or two outputs write the same file."""
    inputs = [str(f) for f in (getattr(source, "file_names", None) or [])]
    seen: list[tuple[str, str]] = []  # (path, label)
    for out in outputs:
        path = getattr(out, "file_name", None)
        if not path:
            continue
        for inp in inputs:
            if same_file(path, inp):
                raise ConfigError(f"output module '{out.label}': fileName {path} is the input file {inp}; "
                                  f"writing it would destroy the input (choose another outputFile)")
        for other, label in seen:
            if same_file(path, other):
                raise ConfigError(f"output modules '{label}' and '{out.label}' both write {path}; "
                                  f"give each its own fileName")
        seen.append((path, out.label))


def check_side_file(path: str, what: str, source, outputs) -> None:
    """ConfigError unless a file the job writes besides its outputs (--report-json) can be written without
    touching an input or an output: checked before the job starts, not after it ran."""
    if os.path.isdir(path):
        raise ConfigError(f"{what} {path}: is a directory")
    d = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(d):
        raise ConfigError(f"{what} {path}: directory {d} does not exist")
    others = [str(f) for f in (getattr(source, "file_names", None) or [])]
    others += [out.file_name for out in outputs if getattr(out, "file_name", None)]
    for other in others:
        if same_file(path, other):
            raise ConfigError(f"{what} {path}: is {other}, a file of the job; choose another name")


def commit_all(outputs) -> None:
    """Rename every completed temporary file to its final name, all or none (see module docstring)."""
    for out in outputs:
        out.prepare_commit()
    done = []
    try:
        for out in outputs:
            out.commit()
            done.append(out)
    except BaseException:
        for out in done:  # all or none: a job that failed leaves no final file
            path = getattr(out, "file_name", None)
            if path and os.path.exists(path):
                log.warning("output module %s: removing %s (another output of the job failed to commit)",
                            out.label, path)
                os.remove(path)
        raise
