"""process.dumpPython(): python text that rebuilds the process (exec of it gives the same dump).

Modifiers are already applied to the objects, so the dump creates the Process without them.
"""
from __future__ import annotations

from .sequences import EndPath, Path, Sequence, Task, _Container


def _ref(obj):
    return f"process.{obj.label_()}"


def _containers_in_dependency_order(process):
    """Sequences and Tasks so that one used inside another is dumped first."""
    done, out = set(), []

    def visit(c):
        if id(c) in done:
            return
        done.add(id(c))
        for item in c._items + c._tasks:
            if isinstance(item, _Container) and item.label_() is not None:
                visit(item)
        out.append(c)

    for label, obj in process._labels.items():
        if isinstance(obj, (Sequence, Task)):
            visit(obj)
    return out


def dump_process(process) -> str:
    lines = ["import hepvq.config as cms", "", f"process = cms.Process({process.name_()!r})", ""]
    if process.source is not None:
        lines += [f"process.source = {process.source.dumpPython()}", ""]
    for name in ("maxEvents", "options"):
        lines += [f"process.{name} = {process._settings[name].dumpPython()}", ""]
    for label, module in process.modules_().items():
        lines += [f"process.{label} = {module.dumpPython()}", ""]
    for c in _containers_in_dependency_order(process):
        lines.append(f"process.{c.label_()} = {c.dumpPython(_ref)}")
    for c in process._labels.values():
        if not isinstance(c, (Path, EndPath)):
            continue
        lines.append(f"process.{c.label_()} = {c.dumpPython(_ref)}")
    if process.schedule_() is not None:
        lines += ["", f"process.schedule = {process.schedule_().dumpPython(_ref)}"]
    return "\n".join(lines).rstrip("\n") + "\n"
