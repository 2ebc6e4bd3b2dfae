"""hepvq: learned lossy compression of sparse particle-detector hits.

Layers follow the data (see docs/ARCHITECTURE.md):
config -> framework (event loop over chunks) -> modules -> io (ROOT in/out) ;
codecs (encode/decode, shared by modules and hepvq.open) ; runtime (onnxruntime) ;
training and export (torch) live apart in hepvq.models / hepvq.cli.train / hepvq.cli.export.
"""
from hepvq.version import __version__  # noqa: F401 - the one place the version is kept


def open(path, **kwargs):  # noqa: A001 - mirrors uproot.open
    """Open a hepvq-compressed ROOT file and return a reader that decodes it.

    ``hepvq.open(path).arrays()`` gives every event decoded to the input schema;
    ``.iterate(step_size=...)`` does the same chunk by chunk with bounded memory.
    Options: ``threads`` (compiled decode loops), ``providers`` (onnxruntime), ``tree``.
    """
    from hepvq.io.reading import open_compressed

    return open_compressed(path, **kwargs)


def dask(files, **kwargs):
    """Lazily decode many compressed files as a dask-awkward array (needs the `dask` extra)."""
    from hepvq.io.dask import from_compressed

    return from_compressed(files, **kwargs)
