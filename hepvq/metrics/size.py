"""Size estimates for the end-of-job reports of encoder modules."""
from __future__ import annotations

import awkward as ak


def products_zstd_bytes(products: dict, level: int = 1) -> int:
    """zstd size of the products' columns and per-event counters, big-endian as ROOT stores them.

    A quick, chunk-local estimate of what the output file will hold (the real figure is the file size
    in the TimeReport); it lets a module report bits per hit without writing anything."""
    import zstandard

    cctx = zstandard.ZstdCompressor(level=level)
    total = 0
    for arr in products.values():
        for f in ak.fields(arr):
            flat = ak.to_numpy(ak.flatten(arr[f], axis=None))
            total += len(cctx.compress(flat.astype(flat.dtype.newbyteorder(">")).tobytes()))
        total += len(cctx.compress(ak.to_numpy(ak.num(arr, axis=1)).astype(">i4").tobytes()))
    return total
