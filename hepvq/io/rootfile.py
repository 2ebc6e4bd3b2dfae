"""The bottom of hepvq's I/O: opening ROOT files with uproot, the checks before that, and error text.

Everything above (metadata, RootSource, RootOutputModule, hepvq.open, hepvq.dask) opens files through
``open_root`` so that a missing, unreadable, truncated or foreign file is always ONE line naming the file
(and the tree), never a traceback from deep inside uproot."""
from __future__ import annotations

import errno
import os
from pathlib import Path

import numpy as np

from hepvq.errors import InputError, did_you_mean

REPO_ROOT = Path(__file__).resolve().parents[2]


def one_line(err: BaseException, limit: int = 400) -> str:
    """``Type: message`` of an exception from a library (uproot, numpy, onnxruntime) on one line: every line of
    the message joined (uproot continues sentences on the next line), cut at a word boundary after ``limit``."""
    text = " ".join(str(err).split())
    if len(text) > limit:
        text = text[:limit].rsplit(" ", 1)[0] + " [...]"
    return f"{type(err).__name__}: {text}" if text else type(err).__name__


def resolve_input(name: str) -> str:
    """A file name as given (``file:`` prefix allowed), else relative to the repository root."""
    name = str(name)
    if name.startswith("file:"):
        name = name[5:]
    p = Path(name).expanduser()
    if not p.is_absolute() and not p.exists() and (REPO_ROOT / p).exists():
        return str(REPO_ROOT / p)
    return str(p)


def check_readable(path: str) -> None:
    """InputError (one line, naming the file) unless ``path`` is an existing, readable ROOT file."""
    if not os.path.exists(path):
        parent = os.path.dirname(os.path.abspath(path))
        if os.path.isdir(parent) and not os.access(parent, os.X_OK):
            raise InputError(f"cannot look into directory {parent}: permission denied", file=path)
        raise InputError("input file does not exist", file=path)
    if os.path.isdir(path):
        raise InputError("input is a directory, not a ROOT file", file=path)
    if not os.access(path, os.R_OK):
        raise InputError("input file is not readable: permission denied", file=path)
    try:
        with open(path, "rb") as fh:
            magic = fh.read(4)
    except OSError as err:  # EACCES under root-squashed NFS, EIO on a failing disk, ...
        why = "permission denied" if err.errno in (errno.EACCES, errno.EPERM) else (err.strerror or one_line(err))
        raise InputError(f"input file is not readable: {why}", file=path) from err
    if magic != b"root":
        raise InputError("not a ROOT file (it does not start with 'root')", file=path)


def open_root(path: str, tree: str | None = None):
    """(uproot file, tree or None) with every failure turned into a one-line InputError."""
    import uproot

    check_readable(path)
    try:
        f = uproot.open(path)
    except Exception as err:
        raise InputError(f"cannot read ROOT file, truncated or corrupt? {one_line(err)}", file=path) from err
    size = os.path.getsize(path)
    end = getattr(f.file, "fEND", None)
    if end is not None and size < end:
        f.close()
        raise InputError(f"truncated ROOT file: {size} bytes, its header says {end}", file=path)
    try:
        keys = f.keys(cycle=False)
    except Exception as err:
        f.close()
        raise InputError(f"cannot read ROOT file, truncated or corrupt? {one_line(err)}", file=path) from err
    if tree is None:
        return f, None
    if tree not in keys:
        f.close()
        raise InputError(f"no tree '{tree}'{did_you_mean(tree, keys)}; keys: {', '.join(keys) or 'none'}",
                         file=path)
    try:
        t = f[tree]
        t.num_entries  # noqa: B018 - force the TTree to load
    except Exception as err:
        f.close()
        raise InputError(f"cannot read tree, truncated or corrupt? {one_line(err)}", file=path, tree=tree) from err
    if not hasattr(t, "num_entries") or not hasattr(t, "branches"):
        f.close()
        raise InputError(f"'{tree}' is a {type(t).__name__}, not a TTree", file=path)
    return f, t


def branch_dtype(branch):
    """(numpy dtype, jagged) of a numeric (or std::vector of numeric) branch; (None, ?) otherwise."""
    import uproot

    try:
        interp = branch.interpretation
    except Exception:
        return None, False
    jagged = isinstance(interp, uproot.interpretation.jagged.AsJagged)
    inner = interp.content if jagged else interp
    if isinstance(inner, uproot.interpretation.numerical.AsDtype) and not isinstance(
            inner, uproot.interpretation.numerical.AsDtypeInPlace) and inner.to_dtype.names is None \
            and inner.to_dtype.shape == ():
        return np.dtype(inner.to_dtype), jagged
    return None, jagged


def typename_of(branch) -> str:
    try:
        return branch.typename
    except Exception:
        return "?"


__all__ = ["REPO_ROOT", "one_line", "resolve_input", "check_readable", "open_root", "branch_dtype", "typename_of"]
