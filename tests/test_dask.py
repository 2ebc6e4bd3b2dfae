"""hepvq.dask(files): lazy dask-awkward reading of hepvq output, computed on a distributed.LocalCluster."""
import awkward as ak
import numpy as np
import pytest

pytest.importorskip("dask_awkward")
distributed = pytest.importorskip("distributed")
reading = pytest.importorskip("hepvq.io.reading")


def _write(path, n, seed):
    """A hepvq output file with a plain (not encoded) PixelDigi collection: hepvq.open passes it through."""
    import uproot

    from hepvq.io.metadata import make_provenance, write_metadata

    rng = np.random.default_rng(seed)
    counts = rng.integers(0, 60, n)
    tot = int(counts.sum())
    digis = ak.zip({"detId": ak.unflatten(rng.integers(0, 2000, tot).astype(np.uint32), counts),
                    "row": ak.unflatten(rng.integers(0, 160, tot).astype(np.uint16), counts),
                    "col": ak.unflatten(rng.integers(0, 416, tot).astype(np.uint16), counts),
                    "adc": ak.unflatten(rng.integers(10, 256, tot).astype(np.uint16), counts)})
    ids = {"run": np.ones(n, np.uint32), "luminosityBlock": np.ones(n, np.uint32),
           "event": np.arange(seed * 1000, seed * 1000 + n, dtype=np.uint64)}
    with uproot.recreate(path) as f:
        t = f.mktree("Events", {**{k: v.dtype for k, v in ids.items()}, "PixelDigi": digis.type.content})
        t.extend({**ids, "PixelDigi": digis})
        write_metadata(f, make_provenance(process_name="TEST", products=[{"prefix": "PixelDigi"}]), "", {})
    return ids, digis


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("dask")
    out = []
    for i, n in enumerate([37, 0, 25]):
        path = d / f"part{i}.root"
        ids, digis = _write(path, n, i + 1)
        out.append((path, ids, digis))
    return out


def test_lazy_graph_and_divisions(files):
    import hepvq

    arr = hepvq.dask([str(p) for p, _, _ in files], step_size=10)
    # 37 entries -> 4 partitions, the empty file -> 1 empty partition, 25 -> 3
    assert arr.npartitions == 8
    assert arr.divisions == (0, 10, 20, 30, 37, 37, 47, 57, 62)
    assert set(arr.fields) >= {"run", "event", "PixelDigi"}
    assert set(arr.PixelDigi.fields) == {"detId", "row", "col", "adc"}


def test_compute_on_local_cluster(files):
    import hepvq

    paths = [str(p) for p, _, _ in files]
    want_adc = np.concatenate([ak.to_numpy(ak.sum(d.adc, axis=1)) for _, _, d in files])
    want_events = np.concatenate([ids["event"] for _, ids, _ in files])
    # processes=True: the reader and the graph really travel to another process (pickling is tested)
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            distributed.Client(cluster):
        arr = hepvq.dask(paths, step_size=16)
        adc_sum = ak.sum(arr.PixelDigi.adc, axis=1).compute()
        events = arr.event.compute()
        n_hits = ak.sum(ak.num(arr.PixelDigi, axis=1)).compute()
    np.testing.assert_array_equal(ak.to_numpy(adc_sum), want_adc)
    np.testing.assert_array_equal(ak.to_numpy(events), want_events)
    assert n_hits == sum(len(ak.flatten(d.adc)) for _, _, d in files)


def test_glob_and_errors(files, tmp_path):
    import hepvq
    from hepvq.errors import InputError

    pattern = str(files[0][0].parent / "part*.root")
    arr = hepvq.dask(pattern, step_size=100)
    assert arr.npartitions == 3
    assert len(arr.compute()) == 62
    with pytest.raises(InputError, match="no file matches"):
        hepvq.dask(str(tmp_path / "nothing*.root"))
    with pytest.raises(InputError, match="does not exist"):
        hepvq.dask(str(tmp_path / "missing.root"))
    with pytest.raises(ValueError):
        hepvq.dask(pattern, step_size=0)


def test_compressed_pixel_file_on_cluster(tmp_path):
    """A real pixel_vq-compressed file: the codec (ONNX decoder session) is rebuilt on the worker process and the
    result equals hepvq.open(...).arrays()."""
    import subprocess
    import sys
    from pathlib import Path

    import hepvq

    repo = Path(__file__).resolve().parents[1]
    cfg = repo / "python_cfg" / "premix_compress_cfg.py"
    if not cfg.exists() or not (repo / "data" / "models" / "pixel_vq").is_dir():
        pytest.skip("premix_compress_cfg.py or the pixel_vq model is not there yet")
    out = tmp_path / "compressed.root"
    proc = subprocess.run([sys.executable, "-m", "hepvq.cli.run", str(cfg), f"outputFile={out}", "maxEvents=2"],
                          cwd=repo, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]
    with hepvq.open(out) as reader:
        want = reader.arrays()
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            distributed.Client(cluster):
        arr = hepvq.dask(str(out), step_size=1)
        assert arr.npartitions == 2
        got = arr.compute()
    assert ak.to_list(got.event) == ak.to_list(want.event)
    for field in want.PixelDigi.fields:
        np.testing.assert_array_equal(ak.to_numpy(ak.flatten(got.PixelDigi[field])),
                                      ak.to_numpy(ak.flatten(want.PixelDigi[field])))
