"""The detectors hepvq reads, in one place: each collection's input schema (fields and dtypes, what RootSource
checks and casts, hepvq.io.layout.SCHEMA) and how a measurement looks at its hits (hepvq-bench,
hepvq.bench.suite): the coordinate fields most significant first (the sparse baseline's order), the fields that
separate clusters (``group``), the 2 fields clusters connect in (``spatial``) and that plane's shape, ADC range,
zero-suppression threshold (None: the sample's smallest ADC) and pitch of the spatial fields.
"""
from __future__ import annotations

import numpy as np

_U16, _U32 = np.dtype(np.uint16), np.dtype(np.uint32)

DETECTORS: dict[str, dict] = {
    "pixel": {"collection": "PixelDigi", "dtypes": {"detId": _U32, "row": _U16, "col": _U16, "adc": _U16},
              "keys": ("detId", "col", "row"), "group": ("detId",), "spatial": ("row", "col"),
              "plane": (160, 416), "adc_max": 255, "threshold": None, "pitch": (100.0, 150.0), "unit": "um"},
    "tpc": {"collection": "TpcHit", "dtypes": {"sector": _U16, "layer": _U16, "phi": _U16, "z": _U16, "adc": _U16},
            "keys": ("sector", "layer", "phi", "z"), "group": ("sector", "layer"), "spatial": ("phi", "z"),
            "plane": (192, 249), "adc_max": 1023, "threshold": 64, "pitch": (1.0, 1.0), "unit": "pad/bin"},
}

#: the input schema: collection -> {field: dtype}
SCHEMA: dict[str, dict[str, np.dtype]] = {d["collection"]: d["dtypes"] for d in DETECTORS.values()}
