"""The main job's chunk size (python_cfg/premix_compress_cfg.py, chosen for peak memory) changes nothing in
what it writes: the same branches, byte for byte, for chunks of 3 events and of the default size (4 events:
two chunks and one)."""
from pathlib import Path

import uproot

from hepvq.cli.run import main

REPO = Path(__file__).resolve().parents[1]
CFG = REPO / "python_cfg" / "premix_compress_cfg.py"
SAMPLE = REPO / "data" / "pixel_pu200_sample.root"


def _branches(path):
    t = uproot.open(path)["Events"]
    return {name: t[name].array(library="np") for name in t.keys()}


def test_main_job_output_does_not_depend_on_chunk_size(tmp_path, capsys):
    out = {}
    for size in ("3", None):
        path = tmp_path / f"c{size}.root"
        argv = [str(CFG), f"inputFiles={SAMPLE}", f"outputFile={path}", "--no-progress", "maxEvents=4",
                "pixelVQ.validate=False"]
        assert main(argv + ([f"options.chunkSize={size}"] if size else [])) == 0, capsys.readouterr().err
        out[size] = _branches(path)
    assert "chunkSize = cms.untracked.int32(10)" in str(uproot.open(tmp_path / "cNone.root")["hepvq_cfg"])
    assert sorted(out["3"]) == sorted(out[None]) and any(k.startswith("pixelVQ_s_") for k in out["3"])
    for name, values in out["3"].items():
        got = out[None][name]
        assert len(values) == len(got) == 4
        assert all(a.tobytes() == b.tobytes() for a, b in zip(values, got)) if values.dtype == object \
            else values.tobytes() == got.tobytes(), name
