"""The byte-size estimators of hepvq, one per question:

* ``products_zstd_bytes``: a quick, chunk-local estimate of the index products (zstd of each column and
  per-event counter, big-endian as ROOT stores them) for the encoders' end-of-job reports -- nothing written;
* ``products_root_bytes``: the products written to a ROOT file as the output module writes them (ZSTD 5;
  ``n<prefix>`` counters, ``<prefix>_<field>`` branches): what ``hepvq-bench`` and the benchmarks count;
* ``products_payload_bytes``: the raw bytes of the product columns, no container (the TPC benchmarks, beside
  the SZ3 / ZFP stream bytes);
* ``metadata_bytes``: the per-file metadata (decoder ONNX, tables) zstd-19'd, written once per file.
"""
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
            total += len(cctx.compress(flat.astype(flat.dtype.newbyteorder(">"))))  # the array's buffer, no copy
        total += len(cctx.compress(ak.to_numpy(ak.num(arr, axis=1)).astype(">i4")))
    return total


def products_payload_bytes(products: dict) -> int:
    """Raw bytes of every product column (byte streams, sector tables ...), no container and no further
    compression: what a codec's output holds, comparable with the bytes of SZ3 / ZFP streams."""
    total = 0
    for arr in products.values():
        for f in ak.fields(arr):
            total += ak.to_numpy(ak.flatten(arr[f], axis=None)).nbytes
    return int(total)


def products_root_bytes(products: dict, label: str = "enc", compression: str = "ZSTD", level: int = 5) -> int:
    """Bytes of a ROOT file holding the codec products: the branch layout the output module writes."""
    from hepvq.baselines.lossless import root_file_size

    # record products go in as records: uproot writes n<prefix> + <prefix>_<field>, like RootOutputModule
    arrays = {(label if inst == "" else f"{label}_{inst}"): arr for inst, arr in products.items()}
    return root_file_size(arrays, compression, level)


def metadata_bytes(metadata: dict, level: int = 19) -> int:
    """zstd size of a codec's metadata blobs (written once per file, whatever its size)."""
    import zstandard

    cctx = zstandard.ZstdCompressor(level=level)
    return sum(len(cctx.compress(bytes(v))) for v in metadata.values())
