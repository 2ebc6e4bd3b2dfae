"""The Codec contract and its registry.

encode(hits, first_entry=0) -> EncodeResult(products, report): ``products`` {instance: per-event awkward array}
   is what the encoder module puts in the event and the output module writes (instance "" is the main product;
   others e.g. "corrections"); ``report`` {figure: number} says what this call did (hits, sectors, seconds...),
   so that nothing of a call is left on the codec object (one codec may serve several callers).
decode(products) -> per-event jagged records with the input schema's fields (e.g. detId,row,col,adc).
metadata() -> {key: bytes}: everything decode() needs (ONNX decoder, codebooks, settings as JSON);
   written into the compressed file, read back by from_metadata().
"""
from __future__ import annotations

import functools
import json
from abc import ABC, abstractmethod
from typing import Any, ClassVar, NamedTuple

import awkward as ak

from hepvq.errors import ModelError, did_you_mean

_REGISTRY: dict[str, type["Codec"]] = {}
#: entry-point group through which codecs are found (pyproject.toml [project.entry-points."hepvq.codecs"]:
#: name = "package.module:CodecClass"); a codec's module is imported on first use, so hepvq.open stays light
ENTRY_POINT_GROUP = "hepvq.codecs"


def register_codec(cls):
    _REGISTRY[cls.name] = cls
    return cls


@functools.lru_cache(maxsize=1)
def _entry_points() -> dict:
    """{codec name: entry point} of the ``hepvq.codecs`` group (hepvq's own and other packages'), read once.

    Every installed distribution is scanned (metadata.entry_points() keeps one distribution per name, so a stale
    ``hepvq.egg-info`` left in a checkout that is on sys.path would hide the installed hepvq's codecs)."""
    from importlib import metadata

    eps = {}
    for dist in metadata.distributions():
        for ep in dist.entry_points:
            if ep.group == ENTRY_POINT_GROUP:
                eps.setdefault(ep.name, ep)
    return eps


def codec_class(name: str) -> type["Codec"]:
    if name not in _REGISTRY:
        eps = _entry_points()
        if name in eps:
            try:
                cls = eps[name].load()
            except Exception as err:  # a broken plugin: one line naming it
                raise ModelError(f"codec '{name}' ({ENTRY_POINT_GROUP} entry point {eps[name].value}) cannot be "
                                 f"imported: {type(err).__name__}: {err}") from err
            if not (isinstance(cls, type) and issubclass(cls, Codec) and cls.name == name):
                raise ModelError(f"{ENTRY_POINT_GROUP} entry point '{name}' ({eps[name].value}) is not a Codec "
                                 f"named '{name}'")
            _REGISTRY.setdefault(name, cls)
    if name not in _REGISTRY:
        known = registered_codecs()
        hint = "" if known else f" (no {ENTRY_POINT_GROUP} entry points: is hepvq installed? pip install -e .)"
        raise ModelError(f"unknown codec '{name}'{did_you_mean(name, known)}; known: {', '.join(known)}{hint}")
    return _REGISTRY[name]


def registered_codecs() -> list[str]:
    return sorted(set(_REGISTRY) | set(_entry_points()))


class EncodeResult(NamedTuple):
    """What Codec.encode returns: ``products`` {instance: per-event array} and ``report`` {figure: value} of this
    call alone.  Numbers in the report are additive over calls (counts, seconds), so that an encoder module
    sums them for its end-of-job report; a value that is not a number (e.g. pixel_vq's ``fidelity`` dict of one
    call) is for the caller to combine.  ``products, report = codec.encode(hits)`` unpacks it."""

    products: dict[str, ak.Array]
    report: dict[str, Any]


class Codec(ABC):
    name: ClassVar[str]
    #: the collection the decoded hits go back to (branch prefix in the input schema)
    collection: ClassVar[str]

    @abstractmethod
    def encode(self, hits: ak.Array, first_entry: int = 0) -> EncodeResult:
        """``first_entry``: entry number of hits[0] in the job, for error messages."""

    @abstractmethod
    def decode(self, products: dict[str, ak.Array]) -> ak.Array: ...

    @abstractmethod
    def metadata(self) -> dict[str, bytes]: ...

    @classmethod
    @abstractmethod
    def from_metadata(cls, blobs: dict[str, bytes]) -> "Codec": ...

    def value_ranges(self) -> dict[str, tuple[int, int]]:
        """{field: (lowest, highest)} every decoded value must lie in; checked by hepvq.codecs.guard after each
        decode (a value outside is damage, never wrapped into the schema's type)."""
        return {}

    # helpers shared by codecs
    @staticmethod
    def json_blob(obj) -> bytes:
        return json.dumps(obj, sort_keys=True).encode()

    @classmethod
    def read_json_blob(cls, blobs: dict[str, bytes], key: str) -> dict:
        """The JSON blob ``key``; callers that know the file (hepvq.io.reading) prefix its name to the error."""
        if key not in blobs:
            raise ModelError(f"compressed file lacks metadata '{key}' of the {cls.name} codec"
                             f"{did_you_mean(key, blobs)}")
        try:
            out = json.loads(bytes(blobs[key]).decode())
        except (ValueError, UnicodeDecodeError) as err:
            raise ModelError(f"metadata '{key}' of the {cls.name} codec is not valid JSON ({err})") from err
        if not isinstance(out, dict):
            raise ModelError(f"metadata '{key}' of the {cls.name} codec is not a JSON object")
        return out
