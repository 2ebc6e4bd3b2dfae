"""Bytes on disk of what a job read: the compressed baskets of the branches it consumed.

The TimeReport compares these with the bytes written for them, instead of whole file sizes (a file may hold
trees and branches the job never reads)."""
from __future__ import annotations

import logging

log = logging.getLogger("hepvq.io")


def branch_bytes_read(tree, names, entry_start: int, entry_stop: int) -> int:
    """Compressed bytes of branches ``names`` for entries [entry_start, entry_stop): each basket counts with
    the share of its entries in the range (a job that reads 3 of 10 events is not charged for all 10)."""
    total = 0
    if entry_stop <= entry_start:
        return 0
    for name in names:
        b = tree[name]
        n = int(getattr(b, "num_baskets", 0) or 0)
        counted = 0
        for i in range(n):
            lo, hi = b.basket_entry_start_stop(i)
            overlap = min(hi, entry_stop) - max(lo, entry_start)
            if overlap > 0 and hi > lo:
                counted += int(b.basket_compressed_bytes(i)) * overlap // (hi - lo)
        if n == 0 or (entry_start == 0 and entry_stop >= b.num_entries):
            # whole branch (includes a basket ROOT embeds in the TTree header, which has no basket index)
            counted = max(counted, int(b.compressed_bytes))
        total += counted
    return total
