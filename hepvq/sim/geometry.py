"""Pixel detector geometries and detector ids.

Presets
-------
``phase1``  CMS Phase-1 barrel pixel (BPix, CMS-TDR-011 = CERN-LHCC-2012-016; JINST 16 (2021) P02027):
            4 layers at r = 2.9 / 6.8 / 10.9 / 16.0 cm with 12 / 28 / 44 / 64 ladders x 8 modules along z
            (96 / 224 / 352 / 512 modules), modules of 160 x 416 pixels of 100 um (r-phi, "rows") x 150 um
            (z, "cols"), 285 um thick, B = 3.8 T.  Ladders are flat planes at the layer radius, alternately
            0.2 cm inside / outside it (CMS "inner" and "outer" ladders) so neighbours overlap slightly.
            Module pitch along z 6.68 cm (8 x 6.68 = 53.4 cm barrel length). Double-size edge pixels are
            not modelled (all pixels 100 x 150 um).
``phase2``  Phase-2 Inner Tracker-like barrel (TBPX, CMS-TDR-014 = CERN-LHCC-2017-009): 4 layers at
            r = 3.0 / 6.1 / 10.4 / 14.6 cm, 12 / 24 / 24 / 32 ladders x 9 modules, 25 x 100 um pixels,
            150 um thick; 1x2-chip modules (672 x 432 pixels, 16.8 x 43.2 mm) in layers 1-2,
            2x2-chip modules (1344 x 432, 33.6 x 43.2 mm) in layers 3-4.

``phase1_fpix``  ``phase1`` plus the Phase-1 forward disks (FPix), simplified: 3 disks per side at
            |z| = 29.1 / 39.6 / 51.6 cm, an inner ring of 22 blades (modules spanning r = 4.6-10.9 cm) and an
            outer ring of 34 blades (r = 9.7-16.0 cm), two modules per blade (panels 1 and 2 on the two faces,
            z -+ 0.35 cm, panel 2 turned by half a blade pitch so that the panels tile the ring), 160 x 416
            pixels with the rows along r-phi and the columns along r; 672 modules.  The real blades are tilted
            by 20 deg (turbine) to get a Lorentz drift: here they are flat, so there is no Lorentz drift in
            the disks.

detId
-----
CMS Phase-1 TrackerTopology bit layout for the barrel pixel:
``det(4 bits @28) = 1 (tracker) | subdet(3 @25) = 1 (PXB) | layer(4 @20) | ladder(8 @12) | module(6 @2)``,
layer 1-4, ladder 1-N, module 1-8 (1-9 for phase2), so module ordering by detId is (layer, ladder, module).
Forward pixel (PXF): ``det 1 | subdet(3 @25) = 2 | side(2 @23) | disk(4 @18) | blade(6 @12) | panel(2 @10) |
module(6 @2)``, side 1 = -z, 2 = +z; disk 1-3; blade 1-22 inner ring, 23-56 outer ring; panel 1-2; module 1.
"""
from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass, field

import numpy as np

DET_TRACKER = 1
SUBDET_PXB = 1
SUBDET_PXF = 2
LAYER_SHIFT, LAYER_MASK = 20, 0xF
LADDER_SHIFT, LADDER_MASK = 12, 0xFF
MODULE_SHIFT, MODULE_MASK = 2, 0x3F


def encode_detid(layer, ladder, module):
    """detId (uint32) from 1-based layer, ladder, module (scalars or arrays)."""
    layer = np.asarray(layer, dtype=np.uint32)
    ladder = np.asarray(ladder, dtype=np.uint32)
    module = np.asarray(module, dtype=np.uint32)
    d = (np.uint32(DET_TRACKER << 28) | np.uint32(SUBDET_PXB << 25) | (layer << np.uint32(LAYER_SHIFT))
         | (ladder << np.uint32(LADDER_SHIFT)) | (module << np.uint32(MODULE_SHIFT)))
    return d.astype(np.uint32)


def decode_detid(detid):
    """(layer, ladder, module) arrays (1-based) from detIds."""
    d = np.asarray(detid, dtype=np.uint32)
    return ((d >> LAYER_SHIFT) & LAYER_MASK).astype(np.int64), ((d >> LADDER_SHIFT) & LADDER_MASK).astype(np.int64), \
        ((d >> MODULE_SHIFT) & MODULE_MASK).astype(np.int64)


def encode_detid_pxf(side, disk, blade, panel, module=1):
    """Forward-pixel detId from 1-based side (1: -z, 2: +z), disk, blade, panel, module."""
    a = [np.asarray(x, dtype=np.uint32) for x in (side, disk, blade, panel, module)]
    d = (np.uint32(DET_TRACKER << 28) | np.uint32(SUBDET_PXF << 25) | (a[0] << np.uint32(23))
         | (a[1] << np.uint32(18)) | (a[2] << np.uint32(12)) | (a[3] << np.uint32(10)) | (a[4] << np.uint32(2)))
    return d.astype(np.uint32)


def decode_detid_pxf(detid):
    """(side, disk, blade, panel, module) of forward-pixel detIds."""
    d = np.asarray(detid, dtype=np.uint32)
    return tuple(((d >> sh) & mk).astype(np.int64) for sh, mk in ((23, 0x3), (18, 0xF), (12, 0x3F), (10, 0x3), (2, 0x3F)))


def detid_layer(detid):
    """Barrel layer (1-4) of each detId; 0 for forward (PXF) detIds."""
    d = np.asarray(detid, dtype=np.uint32)
    lay = ((d >> LAYER_SHIFT) & LAYER_MASK).astype(np.int64)
    return np.where(((d >> 25) & 0x7) == SUBDET_PXB, lay, 0)


def is_barrel(detid):
    d = np.asarray(detid, dtype=np.uint32)
    return ((d >> 25) & 0x7) == SUBDET_PXB


class _SensorPlane:
    """Width (rows x row pitch) and length (cols x column pitch) of a sensor, in cm."""

    @property
    def width_cm(self):
        return self.rows * self.pitch_row_um * 1e-4

    @property
    def length_cm(self):
        return self.cols * self.pitch_col_um * 1e-4


@dataclass(frozen=True)
class BarrelLayer(_SensorPlane):
    radius_cm: float
    n_ladders: int
    n_modules_z: int
    rows: int
    cols: int
    pitch_row_um: float
    pitch_col_um: float
    module_pitch_z_cm: float
    threshold_e: float
    stagger_cm: float = 0.2


@dataclass(frozen=True)
class DiskRing(_SensorPlane):
    r_center_cm: float
    n_blades: int
    rows: int = 160
    cols: int = 416
    pitch_row_um: float = 100.0
    pitch_col_um: float = 150.0
    threshold_e: float = 1200.0


@dataclass(frozen=True)
class PixelGeometry:
    name: str
    layers: tuple
    thickness_um: float
    bfield_t: float
    tan_lorentz: float
    diffusion_um: float      # sigma of the diffusion for a drift over the full thickness
    noise_e: float
    electrons_per_adc: float
    adc_max: int
    mpv_e: float             # most probable charge of a MIP at normal incidence
    beam_sigma_z_cm: float = 4.5
    beam_sigma_xy_cm: float = 0.0015
    description: str = ""
    disk_z_cm: tuple = ()          # |z| of the forward disks (empty: barrel only)
    disk_rings: tuple = ()         # DiskRing per ring (inner first)
    panel_dz_cm: float = 0.35
    extra: dict = field(default_factory=dict, hash=False, compare=False)

    @property
    def n_layers(self):
        return len(self.layers)

    @functools.cached_property
    def modules(self) -> "ModuleTable":
        return ModuleTable.build(self)

    def half_length_cm(self, layer_index: int) -> float:
        L = self.layers[layer_index]
        return 0.5 * L.n_modules_z * L.module_pitch_z_cm


@dataclass
class ModuleTable:
    """Flat arrays over all modules, ordered by detId (= by layer, ladder, module)."""

    detid: np.ndarray
    layer: np.ndarray        # 0-based layer index
    ladder: np.ndarray       # 0-based
    module: np.ndarray       # 0-based
    phi: np.ndarray          # normal direction of the ladder plane
    dist_cm: np.ndarray      # distance of the plane from the beam line
    zc_cm: np.ndarray        # module centre in z
    rows: np.ndarray
    cols: np.ndarray
    pitch_row_cm: np.ndarray
    pitch_col_cm: np.ndarray
    threshold_e: np.ndarray
    layer_offset: np.ndarray  # index of the first module of each layer
    is_disk: np.ndarray = None     # True for forward-disk modules (after all barrel modules)
    disk_offset: int = 0           # index of the first disk module

    @classmethod
    def build(cls, geo: PixelGeometry) -> "ModuleTable":
        cols = {k: [] for k in ("detid", "layer", "ladder", "module", "phi", "dist_cm", "zc_cm", "rows", "cols",
                                "pitch_row_cm", "pitch_col_cm", "threshold_e")}
        offs = []
        n = 0
        for li, L in enumerate(geo.layers):
            offs.append(n)
            lad = np.repeat(np.arange(L.n_ladders), L.n_modules_z)
            mod = np.tile(np.arange(L.n_modules_z), L.n_ladders)
            m = lad.size
            n += m
            cols["detid"].append(encode_detid(np.full(m, li + 1), lad + 1, mod + 1))
            cols["layer"].append(np.full(m, li))
            cols["ladder"].append(lad)
            cols["module"].append(mod)
            cols["phi"].append(2 * np.pi * lad / L.n_ladders)
            cols["dist_cm"].append(L.radius_cm + np.where(lad % 2 == 0, -L.stagger_cm, L.stagger_cm))
            cols["zc_cm"].append((mod - 0.5 * (L.n_modules_z - 1)) * L.module_pitch_z_cm)
            cols["rows"].append(np.full(m, L.rows))
            cols["cols"].append(np.full(m, L.cols))
            cols["pitch_row_cm"].append(np.full(m, L.pitch_row_um * 1e-4))
            cols["pitch_col_cm"].append(np.full(m, L.pitch_col_um * 1e-4))
            cols["threshold_e"].append(np.full(m, L.threshold_e))
        n_barrel = n
        # forward disks: order by detId = (side, disk, blade, panel)
        for side in (1, 2):
            for di, zabs in enumerate(geo.disk_z_cm):
                blade0 = 0
                for ring in geo.disk_rings:
                    nb = ring.n_blades
                    for panel in (1, 2):
                        bl = np.arange(nb)
                        m = nb
                        cols["detid"].append(encode_detid_pxf(np.full(m, side), np.full(m, di + 1),
                                                              blade0 + bl + 1, np.full(m, panel)))
                        cols["layer"].append(np.full(m, -1))
                        cols["ladder"].append(blade0 + bl)
                        cols["module"].append(np.full(m, panel - 1))
                        cols["phi"].append(2 * np.pi * (bl + 0.5 * (panel - 1)) / nb)
                        cols["dist_cm"].append(np.full(m, ring.r_center_cm))
                        zsign = -1.0 if side == 1 else 1.0
                        zp = zsign * zabs + (panel - 1.5) * 2 * geo.panel_dz_cm
                        cols["zc_cm"].append(np.full(m, zp))
                        cols["rows"].append(np.full(m, ring.rows))
                        cols["cols"].append(np.full(m, ring.cols))
                        cols["pitch_row_cm"].append(np.full(m, ring.pitch_row_um * 1e-4))
                        cols["pitch_col_cm"].append(np.full(m, ring.pitch_col_um * 1e-4))
                        cols["threshold_e"].append(np.full(m, ring.threshold_e))
                        n += m
                    blade0 += nb
        arr = {k: np.concatenate(v) for k, v in cols.items()}
        order = np.argsort(arr["detid"], kind="stable")
        arr = {k: v[order] for k, v in arr.items()}
        is_disk = np.zeros(n, bool)
        is_disk[n_barrel:] = True
        return cls(layer_offset=np.array(offs), is_disk=is_disk[order], disk_offset=n_barrel, **arr)

    def __len__(self):
        return self.detid.size

    def index_of(self, detid):
        """Module index for detIds (ValueError for unknown ids)."""
        detid = np.asarray(detid, dtype=np.uint32)
        idx = np.searchsorted(self.detid, detid)
        idx = np.clip(idx, 0, len(self) - 1)
        if not np.all(self.detid[idx] == detid):
            bad = detid[self.detid[idx] != detid][:3]
            raise ValueError(f"unknown detId(s) {bad.tolist()}")
        return idx


PHASE1 = PixelGeometry(
    name="phase1",
    layers=(
        # Phase-1 thresholds after 2017: ~1.6 ke in layer 1 (PROC600), ~1.0-1.2 ke in layers 2-4
        BarrelLayer(2.9, 12, 8, 160, 416, 100.0, 150.0, 6.68, 1600.0),
        BarrelLayer(6.8, 28, 8, 160, 416, 100.0, 150.0, 6.68, 1200.0),
        BarrelLayer(10.9, 44, 8, 160, 416, 100.0, 150.0, 6.68, 1200.0),
        BarrelLayer(16.0, 64, 8, 160, 416, 100.0, 150.0, 6.68, 1200.0),
    ),
    thickness_um=285.0, bfield_t=3.8, tan_lorentz=0.40, diffusion_um=7.0, noise_e=120.0,
    electrons_per_adc=135.0, adc_max=255, mpv_e=21500.0, beam_sigma_z_cm=4.5,
    description="CMS Phase-1 barrel pixel (BPix)",
)

PHASE2 = PixelGeometry(
    name="phase2",
    layers=(
        BarrelLayer(3.0, 12, 9, 672, 432, 25.0, 100.0, 4.45, 1000.0, stagger_cm=0.15),
        BarrelLayer(6.1, 24, 9, 672, 432, 25.0, 100.0, 4.45, 1000.0, stagger_cm=0.15),
        BarrelLayer(10.4, 24, 9, 1344, 432, 25.0, 100.0, 4.45, 1000.0, stagger_cm=0.15),
        BarrelLayer(14.6, 32, 9, 1344, 432, 25.0, 100.0, 4.45, 1000.0, stagger_cm=0.15),
    ),
    # 150 um planar sensors, 4-bit ToT readout (CROC); ~600 e per ToT count, saturating at 15
    thickness_um=150.0, bfield_t=3.8, tan_lorentz=0.15, diffusion_um=5.0, noise_e=80.0,
    electrons_per_adc=600.0, adc_max=15, mpv_e=10500.0, beam_sigma_z_cm=5.0,
    description="Phase-2 Inner Tracker-like barrel (TBPX), 25 x 100 um pixels",
)

PHASE1_FPIX = dataclasses.replace(
    PHASE1, name="phase1_fpix", disk_z_cm=(29.1, 39.6, 51.6),
    disk_rings=(DiskRing(7.75, 22), DiskRing(12.85, 34)),
    description="CMS Phase-1 barrel pixel + forward disks (flat blades)")

GEOMETRIES = {"phase1": PHASE1, "phase2": PHASE2, "phase1_fpix": PHASE1_FPIX}


def get_geometry(geometry="phase1") -> PixelGeometry:
    if isinstance(geometry, PixelGeometry):
        return geometry
    try:
        return GEOMETRIES[str(geometry).lower()]
    except KeyError:
        raise ValueError(f"unknown pixel geometry {geometry!r}; choose from {sorted(GEOMETRIES)}") from None


def module_shape(detid, geometry="phase1"):
    """(rows, cols) of the module(s) with these detIds; vectorised (arrays in, arrays out)."""
    geo = get_geometry(geometry)
    d = np.asarray(detid, dtype=np.uint32)
    barrel = is_barrel(d)
    layer = detid_layer(d) - 1
    fwd = ((d >> 25) & 0x7) == SUBDET_PXF
    if np.any(barrel & ((layer < 0) | (layer >= geo.n_layers))) or np.any(~barrel & ~fwd) or \
            (np.any(fwd) and not geo.disk_rings):
        raise ValueError("detId outside the pixel detector of geometry " + geo.name)
    lr = np.clip(layer, 0, geo.n_layers - 1)
    rows = np.array([L.rows for L in geo.layers])[lr]
    cols = np.array([L.cols for L in geo.layers])[lr]
    if np.any(fwd):
        blade = decode_detid_pxf(d)[2] - 1
        edges = np.cumsum([r.n_blades for r in geo.disk_rings])
        ring = np.clip(np.searchsorted(edges, blade, side="right"), 0, len(edges) - 1)
        rows = np.where(fwd, np.array([r.rows for r in geo.disk_rings])[ring], rows)
        cols = np.where(fwd, np.array([r.cols for r in geo.disk_rings])[ring], cols)
    if np.ndim(detid) == 0:
        return int(rows), int(cols)
    return rows, cols


def all_detids(geometry="phase1") -> np.ndarray:
    return get_geometry(geometry).modules.detid.copy()
