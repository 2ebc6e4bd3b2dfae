"""Allocator settings of hepvq's own processes (hepvq-run), not of a process that merely imports hepvq.

A job allocates and frees arrays of a few MB to a few tens of MB per chunk. glibc serves blocks above its mmap
threshold (dynamic, from 128 kB) with fresh mmaps, so every such array costs page faults again and its pages are
returned at each free: ~0.1-0.2 s of system time per 40 PU-200 events with validation. A fixed 32 MB threshold and a
256 MB trim threshold keep those pages in the heap for the next chunk (CMSSW runs with jemalloc for the same
reason). Peak memory is unchanged within ~1 %. Other C libraries: nothing is changed."""
from __future__ import annotations

import ctypes
import os
import platform

M_TRIM_THRESHOLD = -1  # glibc malloc.h
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD_BYTES = 32 << 20
TRIM_THRESHOLD_BYTES = 256 << 20
#: set to 1 to keep glibc's defaults
DISABLE_ENV = "HEPVQ_DEFAULT_MALLOC"


def keep_freed_pages() -> bool:
    """Apply the thresholds above with glibc's mallopt; False (nothing changed) elsewhere or when disabled."""
    if os.environ.get(DISABLE_ENV) == "1" or platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    try:
        # glibc's soname on the usual Linux ABIs; ctypes.util.find_library would run ldconfig in a child (~60 ms CPU)
        libc = ctypes.CDLL("libc.so.6")
        return bool(libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)) and \
            bool(libc.mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES))
    except (OSError, AttributeError):
        return False
