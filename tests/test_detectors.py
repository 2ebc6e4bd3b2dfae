"""The detector description has one home (hepvq.detectors): the framework's RootSource and the hepvq-bench
harness read the shipped samples into the same fields, dtypes and values."""
import awkward as ak
import numpy as np
import pytest

import hepvq.config as cms
from hepvq.bench import suite
from hepvq.detectors import DETECTORS
from hepvq.framework import JobContext
from hepvq.framework.processor import validate_module


@pytest.mark.parametrize("detector,path", [("pixel", "data/pixel_pu200_sample.root"), ("tpc", "data/tpc_sample.root")])
def test_source_and_bench_read_the_same_hits(detector, path):
    d = DETECTORS[detector]
    cls, p = validate_module(cms.Source("RootSource", fileNames=cms.untracked.vstring(path)), "source")
    src = cls("source", p, JobContext())
    src.beginJob()
    (chunk,) = list(src.chunks(1, 1))
    hits = chunk.get(d["collection"])
    sample = suite.load_sample(detector, path, 1)
    assert sample.n_hits > 0 and list(hits.fields) == list(d["dtypes"])
    for field, dtype in d["dtypes"].items():
        col = ak.to_numpy(ak.flatten(hits[field]))
        assert col.dtype == dtype and sample.cols[field].dtype == dtype, field
        np.testing.assert_array_equal(col, sample.cols[field])
