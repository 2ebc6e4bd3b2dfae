"""TPC simulator: schema, zero suppression, ranges, occupancy control, determinism."""
from __future__ import annotations

import awkward as ak
import numpy as np
import pytest

from hepvq.sim import tpc
from hepvq.sim import validation as V


@pytest.fixture(scope="module")
def default_event():
    return tpc.simulate_events(1, seed=3)


def test_schema(default_event):
    ev = default_event
    assert str(ak.type(ev).content) == ("{run: uint32, luminosityBlock: uint32, event: uint64, "
                                        "TpcHit: var * {sector: uint16, layer: uint16, phi: uint16, z: uint16, "
                                        "adc: uint16}}")


def test_zero_suppression_and_ranges(default_event):
    h = ak.flatten(default_event.TpcHit)
    adc = ak.to_numpy(h.adc)
    assert adc.min() >= tpc.ZS_THRESHOLD and adc.max() <= tpc.ADC_MAX
    assert ak.max(h.sector) <= 23 and ak.max(h.phi) <= 191 and ak.max(h.z) <= 248 and ak.max(h.layer) <= 15
    key = ((ak.to_numpy(h.sector).astype(np.int64) * 16 + ak.to_numpy(h.layer)) * 192
           + ak.to_numpy(h.phi)) * 249 + ak.to_numpy(h.z)
    assert np.all(np.diff(key) > 0), "sorted by (sector, layer, phi, z), no duplicate voxel"


def test_default_occupancy_realistic(default_event):
    s = V.tpc_summary(default_event)
    # published occupancy of the sPHENIX central Au+Au + pile-up data set: 10.8 %
    assert 0.05 < s["occupancy"] < 0.2
    assert s["adc_saturated_fraction"] < 0.1
    assert np.all(s["occupancy_per_sector"] > 0.02)


@pytest.mark.parametrize("target", [1e-3, 1e-2])
def test_occupancy_control(target):
    ev = tpc.simulate_events(2, seed=8, occupancy=target)
    occ = V.tpc_summary(ev)["occupancy"]
    assert target / 2 < occ < target * 2


def test_tiny_occupancy_and_bad_values():
    ev = tpc.simulate_events(1, seed=1, occupancy=1e-6)
    assert ak.num(ev.TpcHit)[0] < 5000
    with pytest.raises(ValueError):
        tpc.simulate_events(1, seed=1, occupancy=0.9)


def test_determinism_chunks_and_sectors():
    a = tpc.simulate_events(2, seed=4, occupancy=1e-3, chunk=2)
    b = tpc.simulate_events(2, seed=4, occupancy=1e-3, chunk=1)
    assert ak.to_list(a) == ak.to_list(b)
    c = tpc.simulate_events(2, seed=5, occupancy=1e-3)
    assert ak.to_list(a.TpcHit) != ak.to_list(c.TpcHit)
    s = tpc.simulate_events(2, seed=4, occupancy=1e-3, sectors=(0, 13))
    assert set(np.unique(ak.to_numpy(ak.flatten(s.TpcHit.sector)))) <= {0, 13}
    full = a.TpcHit[(a.TpcHit.sector == 0) | (a.TpcHit.sector == 13)]
    assert ak.to_list(full) == ak.to_list(s.TpcHit)


def test_dense_sector_shape(default_event):
    vol = tpc.dense_sector(default_event.TpcHit[0], 5)
    assert vol.shape == (192, 249, 16)
    assert vol.max() <= 1023 and np.count_nonzero(vol) > 0
