"""benchmarks/bench_speed.py's arithmetic and report: medians of the interleaved runs, ratios against the uproot
peer of the same run, the issue-13 target table with the CPU-time ratio beside each wall ratio."""
import importlib.util
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_speed", REPO / "benchmarks" / "bench_speed.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def runs(wall, cpu, mb):
    return [{"wall_s": wall * f, "cpu_s": cpu * f, "peak_mb": mb} for f in (1.0, 3.0, 1.1)]  # median: f = 1.1


def test_summary_ratios_and_report(bench):
    times = {"uproot_read": runs(1.0, 1.0, 100), "uproot_copy": runs(2.0, 2.0, 200), "compress": runs(2.8, 4.0, 380),
             "compress_validate": runs(4.2, 5.0, 500), "hepvq_read": runs(1.2, 1.5, 150),
             "decompress": runs(2.6, 3.0, 250)}
    s = bench.summarise(times)
    assert s["compress"]["wall_s"] == pytest.approx(2.8 * 1.1)
    r = s["ratios"]
    assert r["compress / uproot read+write (wall)"] == pytest.approx(1.4)
    assert r["compress validate / uproot read+write (CPU)"] == pytest.approx(2.5)
    assert r["hepvq.open().arrays() / uproot read (wall)"] == pytest.approx(1.2)
    assert r["compress / uproot read+write (peak memory)"] == pytest.approx(1.9)
    core = {"hits": 1000, "encode_hits_per_s_1t": 1e6, "encode_hits_per_s_2t": 1.8e6, "decode_hits_per_s_1t": 8e6,
            "decode_hits_per_s_2t": 1.5e7, "zstd5_compress_hits_per_s": 4e6, "zstd5_decompress_hits_per_s": 3.2e7}
    md = bench.markdown({"events": 40, "runs": 3, "threads": 2, "input_mb": 9.1, "load_before": 0.2,
                         "load_after": 0.4, "command": "python benchmarks/bench_speed.py", "summary": s,
                         "core": core})
    assert "| compress / uproot read+write (wall) | <= 1.5 | 1.40 | yes | 2.00 |" in md
    assert "| hepvq.open().arrays() / uproot read (wall) | <= 1.0 | 1.20 | no | 1.50 |" in md
    assert "| compress / uproot read+write (peak memory) | <= 2.0 | 1.90 | yes |  |" in md
    assert "on 2 thread(s)" in md and "load average 0.2 before / 0.4 after" in md
    assert "pixel_vq encode 0.25x zstd-5 compress's speed, decode 0.25x" in md


def test_update_docs_keeps_the_hand_written_part(bench, tmp_path, monkeypatch):
    """--update-docs rewrites the measured part of docs/speed.md and keeps what follows the marker."""
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "speed.md").write_text("old tables\n" + bench.HAND_WRITTEN + "\n## History\nkept\n")
    monkeypatch.setattr(bench, "REPO", tmp_path)
    monkeypatch.setattr(bench, "plot", lambda result, png: None)
    bench.write_docs({}, "new tables\n")
    text = (tmp_path / "docs" / "speed.md").read_text()
    assert "new tables" in text and "old tables" not in text and text.endswith(bench.HAND_WRITTEN + "\n## History\nkept\n")
