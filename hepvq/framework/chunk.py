"""Chunk: a block of consecutive events seen by every module at once (columnar).

``chunk.ids`` holds run / luminosityBlock / event; products are per-event awkward arrays keyed by
(label, instance). A module reads with ``chunk.get(tag)`` and adds with ``chunk.put(array, instance)``;
the framework sets the label of the module that is running."""
from __future__ import annotations

import awkward as ak
import numpy as np

from hepvq.errors import HepvqError, ProductNotFound, did_you_mean


def tag_key(tag) -> tuple[str, str]:
    """(label, instance) of an InputTag, a "label" / "label:instance" string or a (label, instance) tuple."""
    if isinstance(tag, tuple):
        label, instance = (tag + ("",))[:2]
        return str(label), str(instance or "")
    for getter_l, getter_i in (("getModuleLabel", "getProductInstanceLabel"), ("moduleLabel", "productInstanceLabel")):
        if hasattr(tag, getter_l):
            label, instance = getattr(tag, getter_l), getattr(tag, getter_i, "")
            label = label() if callable(label) else label
            instance = instance() if callable(instance) else instance
            return str(label), str(instance or "")
    if hasattr(tag, "label") and hasattr(tag, "instance"):
        label, instance = tag.label, tag.instance
        label = label() if callable(label) else label
        instance = instance() if callable(instance) else instance
        return str(label), str(instance or "")
    if hasattr(tag, "value") and callable(tag.value) and not isinstance(tag, str):
        return tag_key(tag.value())
    text = str(tag)
    label, _, instance = text.partition(":")
    instance = instance.split(":")[0]  # drop a process name ("label:instance:process")
    return label, instance


def tag_text(key: tuple[str, str]) -> str:
    return f"{key[0]}:{key[1]}" if key[1] else key[0]


class Chunk:
    """Events [entry_start, entry_stop) of the job (global entry numbers across input files)."""

    def __init__(self, ids: ak.Array, entry_start: int, entry_stop: int, products=None, *, source_file=None):
        self.ids = ids
        self.entry_start = int(entry_start)
        self.entry_stop = int(entry_stop)
        self.n = len(ids)
        self.source_file = source_file
        self._products: dict[tuple[str, str], ak.Array] = {}
        self._current_label: str | None = None
        self._on_demand = None  # callable(label, chunk) -> bool: runs an unscheduled producer
        for (label, instance), arr in (products or {}).items():
            self._put(label, instance, arr)

    def __len__(self):
        return self.n

    def __repr__(self):
        return f"<Chunk entries {self.entry_start}-{self.entry_stop} ({self.n} events), products: " \
               f"{', '.join(tag_text(k) for k in self._products)}>"

    # -- reading
    def get(self, tag) -> ak.Array:
        key = tag_key(tag)
        if key not in self._products and self._on_demand is not None:
            self._on_demand(key[0], self)
        try:
            return self._products[key]
        except KeyError:
            have = [tag_text(k) for k in self._products]
            raise ProductNotFound(
                f"product '{tag_text(key)}' not found in the event{did_you_mean(tag_text(key), have)}; "
                f"products: {', '.join(have) or 'none'}") from None

    def has(self, tag) -> bool:
        return tag_key(tag) in self._products

    def products(self) -> dict[tuple[str, str], ak.Array]:
        return dict(self._products)

    # -- writing
    def put(self, array, instance: str = "") -> None:
        if self._current_label is None:
            raise HepvqError("chunk.put called outside a module's produce/filter")
        self._put(self._current_label, instance, array)

    def _put(self, label: str, instance: str, array) -> None:
        if not isinstance(array, ak.Array):
            array = ak.Array(array) if not isinstance(array, np.ndarray) else ak.Array(array)
        if len(array) != self.n:
            raise HepvqError(f"module '{label}' put product '{tag_text((label, instance))}' with {len(array)} "
                             f"entries, expected one per event ({self.n})")
        key = (label, instance or "")
        if key in self._products:
            raise HepvqError(f"product '{tag_text(key)}' put twice in the same event")
        self._products[key] = array

    def select(self, mask) -> "Chunk":
        """A new chunk with only the events where mask is True (ids and every product)."""
        mask = np.asarray(mask, dtype=bool)
        if mask.all():
            return self
        out = Chunk(self.ids[mask], self.entry_start, self.entry_stop, source_file=self.source_file)
        out._products = {k: v[mask] for k, v in self._products.items()}
        out.n = int(mask.sum())
        return out
