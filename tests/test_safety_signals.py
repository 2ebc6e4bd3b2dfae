"""Data safety under faults (issue 11): termination signals and concurrent writers, with real hepvq-run
subprocesses. A producer defined in the cfg holds the job at its first chunk (after every output created its
temporary file) until the test lets it go, so the faults land at a known point without sleeps."""
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import uproot

from conftest import make_pixel_events, write_uproot

TIMEOUT = 60


def barrier_cfg(tmp_path: Path, out: Path, wait: bool = True) -> Path:
    """Copy job whose producer touches `started` at its first chunk, then waits for `go` (when `wait`)."""
    cfg = tmp_path / ("barrier_cfg.py" if wait else "nowait_cfg.py")
    cfg.write_text(textwrap.dedent(f"""\
        import os, time
        import hepvq.config as cms
        from hepvq.framework import EDProducer, register_module

        class Barrier(EDProducer):
            def produce(self, chunk):
                open({str(tmp_path / 'started')!r}, "w").close()
                deadline = time.time() + {TIMEOUT}
                while {wait!r} and not os.path.exists({str(tmp_path / 'go')!r}) and time.time() < deadline:
                    time.sleep(0.02)

        register_module(Barrier, name="SafetyTestBarrier")
        process = cms.Process("BARRIER")
        process.source = cms.Source("RootSource", fileNames=cms.untracked.vstring({str(tmp_path / 'in.root')!r}))
        process.options = cms.untracked.PSet(chunkSize=cms.untracked.int32(10))
        process.barrier = cms.EDProducer("SafetyTestBarrier")
        process.out = cms.OutputModule("RootOutputModule", fileName=cms.untracked.string({str(out)!r}),
                                       outputCommands=cms.untracked.vstring("keep PixelDigi"))
        process.p = cms.Path(process.barrier)
        process.e = cms.EndPath(process.out)
        """))
    return cfg


def default_sigint():
    """Give the child SIGINT's default action: a shell running the tests in the background (`cmd &` without job
    control) starts them with SIGINT ignored, which Python and every child would inherit."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def start(cfg: Path, *args) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "hepvq.cli.run", str(cfg), "--no-progress", *map(str, args)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=default_sigint)


def wait_for(path: Path, proc: subprocess.Popen):
    deadline = time.time() + TIMEOUT
    while not path.exists():
        if proc.poll() is not None:
            raise AssertionError(f"job ended early ({proc.returncode}): {proc.stderr.read()}")
        assert time.time() < deadline, "job never reached its first chunk"
        time.sleep(0.02)


def files(d: Path) -> list[str]:
    return sorted(p.name for p in d.iterdir())


@pytest.fixture
def job_dir(tmp_path):
    write_uproot(tmp_path / "in.root", make_pixel_events(40))
    return tmp_path


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT], ids=lambda s: s.name)
def test_termination_signal_removes_every_temporary(job_dir, sig):
    out = job_dir / "out.root"
    proc = start(barrier_cfg(job_dir, out))
    try:
        wait_for(job_dir / "started", proc)
        assert any(".tmp-" in n for n in files(job_dir)) and "out.root.lock" in files(job_dir)
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=TIMEOUT)
    finally:
        proc.kill()
    assert proc.returncode == 128 + sig, err
    assert err.strip().splitlines()[-1] in (f"hepvq-run: terminated by {sig.name}", "hepvq-run: interrupted"), err
    assert "Traceback" not in err
    assert files(job_dir) == ["barrier_cfg.py", "in.root", "started"]


def test_second_writer_of_the_same_output_fails_in_one_line(job_dir):
    out = job_dir / "out.root"
    first = start(barrier_cfg(job_dir, out))
    try:
        wait_for(job_dir / "started", first)
        second = subprocess.run([sys.executable, "-m", "hepvq.cli.run", str(barrier_cfg(job_dir, out, wait=False)),
                                 "--no-progress", "maxEvents=5"], capture_output=True, text=True, timeout=TIMEOUT)
        (job_dir / "go").touch()
        _, err = first.communicate(timeout=TIMEOUT)
    finally:
        first.kill()
    lines = second.stderr.strip().splitlines()
    assert second.returncode == 1 and len(lines) == 1, second.stderr
    assert f"output file {out} is being written by another job (pid {first.pid}" in lines[0]
    assert first.returncode == 0, err
    with uproot.open(out) as f:  # the first job's output, whole
        assert f["Events"].num_entries == 40
    assert not any(".tmp-" in n or n.endswith(".lock") for n in files(job_dir))


def test_stale_lock_of_a_killed_job_is_taken_over(job_dir):
    out = job_dir / "out.root"
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    import socket

    (job_dir / "out.root.lock").write_text(f"{dead.pid} {socket.gethostname()}\n")
    proc = start(barrier_cfg(job_dir, out, wait=False))
    _, err = proc.communicate(timeout=TIMEOUT)
    assert proc.returncode == 0, err
    assert not (job_dir / "out.root.lock").exists()
    with uproot.open(out) as f:
        assert f["Events"].num_entries == 40


def test_lock_taken_over_during_the_job_blocks_the_rename(job_dir):
    """Re-check before the rename: if another job took the lock meanwhile, this one does not commit."""
    out = job_dir / "out.root"
    proc = start(barrier_cfg(job_dir, out))
    try:
        wait_for(job_dir / "started", proc)
        (job_dir / "out.root.lock").write_text(f"{os.getpid()} another-host\n")
        (job_dir / "go").touch()
        _, err = proc.communicate(timeout=TIMEOUT)
    finally:
        proc.kill()
    assert proc.returncode == 1 and len(err.strip().splitlines()) == 1, err
    assert f"output file {out} is being written by another job (pid {os.getpid()} on another-host" in err
    assert not out.exists() and not any(".tmp-" in n for n in files(job_dir))
    assert (job_dir / "out.root.lock").read_text().startswith(str(os.getpid()))  # the other job's lock stays


@pytest.mark.parametrize("jobs", [1, 2])
def test_simulate_sigterm_removes_its_temporary(tmp_path, jobs):
    out = tmp_path / "sim.root"
    proc = subprocess.Popen([sys.executable, "-m", "hepvq.cli.simulate", "pixel", "--events", "100000", "--pileup",
                             "20", "--chunk", "1", "--jobs", str(jobs), "--quiet", "-o", str(out)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + TIMEOUT
        while not any(".tmp-" in n for n in files(tmp_path)):
            assert proc.poll() is None, proc.stderr.read()
            assert time.time() < deadline, "no temporary file appeared"
            time.sleep(0.02)
        time.sleep(0.5)  # inside the event loop (workers started)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=TIMEOUT)
    finally:
        proc.kill()
    assert proc.returncode == 128 + signal.SIGTERM, err
    assert err.strip().splitlines()[-1] == "hepvq-simulate: terminated by SIGTERM" and "Traceback" not in err, err
    assert files(tmp_path) == []
