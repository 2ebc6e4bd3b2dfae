"""The compiled core's decode of hepvq.baselines.sparse_streams' cluster layout (core/src/sparse_streams.cpp,
hepvq_core.sparse_*): what tpc_inr format 2 decodes its coordinate and residual streams with (hepvq.tpc.coords,
hepvq.codecs.residual), the same code the C++ reader runs. The numpy decode (sparse_streams.decode_event /
decode_values) stays the oracle (tests/test_cpp_tpc.py)."""
from __future__ import annotations

import numpy as np

import hepvq_core


def core_tables(tables):
    """The core's copy of StreamTables (built once per tables object), or None for a layout the core does not
    decode (the per-column layout: numpy)."""
    core = getattr(tables, "_core_tables", None)
    if core is None and tables.layout == "clusters":
        core = hepvq_core.SparseTables(tables.n_cols, tables.n_rows, tables.value_alphabet, tables.n_classes,
                                       tables.keys, tables.classes, [tables.tables[s] for s in tables.streams],
                                       tables.book.to_bytes())
        tables._core_tables = core
    return core


def decode_event(blob, tables, *, with_value: bool = True, what: str = "sparse blob"):
    """sparse_streams.decode_event by the core: (plane keys, col, row, value or None) int64."""
    return hepvq_core.sparse_decode_event(bytes(blob), core_tables(tables), with_value, what)


def unpack_residuals(blob, plane_keys, col, row, tables, what: str = "residuals") -> np.ndarray:
    """hepvq.codecs.residual.unpack_rans by the core."""
    return hepvq_core.sparse_unpack_residuals(bytes(blob), np.asarray(plane_keys, np.int64),
                                              np.asarray(col, np.int64), np.asarray(row, np.int64),
                                              core_tables(tables), what)
