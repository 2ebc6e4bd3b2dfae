"""What a newcomer meets on the command line: --version on every console script, help that says what each
subcommand does with the defaults shown, the right prog names, fast help (no torch before parsing) and
arguments refused before any work."""
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

import hepvq

REPO = Path(__file__).resolve().parents[1]
SCRIPTS = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
DISPATCHERS = {"hepvq-train": "hepvq.cli.train", "hepvq-export": "hepvq.cli.export"}


def _script(name, *args):
    """Call a console script's entry point in this process, as its launcher would -> (status, stdout, stderr).
    Whether torch got imported is checked in a fresh interpreter (test_no_torch_before_parsing)."""
    import contextlib
    import importlib
    import io

    mod, func = SCRIPTS[name].split(":")
    out, err = io.StringIO(), io.StringIO()
    argv0 = sys.argv[0]
    sys.argv[0] = name
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                rc = getattr(importlib.import_module(mod), func)(list(args))
            except SystemExit as exc:
                rc = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    finally:
        sys.argv[0] = argv0
    return subprocess.CompletedProcess([name, *args], int(rc or 0), out.getvalue(), err.getvalue())


def test_every_console_script_is_covered():
    assert {"hepvq-run", "hepvq-simulate", "hepvq-train", "hepvq-export", "hepvq-bench"} <= set(SCRIPTS)


@pytest.mark.parametrize("name", sorted(SCRIPTS))
def test_version(name):
    r = _script(name, "--version")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == f"{name} {hepvq.__version__}"


@pytest.mark.parametrize("name", sorted(DISPATCHERS))
def test_dispatcher_help_says_what_each_subcommand_does(name):
    import importlib

    mod = importlib.import_module(DISPATCHERS[name])
    r = _script(name, "--help")
    assert r.returncode == 0 and r.stdout.startswith(f"usage: {name} ")
    assert ":main" not in r.stdout and "resolved lazily" not in r.stdout  # no entry points
    for sub in mod.SUBCOMMANDS:
        line = next(x for x in r.stdout.splitlines() if x.strip().startswith(sub + " "))
        assert len(line.split(None, 1)[1]) > 20, line  # a sentence, not a target
    assert "--version" in r.stdout
    # no argument at all: the same help on stderr, exit status 2
    bare = _script(name)
    assert bare.returncode == 2 and "subcommands:" in bare.stderr


@pytest.mark.parametrize("name,sub", [(n, s) for n, m in DISPATCHERS.items()
                                      for s in __import__(m, fromlist=["SUBCOMMANDS"]).SUBCOMMANDS])
def test_subcommand_help_prog_defaults_no_torch(name, sub):
    r = _script(name, sub, "--help")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith(f"usage: {name} {sub} ")  # e.g. not `hepvq-export pixel-vq` for pixel-vqvae
    required_only = name == "hepvq-export" and sub.startswith("pixel-")  # --checkpoint and --output, no defaults
    assert ("(default: " in r.stdout or required_only) and "--version" in r.stdout


@pytest.mark.parametrize("name,sub,options", [
    ("hepvq-train", "pixel-vq", ["--pileup", "--iters", "--seed", "--charge-step", "--threads"]),
    ("hepvq-train", "pixel-vqvae", ["--steps", "--dim", "--lr", "--seed", "--codebook-size"]),
    ("hepvq-train", "tpc-inr", ["--epochs", "--steps", "--seed", "--width", "--ratio", "--out-dir"]),
    ("hepvq-simulate", None, ["--events", "--seed", "--jobs", "--compression"]),
    ("hepvq-bench", None, ["--pixel", "--detectors", "--models"]),
])
def test_options_have_help_and_defaults(name, sub, options):
    r = _script(name, *([sub] if sub else []), "--help")
    entries = []  # one per option: the lines from its "  -x, --xx" line to the next one
    for line in r.stdout.split("\noptions:\n", 1)[1].splitlines():
        if line.startswith("  -"):
            entries.append(line)
        elif entries:
            entries[-1] += " " + line.strip()
    for opt in options:
        entry = next(e for e in entries if opt in e.split()[0].split(",") + e.split())
        assert "(default: " in entry and len(entry.split()) > 6, (opt, entry)


def test_no_torch_before_parsing(tmp_path):
    """torch (3-4 s to import on 2 cores) is not loaded for --help nor for a usage error: `hepvq-train pixel-vq
    --help` is fast (it took 4.4 s)."""
    calls = [["hepvq.cli.train", "pixel-vq", "--help"], ["hepvq.cli.train", "pixel-vqvae", "--help"],
             ["hepvq.cli.train", "tpc-inr", "--help"], ["hepvq.cli.train", "pixel-vq", "--simulate", "0"],
             ["hepvq.cli.train", "tpc-inr", "--amortised", "--out-dir", "data/models"],
             ["hepvq.cli.export", "pixel-vq", "--help"], ["hepvq.cli.export", "pixel-vqvae", "--help"],
             ["hepvq.cli.export", "tpc-inr", "--help"], ["hepvq.cli.export", "pixel-vq", "-c", str(tmp_path / "x")],
             ["hepvq.cli.bench", "--help"], ["hepvq.cli.simulate", "--help"], ["hepvq.cli.run", "--help"]]
    code = ("import contextlib, importlib, io, sys\n"
            f"for mod, *args in {calls!r}:\n"
            "    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):\n"
            "        try:\n"
            "            importlib.import_module(mod).main(args)\n"
            "        except SystemExit:\n"
            "            pass\n"
            "    assert 'torch' not in sys.modules, (mod, args)\n"
            "print('ok')\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr


@pytest.mark.parametrize("argv,needle", [
    (["hepvq-simulate", "tpc", "--occupancy", "0.5", "-o", "{tmp}/x.root"], "--occupancy: must be in 1e-6 .. 0.3"),
    (["hepvq-simulate", "tpc", "--occupancy", "0", "-o", "{tmp}/x.root"], "--occupancy: must be in 1e-6 .. 0.3"),
    (["hepvq-simulate", "pixel", "--events", "0", "-o", "{tmp}/x.root"], "--events/-n: must be >= 1"),
    (["hepvq-simulate", "pixel", "--occupancy", "0.1", "-o", "{tmp}/x.root"], "are tpc options"),
    (["hepvq-simulate", "tpc", "--compression", "bzip:3", "-o", "{tmp}/x.root"], "--compression"),
    (["hepvq-train", "pixel-vqvae", "--simulate", "1", "--steps", "0", "-o", "{tmp}/x.pt"], "--steps: must be >= 1"),
    (["hepvq-train", "pixel-vq", "--simulate", "1", "--patch", "4by8", "-o", "{tmp}/x.pt"], "--patch"),
    (["hepvq-train", "pixel-vq", "--input", "{tmp}/none.root", "-o", "{tmp}/x.pt"], "no such file"),
    (["hepvq-train", "tpc-inr", "--fit", "--input", str(REPO / "data" / "tpc_sample.root"), "--ratio", "2", "--out",
      "{tmp}/x.npz"], "--ratio: must be in"),
    (["hepvq-bench", "--detectors", "pixel,calo", "--out", "{tmp}/b"], "--detectors"),
    (["hepvq-bench", "--update-docs", "--quick"], "--update-docs"),
])
def test_bad_arguments_refused_before_work(tmp_path, argv, needle):
    r = _script(argv[0], *[a.format(tmp=tmp_path) for a in argv[1:]])
    assert r.returncode == 2, r.stderr
    err = [x for x in r.stderr.splitlines() if x.strip()]
    assert len(err) == 1 and needle in err[0] and err[0].startswith(argv[0]), r.stderr  # one line
    assert list(tmp_path.iterdir()) == []  # nothing written


def test_occupancy_range_matches_help_and_readme():
    r = _script("hepvq-simulate", "--help")
    assert "1e-6 .. 0.3" in " ".join(r.stdout.split())
    assert "1e-6 .. 0.3" in (REPO / "README.md").read_text()


def test_tpc_amortised_never_overwrites_by_default(tmp_path):
    """--amortised writes to tpc_models/ by default; existing files (the shipped data/models too) are refused
    before training unless --force."""
    from hepvq.tpc import train

    assert train.USER_MODELS == "tpc_models"
    r = _script("hepvq-train", "tpc-inr", "--amortised", "--out-dir", str(REPO / "data" / "models"))
    assert r.returncode == 2 and "data/models/tpc_amortised.pt exists; pass --force" in r.stderr
    (tmp_path / "tpc_amortised_dense.pt").write_bytes(b"mine")
    r = _script("hepvq-train", "tpc-inr", "--amortised", "--mode", "dense", "--out-dir", str(tmp_path))
    assert r.returncode == 2 and "--force" in r.stderr
    assert (tmp_path / "tpc_amortised_dense.pt").read_bytes() == b"mine"
    r = _script("hepvq-export", "tpc-inr", "--help")
    assert "(default: tpc_models)" in " ".join(r.stdout.split())


def test_dispatch_unknown_subcommand_one_line(capsys):
    from hepvq.cli import export

    assert export.main(["pixel-vqv"]) == 2
    err = capsys.readouterr().err
    assert "unknown subcommand 'pixel-vqv'" in err and "did you mean: pixel-vq" in err
