"""Optional dependencies behind one importer, so that a missing one says which extra to install
(the pattern of uproot's extras.py). Nothing on the run-time path imports torch."""
from __future__ import annotations

import importlib

from hepvq.errors import HepvqError

_EXTRA = {
    "torch": "train",
    "onnx": "train",
    "onnxscript": "train",
    "scipy": "train",
    "pysz": "bench",
    "zfpy": "bench",
    "matplotlib": "bench",
    "dask_awkward": "dask",
    "dask": "dask",
    "distributed": "dask",
    "ROOT": "test",
}


class MissingDependency(HepvqError, ImportError):
    pass


def require(module: str):
    """Import an optional dependency or raise an error naming the pip extra that provides it."""
    try:
        return importlib.import_module(module)
    except ImportError as err:
        extra = _EXTRA.get(module.split(".")[0])
        hint = f"pip install 'hepvq[{extra}]'" if extra else f"pip install {module}"
        if module.split(".")[0] == "torch":
            hint = "pip install torch==2.13.0 && " + hint
        raise MissingDependency(f"'{module}' is needed for this and is not installed: {hint}") from err
