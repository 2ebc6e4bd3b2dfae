"""Every ```bash and ```python block of README.md and docs/*.md runs as written, in order, after the blocks
before it in the same document (as vector-quantize-pytorch's tests/test_readme.py does).

Each document gets its own temporary directory holding copies of data/, docs/, python_cfg/, benchmarks/ and
examples/ (so that commands writing there never touch the repository). The C++ builds are the exception:
`cpp` and `examples/cpp` there are links to the repository's, so `cpp/build.sh` and `examples/cpp/build.sh` build
(incrementally) into the git-ignored cpp/build/ and examples/cpp/build/ that tests/test_cpp_reader.py and
tests/test_cpp_example.py use too: one test session compiles each once. A block is marked by an HTML comment on
the line(s) before its fence:

    <!-- readme-test: skip (reason) -->   not run; pytest reports it skipped with the reason
    <!-- readme-test: slow (reason) -->   run under @pytest.mark.slow (CI runs it too)
    <!-- readme-test: slow (reason) ci-args: OLD => NEW ;; OLD2 => NEW2 -->
                                          run under @pytest.mark.slow with every occurrence of the text OLD in
                                          the block replaced by NEW (smaller sizes: events, steps, runs), so
                                          that CI runs the command the reader sees, only shorter; the test
                                          fails when OLD is not in the block (a stale substitution never
                                          passes silently)

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
from typing import NamedTuple

import pytest

REPO = Path(__file__).resolve().parents[1]
DOCS = [REPO / "README.md"] + sorted((REPO / "docs").glob("*.md"))
COPIED = ("data", "docs", "python_cfg", "benchmarks", "examples")   # what the commands read (and may write into)
LINKED = ("cpp", "examples/cpp")   # C++ sources and their build directories: shared with tests/test_cpp_*.py
LANGS = {"bash": "bash", "sh": "bash", "shell": "bash", "python": "python"}
MARKER = re.compile(r"<!--\s*readme-test:\s*(skip|slow)\s*(?:\((.*?)\))?\s*(?:ci-args:\s*(.*?))?\s*-->")
SUB_SEP, SUB_ARROW = ";;", "=>"
FENCE = re.compile(r"^(\s*)```\s*([\w+-]*)\s*$")
BLOCK_TIMEOUT = 3600  # per block, generous: on a shared 2-core machine (load 15-25) blocks ran 10-20x their CPU time


class Block(NamedTuple):
    line: int             # line of the opening fence (1-based)
    lang: str             # "bash" or "python"
    code: str             # as the reader sees it
    marker: str | None    # None, "skip" or "slow"
    reason: str
    subs: tuple           # ((OLD, NEW), ...) from ci-args


def parse_subs(text: str | None) -> tuple:
    """`OLD => NEW ;; OLD2 => NEW2` -> ((OLD, NEW), (OLD2, NEW2)); ValueError when a part has no `=>` or no OLD."""
    if text is None or not text.strip():
        return ()
    subs = []
    for part in text.split(SUB_SEP):
        if SUB_ARROW not in part:
            raise ValueError(f"ci-args part without {SUB_ARROW!r}: {part.strip()!r}")
        old, new = (x.strip() for x in part.split(SUB_ARROW, 1))
        if not old:
            raise ValueError(f"ci-args part with nothing to replace: {part.strip()!r}")
        subs.append((old, new))
    return tuple(subs)


def ci_code(block: Block) -> str:
    """The code CI runs: the block with its ci-args substitutions; AssertionError when an OLD is not in it."""
    code = block.code
    for old, new in block.subs:
        assert old in block.code, (f"line {block.line}: ci-args {old!r} => {new!r}: {old!r} is not in the block "
                                   f"(update the marker with the command)")
        code = code.replace(old, new)
    return code


def extract(path: Path) -> list[Block]:
    """The runnable (bash / python) blocks of a markdown file, with their markers."""
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
            try:
                subs = parse_subs(mk.group(3)) if mk else ()
            except ValueError as err:
                raise ValueError(f"{path.name}:{k + 1}: {err}") from None
            blocks.append(Block(i + 1, LANGS[lang], code, mk.group(1) if mk else None,
                                (mk.group(2) or "") if mk else "", subs))
        i = j + 1
    return blocks


_BLOCKS: dict[str, list] = {}  # document -> its blocks, read once: what the tests were collected from


def blocks_of(doc: str) -> list[Block]:
    if doc not in _BLOCKS:
        _BLOCKS[doc] = extract(REPO / doc)
    return _BLOCKS[doc]


def _params():
    out = []
    for doc in DOCS:
        rel = doc.relative_to(REPO).as_posix()
        for index, b in enumerate(blocks_of(rel)):
            marks = []
            if b.marker == "skip":
                marks.append(pytest.mark.skip(reason=f"{rel}:{b.line}: {b.reason or 'NO REASON GIVEN'}"))
            elif b.marker == "slow":
                marks.append(pytest.mark.slow)
            out.append(pytest.param(rel, index, id=f"{rel}:{b.line}", marks=marks))
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
        for name in LINKED:
            if (root / name).is_dir():
                shutil.rmtree(root / name)
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            (root / name).symlink_to(REPO / name, target_is_directory=True)

    def env(self):
        env = dict(os.environ)
        env.pop("PYTHONPATH", None)
        env.update({"MPLBACKEND": "Agg", "PYTHONDONTWRITEBYTECODE": "1", "PYTHON": sys.executable,
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
            if self.blocks[k].marker == "skip":
                self.done[k] = None
                continue
            self.done[k] = self._run_one(self.blocks[k], k)
        if self.done[index] is not None:  # earlier failures are its own tests' failures: named here as context
            earlier = [str(self.blocks[k].line) for k in range(index) if self.done[k] is not None]
            note = f" (earlier blocks that failed: lines {', '.join(earlier)})" if earlier else ""
            pytest.fail(f"{self.doc}: this block failed{note}:\n{self.done[index]}", pytrace=False)

    def _run_one(self, block: Block, k: int) -> str | None:
        try:
            code = ci_code(block)
        except AssertionError as err:
            return str(err)
        if block.lang == "python":
            script = self.root / f"_readme_block_{k}.py"
            script.write_text(code)
            cmd = [sys.executable, script.name]
        else:
            cmd = ["bash", "-e", "-o", "pipefail", "-c", code]
        shown = code if not block.subs else f"{code}(ci-args applied: {block.subs})\n"
        try:
            r = subprocess.run(cmd, cwd=self.root, env=self.env(), capture_output=True, text=True,
                               timeout=BLOCK_TIMEOUT)
        except subprocess.TimeoutExpired:
            return f"line {block.line}: timed out after {BLOCK_TIMEOUT} s:\n{shown}"
        if r.returncode != 0:
            return (f"line {block.line}: exit status {r.returncode}\n--- block ---\n{shown}--- stdout (end) ---\n"
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
    """Every readme-test marker is one the runner knows, gives a reason when it skips, sits right before a
    block the runner runs (a misplaced marker would silently run a block meant to be skipped), and its ci-args
    replace text that is in that block."""
    for doc in DOCS:
        lines = doc.read_text().splitlines()
        marked = {b.line: b for b in extract(doc) if b.marker}
        for n, text in enumerate(lines, 1):
            if "readme-test" not in text or not text.strip().startswith("<!--"):
                continue  # prose may quote the syntax; a marker is a line of its own
            m = MARKER.fullmatch(text.strip())
            assert m, f"{doc.name}:{n}: unknown readme-test marker: {text.strip()}"
            assert m.group(1) != "skip" or (m.group(2) or "").strip(), f"{doc.name}:{n}: skip without a reason"
            assert m.group(1) != "skip" or m.group(3) is None, f"{doc.name}:{n}: ci-args on a skipped block"
            nxt = next(k for k in range(n, len(lines) + 1) if k == len(lines) or lines[k].strip())
            assert nxt + 1 in marked, f"{doc.name}:{n}: the marker is not right before a bash/python block"
            ci_code(marked[nxt + 1])


def test_extract_finds_the_blocks(tmp_path):
    md = tmp_path / "x.md"
    md.write_text("text\n```bash\necho 1\n```\n<!-- readme-test: skip (needs a GPU) -->\n\n```python\nprint(2)\n"
                  "```\n```\nnot run\n```\n<!-- readme-test: slow -->\n```sh\necho 3\n```\n"
                  "<!-- readme-test: slow (a long run (10 min)) ci-args: --events 200 => --events 2 ;; "
                  "--steps 9 => -->\n"
                  "```bash\nsim --events 200 --steps 9 -o a.root   # 200 events\n```\n")
    got = [(b.lang, b.code, b.marker, b.reason, b.subs) for b in extract(md)]
    assert got == [("bash", "echo 1\n", None, "", ()), ("python", "print(2)\n", "skip", "needs a GPU", ()),
                   ("bash", "echo 3\n", "slow", "", ()),
                   ("bash", "sim --events 200 --steps 9 -o a.root   # 200 events\n", "slow", "a long run (10 min)",
                    (("--events 200", "--events 2"), ("--steps 9", "")))]
    assert ci_code(extract(md)[-1]) == "sim --events 2  -o a.root   # 200 events\n"


def test_stale_ci_args_fail(tmp_path):
    """A ci-args substitution whose text is no longer in the block fails (never runs the full size silently)."""
    md = tmp_path / "x.md"
    md.write_text("<!-- readme-test: slow (long) ci-args: --events 200 => --events 2 -->\n"
                  "```bash\nsim --events 100\n```\n")
    with pytest.raises(AssertionError, match="is not in the block"):
        ci_code(extract(md)[0])
    md.write_text("<!-- readme-test: slow (long) ci-args: --events 200 -->\n```bash\nsim --events 200\n```\n")
    with pytest.raises(ValueError, match="without '=>'"):
        extract(md)


@pytest.mark.parametrize("doc,index", _params())
def test_block_runs(workspaces, doc, index):
    workspaces(doc).run(index)
