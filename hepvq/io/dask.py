"""Lazy, distributed reading of hepvq-compressed files: ``hepvq.dask(files)`` -> a dask-awkward array of decoded
events (ids + one field per collection, the same records ``hepvq.open(path).arrays()`` gives).

One partition = one entry range of one file (``step_size`` entries at most). Each partition is read by a
small picklable reader object that opens the file with ``hepvq.open`` on the worker, so codecs and their
onnxruntime sessions are built there (``OnnxModel.__getstate__`` drops sessions when something holding one is
pickled); nothing is read when the graph is built except the entry counts and one event for the type.

Needs the ``dask`` extra: ``pip install 'hepvq[dask]'`` (dask-awkward 2026.2.1 with dask/distributed < 2025.4,
pinned together: newer dask with this dask-awkward fails on ``.compute()``)."""
from __future__ import annotations

import glob
import os

from hepvq.errors import InputError
from hepvq.extras import require
from hepvq.io.rootfile import check_readable


def _expand(files) -> list[str]:
    if isinstance(files, (str, os.PathLike)):
        files = [files]
    out: list[str] = []
    for f in files:
        f = str(f)
        if any(ch in f for ch in "*?["):
            matched = sorted(glob.glob(f))
            if not matched:
                raise InputError(f"no file matches '{f}'")
            out.extend(matched)
        else:
            check_readable(f)
            out.append(f)
    if not out:
        raise InputError("hepvq.dask needs at least one file")
    return out


class CompressedPartitionReader:
    """Reads one (path, entry_start, entry_stop) partition, decoded; picklable (holds only plain values).

    The open reader (file handle + codecs) is cached per process and path, so that the partitions of one file
    read by the same worker do not rebuild the codecs."""

    def __init__(self, tree: str = "Events", decode: bool = True, form: str | None = None):
        self.tree = tree
        self.decode = decode
        self.form = form  # awkward form as JSON: a typetracer itself does not pickle

    def _reader(self, path):
        cache = _READERS
        key = (path, self.tree, self.decode, os.getpid())
        reader = cache.get(key)
        if reader is None:
            from hepvq.io.reading import open_compressed

            reader = open_compressed(path, tree=self.tree, decode=self.decode)
            if len(cache) > 16:  # bounded: close the oldest
                old_key = next(iter(cache))
                cache.pop(old_key).close()
            cache[key] = reader
        return reader

    def __call__(self, part):
        path, start, stop = part
        return self._reader(path).arrays(entry_start=start, entry_stop=stop)

    # dask-awkward's ImplementsMocking: the type of the partitions without reading them
    def mock(self):
        import awkward as ak

        layout = ak.forms.from_json(self.form).length_zero_array()
        return ak.Array(layout.to_typetracer(forget_length=True))

    def __getstate__(self):
        return {"tree": self.tree, "decode": self.decode, "form": self.form}

    def __setstate__(self, state):
        self.__init__(**state)


_READERS: dict = {}


def partitions(files, step_size: int = 100_000, tree: str = "Events") -> list[tuple[str, int, int]]:
    """[(path, entry_start, entry_stop)] covering every entry of every file, ``step_size`` entries at most."""
    from hepvq.io.rootfile import open_root

    if int(step_size) < 1:
        raise ValueError(f"step_size must be a positive number of entries, got {step_size}")
    parts = []
    for path in _expand(files):
        f, t = open_root(path, tree)  # one-line errors for unreadable, truncated or foreign files
        try:
            n = int(t.num_entries)
        finally:
            f.close()
        starts = range(0, n, int(step_size)) if n else [0]
        parts.extend((path, s, min(s + int(step_size), n)) for s in starts)
    return parts


def from_compressed(files, step_size: int = 100_000, *, tree: str = "Events", decode: bool = True):
    """A dask-awkward array of the decoded events of `files` (paths, globs, or a list of them).

    ``step_size``: entries per partition; ``decode=False`` gives the stored products undecoded (as plain
    collections). The type (meta) comes from decoding the first event of the first file."""
    dak = require("dask_awkward")
    parts = partitions(files, step_size=step_size, tree=tree)
    from hepvq.io.reading import open_compressed

    path0, _start, stop0 = parts[0]
    with open_compressed(path0, tree=tree, decode=decode) as r:  # not cached: the client keeps no file open
        sample = r.arrays(entry_start=0, entry_stop=min(1, stop0))
    reader = CompressedPartitionReader(tree, decode, form=sample.layout.form.to_json())
    divisions = [0]
    for _p, s, e in parts:
        divisions.append(divisions[-1] + (e - s))
    return dak.from_map(reader, parts, label="hepvq-open", divisions=tuple(divisions))


__all__ = ["from_compressed", "partitions", "CompressedPartitionReader"]
