"""Progress bars for long loops: tqdm with rate and ETA on stderr, shown only when stderr is a terminal
(disable=None), so logs, CI and pipes stay clean."""
from __future__ import annotations

import sys


def bar(iterable=None, *, total=None, desc=None, unit="it", quiet=False, **kwargs):
    """A tqdm bar (or a pass-through when tqdm is missing); quiet=True turns it off even on a terminal."""
    try:
        from tqdm import tqdm
    except ImportError:  # tqdm is a core dependency; stay usable without it all the same
        return _Null(iterable)
    return tqdm(iterable, total=total, desc=desc, unit=unit, file=sys.stderr, dynamic_ncols=True,
                disable=True if quiet else None, **kwargs)


class _Null:
    def __init__(self, iterable):
        self.iterable = iterable

    def __iter__(self):
        return iter(self.iterable)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def update(self, n=1):
        pass

    def set_postfix(self, *a, **k):
        pass

    def set_postfix_str(self, *a, **k):
        pass

    def close(self):
        pass
