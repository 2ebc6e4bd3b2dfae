"""hepvq-run's allocator setting (hepvq/runtime/memory.py): applied on Linux/glibc, skipped when disabled."""
import platform
import subprocess
import sys

import pytest

from hepvq.runtime import memory


def test_disabled_by_environment(monkeypatch):
    monkeypatch.setenv(memory.DISABLE_ENV, "1")
    assert memory.keep_freed_pages() is False


@pytest.mark.skipif(platform.system() != "Linux" or platform.libc_ver()[0] != "glibc", reason="glibc only")
def test_applied_in_a_fresh_process():
    # in a child, so that this test process keeps glibc's defaults
    code = "from hepvq.runtime.memory import keep_freed_pages; print(keep_freed_pages())"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "True"
