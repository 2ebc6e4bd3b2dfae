"""Progress bars: rate and ETA on a terminal, nothing when stderr is not one; hepvq-run's bar counts events and
moves within a chunk."""
import fcntl
import os
import pty
import struct
import subprocess
import sys
import termios
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _on_a_terminal(code: str, timeout=120) -> str:
    """Run python code with stderr on a pseudo-terminal; return what it wrote there."""
    master, slave = pty.openpty()
    # a real terminal's size (a fresh pty is 0 x 0, where tqdm draws nothing)
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 120, 0, 0))
    proc = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=slave, cwd=REPO)
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 4096)
        except OSError:  # the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    proc.wait(timeout=timeout)
    os.close(master)
    assert proc.returncode == 0
    return b"".join(chunks).decode(errors="replace")


KMEANS = ("import torch; from hepvq.models.vq import residual_kmeans; "
          "x = torch.rand(4000, 8); residual_kmeans(x, [16, 4], iters=6, quiet=False)")


@pytest.mark.slow  # two fresh interpreters importing torch
def test_bar_with_rate_and_eta_on_a_terminal():
    pytest.importorskip("torch")
    out = _on_a_terminal(KMEANS)
    assert "k-means" in out and "12/12" in out  # 2 stages x 6 iterations, converged stages included
    assert "iter/s" in out or "s/iter" in out   # rate
    assert "<" in out                           # elapsed<remaining


def test_quiet_when_stderr_is_not_a_terminal():
    pytest.importorskip("torch")
    r = subprocess.run([sys.executable, "-c", KMEANS], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert r.returncode == 0 and r.stderr == ""


def test_progress_helper_follows_the_terminal(capsys):
    from hepvq.progress import bar

    assert bar(total=3).disable  # pytest captures stderr: not a terminal
    assert bar(total=3, quiet=True).disable


def test_run_bar_counts_events_within_a_chunk(tmp_path, monkeypatch):
    """10 events in one chunk of 20: the bar moves as each module finishes, and ends at exactly 10 events."""
    import hepvq.config as cms
    from hepvq.framework import processor

    updates = []

    class Recorder:
        n = 0.0

        def update(self, k):
            self.n += k
            updates.append(self.n)

        def set_postfix_str(self, *a, **k):
            pass

        def close(self):
            pass

    monkeypatch.setattr(processor, "_progress", lambda total, enabled: Recorder() if enabled else None)
    process = cms.load_cfg(str(REPO / "python_cfg" / "copy_cfg.py"))
    process.source.fileNames = cms.untracked.vstring(str(REPO / "data" / "pixel_pu200_sample.root"))
    process.options.chunkSize = cms.untracked.int32(20)
    process.out.fileName = cms.untracked.string(str(tmp_path / "copy.root"))
    process.options.wantSummary = cms.untracked.bool(False)
    processor.EventProcessor(process, progress=True).run()
    assert updates[-1] == pytest.approx(10)
    assert any(0 < u < 10 for u in updates)  # moved before the chunk was done
    assert updates == sorted(updates)
