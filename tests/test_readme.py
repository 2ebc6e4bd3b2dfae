"""Every ```bash and ```python block of README.md and docs/*.md runs as written, in order, after the blocks
before it in the same document (as vector-quantize-pytorch's tests/test_readme.py does).

Each document gets its own temporary directory holding copies of data/, python_cfg/, benchmarks/ and
examples/ (so that commands writing there never touch the repository). A block is marked by an HTML comment on
the line(s) before its fence:

    <!-- readme-test: skip (reason) -->   not run; pytest reports it skipped with the reason
    <!-- readme-test: slow (reason) -->   run under @pytest.mark.slow (CI runs it too)

Blocks without a marker run as fast tests. Running one block (-k) first runs the blocks before it in its
document, so every test can run on its own; a block fails for its own error only, naming the earlier blocks
that failed (whose outputs it may have missed).
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DOCS = [REPO / "README.md"] + sorted((REPO / "docs").glob("*.md"))
COPIED = ("data", "python_cfg", "benchmarks", "examples")   # what the commands read (and may write into)
LANGS = {"bash": "bash", "sh": "bash", "shell": "bash", "python": "python"}
MARKER = re.compile(r"<!--\s*readme-test:\s*(skip|slow)\s*(?:\((.*)\))?\s*-->")
FENCE = re.compile(r"^(\s*)```\s*([\w+-]*)\s*$")
BLOCK_TIMEOUT = 1500  # per block, generous: a shared machine can be 10x slower than an idle one


def extract(path: Path):
    """[(line number, language, code, marker, reason)] of the runnable blocks of a markdown file."""
    lines = path.read_text().splitlines()
    blocks, i = [], 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        indent, lang = m.group(1), m.group(2).lower()
        j = i + 1
        while j < len(lines) and not re.match(rf"^{indent}```\s*$", lines[j]):
            j += 1
        if lang in LANGS:
            k = i - 1
            while k >= 0 and not lines[k].strip():
                k -= 1
            mk = MARKER.fullmatch(lines[k].strip()) if k >= 0 else None  # a line of its own
            code = "\n".join(x[len(indent):] if x.startswith(indent) else x for x in lines[i + 1:j]) + "\n"
            blocks.append((i + 1, LANGS[lang], code, mk.group(1) if mk else None, (mk.group(2) or "") if mk else ""))
        i = j + 1
    return blocks


_BLOCKS: dict[str, list] = {}  # document -> its blocks, read once: what the tests were collected from


def blocks_of(doc: str) -> list:
    if doc not in _BLOCKS:
        _BLOCKS[doc] = extract(REPO / doc)
    return _BLOCKS[doc]


def _params():
    out = []
    for doc in DOCS:
        rel = doc.relative_to(REPO).as_posix()
        for index, (line, lang, code, marker, reason) in enumerate(blocks_of(rel)):
            marks = []
            if marker == "skip":
                marks.append(pytest.mark.skip(reason=f"{rel}:{line}: {reason or 'NO REASON GIVEN'}"))
            elif marker == "slow":
                marks.append(pytest.mark.slow)
            out.append(pytest.param(rel, index, id=f"{rel}:{line}", marks=marks))
    return out


class Workspace:
    """One temporary directory per document; remembers which blocks ran and how."""

    def __init__(self, root: Path, doc: str):
        self.root, self.doc = root, doc
        self.blocks = blocks_of(doc)
        self.done: dict[int, str | None] = {}   # block index -> None (ran) or the failure
        ignore = shutil.ignore_patterns("build", "__pycache__", "*.pyc", ".hepvq-tmp-*")
        for name in COPIED:
            if (REPO / name).is_dir():
                shutil.copytree(REPO / name, root / name, ignore=ignore, symlinks=True)

    def env(self):
        env = dict(os.environ)
        env.pop("PYTHONPATH", None)
        env.update({"MPLBACKEND": "Agg", "PYTHONDONTWRITEBYTECODE": "1",
                    "TMPDIR": str(self.root / "tmp")})
        (self.root / "tmp").mkdir(exist_ok=True)
        bindir = str(Path(sys.executable).parent)
        env["PATH"] = bindir + os.pathsep + env.get("PATH", "")
        return env

    def run(self, index: int) -> None:
        """Run the blocks before `index` (once) and then block `index`."""
        for k in range(index + 1):
            if k in self.done:
                continue
            line, lang, code, marker, reason = self.blocks[k]
            if marker == "skip":
                self.done[k] = None
                continue
            self.done[k] = self._run_one(line, lang, code, k)
        if self.done[index] is not None:  # earlier failures are its own tests' failures: named here as context
            earlier = [str(self.blocks[k][0]) for k in range(index) if self.done[k] is not None]
            note = f" (earlier blocks that failed: lines {', '.join(earlier)})" if earlier else ""
            pytest.fail(f"{self.doc}: this block failed{note}:\n{self.done[index]}", pytrace=False)

    def _run_one(self, line, lang, code, k):
        if lang == "python":
            script = self.root / f"_readme_block_{k}.py"
            script.write_text(code)
            cmd = [sys.executable, script.name]
        else:
            cmd = ["bash", "-e", "-o", "pipefail", "-c", code]
        try:
            r = subprocess.run(cmd, cwd=self.root, env=self.env(), capture_output=True, text=True,
                               timeout=BLOCK_TIMEOUT)
        except subprocess.TimeoutExpired:
            return f"line {line}: timed out after {BLOCK_TIMEOUT} s:\n{code}"
        if r.returncode != 0:
            return (f"line {line}: exit status {r.returncode}\n--- block ---\n{code}--- stdout (end) ---\n"
                    f"{r.stdout[-2000:]}\n--- stderr (end) ---\n{r.stderr[-3000:]}")
        return None


@pytest.fixture(scope="module")
def workspaces(tmp_path_factory):
    made = {}

    def get(doc):
        if doc not in made:
            made[doc] = Workspace(tmp_path_factory.mktemp(re.sub(r"\W", "_", doc)), doc)
        return made[doc]

    return get


def test_markers_are_well_formed():
    """Every readme-test marker is one the runner knows, gives a reason when it skips, and sits right before
    a block the runner runs (a misplaced marker would silently run a block meant to be skipped)."""
    for doc in DOCS:
        lines = doc.read_text().splitlines()
        marked = {line for line, *_rest, marker, _ in extract(doc) if marker}
        for n, text in enumerate(lines, 1):
            if "readme-test" not in text or not text.strip().startswith("<!--"):
                continue  # prose may quote the syntax; a marker is a line of its own
            m = MARKER.fullmatch(text.strip())
            assert m, f"{doc.name}:{n}: unknown readme-test marker: {text.strip()}"
            assert m.group(1) != "skip" or (m.group(2) or "").strip(), f"{doc.name}:{n}: skip without a reason"
            nxt = next(k for k in range(n, len(lines) + 1) if k == len(lines) or lines[k].strip())
            assert nxt + 1 in marked, f"{doc.name}:{n}: the marker is not right before a bash/python block"


def test_extract_finds_the_blocks(tmp_path):
    md = tmp_path / "x.md"
    md.write_text("text\n```bash\necho 1\n```\n<!-- readme-test: skip (needs a GPU) -->\n\n```python\nprint(2)\n"
                  "```\n```\nnot run\n```\n<!-- readme-test: slow -->\n```sh\necho 3\n```\n")
    got = [(lang, code, marker, reason) for _line, lang, code, marker, reason in extract(md)]
    assert got == [("bash", "echo 1\n", None, ""), ("python", "print(2)\n", "skip", "needs a GPU"),
                   ("bash", "echo 3\n", "slow", "")]


@pytest.mark.parametrize("doc,index", _params())
def test_block_runs(workspaces, doc, index):
    workspaces(doc).run(index)
