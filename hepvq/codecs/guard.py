"""Integrity checks around a codec's decode, shared by every decode path (hepvq.open, HepvqDecoder, the
per-codec decoder modules), so that damaged data is refused instead of decoded into wrong hits.

* Per-event checksum: ROOT's ZSTD baskets carry no checksum, so one flipped bit inside a basket changes values
  silently. The encoder module adds the product ``<label>_crc`` (instance ``crc``, uint32 per event): CRC-32 of
  the event's encoded products in a canonical order (instances sorted, fields sorted; per jagged field the
  event's number of values as uint32 then the values, per flat field its value; little-endian bytes of the
  written type). Decoding recomputes and compares
  it; files written before it existed (no ``crc`` product) decode without it.
* Decoded values are range-checked against the codec's declared ranges (``Codec.value_ranges()``) and the
  schema's types: a value out of range is an error, never a wrap-around to uint16."""
from __future__ import annotations

import zlib

import awkward as ak
import numpy as np

from hepvq.errors import DataError

CRC_INSTANCE = "crc"


def jagged_offsets(arr: ak.Array) -> tuple[np.ndarray, np.ndarray]:
    """(offsets per event from 0, int64; flat values) of a jagged array of numbers. Straight from the buffers when
    it is a list of numbers as uproot reads it (no copies: ak.num and ak.flatten cost ~0.1 ms a branch)."""
    layout = arr.layout
    if isinstance(layout, ak.contents.ListOffsetArray) and isinstance(layout.content, ak.contents.NumpyArray):
        offsets = np.asarray(layout.offsets).astype(np.int64)
        return offsets - offsets[0], np.asarray(layout.content.data)[offsets[0]:offsets[-1]]
    counts = ak.to_numpy(ak.num(arr, axis=1)).astype(np.int64)
    offsets = np.zeros(len(counts) + 1, np.int64)
    np.cumsum(counts, out=offsets[1:])
    return offsets, np.asarray(ak.to_numpy(ak.flatten(arr, axis=None)))


def _columns(arr: ak.Array):
    """[(offsets per event or None, flat numpy values)] of one product, fields in sorted order."""
    fields = ak.fields(arr)
    if fields:
        return [c for f in sorted(fields) for c in _columns(arr[f])]
    if arr.ndim == 1:
        return [(None, np.asarray(ak.to_numpy(arr)))]
    return [jagged_offsets(arr)]


def _crc_columns(products: dict[str, ak.Array]):
    """(events, [(counts as uint32 or None, little-endian bytes, byte offsets per event)]) in checksum order."""
    insts = sorted(k for k in products if k != CRC_INSTANCE)
    if not insts:
        return 0, []
    n = len(products[insts[0]])
    cols = []
    for inst in insts:
        for offs, values in _columns(products[inst]):
            le = np.ascontiguousarray(values, dtype=values.dtype.newbyteorder("<"))
            raw = le.view(np.uint8).reshape(-1)
            if offs is None:
                row = raw.size // n if n else 0
                cols.append((None, raw, np.arange(n + 1, dtype=np.int64) * row))
            else:
                cols.append((np.diff(offs).astype("<u4"), raw, offs * le.itemsize))
    return n, cols


def event_checksums(products: dict[str, ak.Array], threads: int = 1) -> np.ndarray:
    """uint32 CRC-32 per event of the products (the ``crc`` product itself excluded), by the compiled core
    (event_checksums_reference is the zlib loop it equals)."""
    import hepvq_core

    n, cols = _crc_columns(products)
    return hepvq_core.event_crc32(cols, n, int(threads))


def event_checksums_reference(products: dict[str, ak.Array]) -> np.ndarray:
    """event_checksums with one zlib.crc32 call per event and column (the test oracle of the core's)."""
    n, cols = _crc_columns(products)
    out = np.empty(n, np.uint32)
    for e in range(n):
        crc = 0
        for counts, raw, offs in cols:
            if counts is not None:
                crc = zlib.crc32(counts[e:e + 1].tobytes(), crc)
            crc = zlib.crc32(raw[offs[e]:offs[e + 1]].tobytes(), crc)
        out[e] = crc
    return out


def with_checksum(products: dict[str, ak.Array]) -> dict[str, ak.Array]:
    """The products plus the ``crc`` product (what encoder modules put in the event)."""
    out = dict(products)
    out[CRC_INSTANCE] = ak.Array(event_checksums(products))
    return out


def verify_checksum(products: dict[str, ak.Array], *, file: str = "?", label: str = "?",
                    first_entry: int = 0) -> dict[str, ak.Array]:
    """The products without ``crc`` after checking it (DataError naming file, branch and entry on mismatch)."""
    if CRC_INSTANCE not in products:
        return products  # written before checksums existed, or the crc branch was dropped
    rest = {k: v for k, v in products.items() if k != CRC_INSTANCE}
    stored = np.asarray(ak.to_numpy(products[CRC_INSTANCE])).astype(np.uint64)
    got = event_checksums(rest).astype(np.uint64)
    bad = np.flatnonzero(stored != got)
    if len(bad):
        e = int(bad[0])
        raise DataError(f"file {file}: products of '{label}' at entry {first_entry + e} do not match their checksum "
                        f"(branch '{label}_{CRC_INSTANCE}': stored {stored[e]:#010x}, computed {got[e]:#010x}; "
                        f"{len(bad)} damaged event(s) in entries {first_entry}-{first_entry + len(stored)}); "
                        "the file was damaged after it was written")
    return rest


def _within(flat: np.ndarray, lo: int, hi: int) -> bool:
    """Whether every value lies in [lo, hi]: free when the dtype cannot hold any other value, else min and max
    (no boolean temporaries: this runs on every decoded hit)."""
    if flat.dtype.kind in "iu":
        info = np.iinfo(flat.dtype)
        if info.min >= lo and info.max <= hi:
            return True
        if info.min >= lo:  # unsigned from 0 with lo <= 0 (row, col): the maximum alone decides
            return bool(flat.max() <= hi)
    return bool(flat.min() >= lo and flat.max() <= hi)


def check_ranges(hits: ak.Array, ranges: dict[str, tuple[int, int]], *, file: str = "?", label: str = "?",
                 first_entry: int = 0) -> None:
    """DataError naming file, label, entry, field and value of the first decoded value outside its range."""
    for field, (lo, hi) in ranges.items():
        if field not in ak.fields(hits):
            continue
        col = hits[field]
        flat = np.asarray(ak.to_numpy(ak.flatten(col, axis=None)))
        if not len(flat) or _within(flat, lo, hi):
            continue
        bad = (flat < lo) | (flat > hi)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            counts = ak.to_numpy(ak.num(col, axis=1))
            entry = int(np.searchsorted(np.cumsum(counts), i, side="right"))
            raise DataError(f"file {file}: '{label}' decoded {field}={flat[i]} at entry {first_entry + entry}, outside "
                            f"the codec's range {lo}..{hi}; the stored products or the model are damaged")


def decode_checked(codec, products: dict[str, ak.Array], *, file: str = "?", label: str = "?",
                   first_entry: int = 0) -> ak.Array:
    """codec.decode with the checksum verified first and the decoded values range-checked after."""
    products = verify_checksum(products, file=file, label=label, first_entry=first_entry)
    try:
        hits = codec.decode(products)
    except DataError as err:
        raise DataError(f"file {file}: '{label}' ({codec.name}), entries from {first_entry}: {err}") from err
    check_ranges(hits, codec.value_ranges(), file=file, label=label, first_entry=first_entry)
    return hits


__all__ = ["CRC_INSTANCE", "event_checksums", "event_checksums_reference", "with_checksum", "verify_checksum",
           "check_ranges", "decode_checked"]
