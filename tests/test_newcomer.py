"""Surprises a newcomer met: running from the parent of a clone named hepvq, and what .gitignore covers."""
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _python_in(cwd, code, env_extra=None):
    # -S: no site-packages, so no editable-install finder steps in first (as with setuptools' editable
    # installs, whose finder comes after the path search that used to find the clone as a namespace package)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"} | (env_extra or {})
    return subprocess.run([sys.executable, "-S", "-c", code], cwd=cwd, capture_output=True, text=True,
                          timeout=60, env=env)


def test_import_from_parent_of_clone_uses_the_package_and_says_so(tmp_path):
    (tmp_path / "hepvq").symlink_to(REPO, target_is_directory=True)
    r = _python_in(tmp_path, "import hepvq, hepvq.errors; print(callable(hepvq.open), hepvq.__version__)")
    assert r.returncode == 0, r.stderr
    import hepvq

    assert r.stdout.split() == ["True", hepvq.__version__]  # not "module 'hepvq' has no attribute 'open'"
    note = [x for x in r.stderr.splitlines() if x.strip()]
    assert len(note) == 1 and "parent of the clone" in note[0] and str(tmp_path / "hepvq") in note[0]


def test_import_from_parent_of_clone_prefers_an_installed_package(tmp_path):
    (tmp_path / "work").mkdir()
    (tmp_path / "work" / "hepvq").symlink_to(REPO, target_is_directory=True)
    site = tmp_path / "site" / "hepvq"
    site.mkdir(parents=True)
    (site / "__init__.py").write_text("INSTALLED = True\n")
    r = _python_in(tmp_path / "work", "import hepvq; print(hepvq.INSTALLED)", {"PYTHONPATH": str(tmp_path / "site")})
    assert r.returncode == 0 and r.stdout.strip() == "True" and r.stderr == "", r.stderr


def test_gitignore_covers_what_the_readme_leaves(tmp_path):
    names = ["vq.pt", "fit.npz", "x.bin", "s.onnx", "code_usage.png", "premix_compressed.root",
             "bench_out/RESULTS.md", "tpc_models/tpc_amortised.pt", "my_vq/codec.json", "data/models/my_rvq/codec.json"]
    r = subprocess.run(["git", "check-ignore", "--no-index", *names], cwd=REPO, capture_output=True, text=True)
    assert sorted(r.stdout.split()) == sorted(names)
    shipped = subprocess.run(["git", "check-ignore", "--no-index", "data/models/tpc_amortised.pt",
                              "data/models/pixel_vq/codec.json"], cwd=REPO, capture_output=True, text=True)
    assert shipped.stdout == ""  # the shipped models stay tracked
