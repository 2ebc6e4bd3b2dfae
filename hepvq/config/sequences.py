"""Path, EndPath, Sequence, Task and Schedule (CMSSW's SequenceTypes.py in small).

``a + b + c`` builds a flat ordered expression; a Path/EndPath/Sequence holds such expressions,
a Task holds modules that run unscheduled (on demand), a Schedule lists paths in execution order.
Labels come from the Process the modules are attached to, so names are resolved late.
"""
from __future__ import annotations

from abc import ABC, abstractmethod

from hepvq.errors import ConfigError

from .types import _where


class _Sequenceable(ABC):
    """Something that can stand in a path expression: a module or a Sequence."""

    def __add__(self, other):
        return _SeqExpr([self]) + other

    @abstractmethod
    def _moduleObjects(self) -> list:
        """The modules this stands for, in order (Sequences expanded)."""


class _SeqExpr(_Sequenceable):
    """The result of a + b: an ordered list of modules and Sequences."""

    def __init__(self, items):
        self._items = list(items)

    def __add__(self, other):
        if isinstance(other, _SeqExpr):
            return _SeqExpr(self._items + other._items)
        _check_item(other, "+")
        return _SeqExpr(self._items + [other])

    def _moduleObjects(self):
        return [m for item in self._items for m in item._moduleObjects()]


def _what(obj) -> str:
    """How an object is named in errors: "EDProducer 'Type' labelled 'x'", "Path 'p'", or its python type."""
    from .modules import _Module

    if isinstance(obj, _Module):
        label = obj.label_()
        return f"{type(obj).__name__} {obj.type_()!r}" + (f" labelled '{label}'" if label else "")
    if isinstance(obj, _Container):
        return f"{type(obj).__name__}" + (f" '{obj.label_()}'" if obj.label_() else "")
    return f"{type(obj).__name__} {obj!r}"


def _check_item(item, where):
    from .modules import Source

    if isinstance(item, Source) or not isinstance(item, _Sequenceable) or isinstance(item, (Path, EndPath)):
        raise ConfigError(f"{where}: cannot hold {_what(item)}; a path or sequence holds modules "
                          "(EDProducer, EDFilter, EDAnalyzer, OutputModule) and Sequences")
    return item


class _Container:
    _kind = "?"

    def __init__(self, *items):
        self._where = _where()
        self._label = None
        self._items = []  # modules and Sequences in order
        self._tasks = []
        for item in items:
            self._add(item)

    def _add(self, item):
        if isinstance(item, Task):
            self._tasks.append(item)
        elif isinstance(item, _SeqExpr):
            self._items.extend(_check_item(i, f"cms.{self._kind}") for i in item._items)
        else:
            self._items.append(_check_item(item, f"cms.{self._kind}"))

    def __iadd__(self, item):
        self._add(item)
        return self

    def label_(self):
        return self._label

    def _setLabel(self, label):
        self._label = label

    def where_(self):
        return self._where

    def _moduleObjects(self) -> list:
        return [m for item in self._items for m in item._moduleObjects()]

    def modules(self) -> list:
        """Module objects in execution order, Sequences expanded."""
        mods = self._moduleObjects()
        seen = set()
        for m in mods:
            if m.label_() is None:
                raise ConfigError(f"{self._kind} {self._label or ''} holds a {type(m).__name__} of type "
                                  f"{m.type_()!r} that is not attached to the process "
                                  "(assign it first: process.<label> = module)".replace("  ", " "))
            if id(m) in seen:
                raise ConfigError(f"{self._kind} '{self._label}': module '{m.label_()}' appears twice")
            seen.add(id(m))
        return mods

    def moduleNames(self) -> list:
        """Module labels in execution order, Sequences expanded."""
        return [m.label_() for m in self.modules()]

    def tasks(self) -> list:
        return list(self._tasks)

    def replace(self, old, new) -> bool:
        """Replace old (module or Sequence) by new everywhere inside; True if something was replaced."""
        done = False
        for i, item in enumerate(self._items):
            if item is old:
                self._items[i] = new
                done = True
            elif isinstance(item, _Container) and item.replace(old, new):
                done = True
        for t in self._tasks:
            done = t.replace(old, new) or done
        return done

    def _dumpItems(self, ref) -> str:
        args = []
        if self._items:
            args.append("+".join(item._dumpRef(ref) for item in self._items))
        args += [t._dumpRef(ref) for t in self._tasks]
        return ", ".join(args)

    def _dumpRef(self, ref):
        return ref(self) if self._label else self.dumpPython(ref)

    def dumpPython(self, ref=None) -> str:
        ref = ref or (lambda obj: f"process.{obj.label_()}")
        return f"cms.{self._kind}({self._dumpItems(ref)})"

    def __repr__(self):
        return f"<cms.{self._kind} {self._label or '(unattached)'}>"


class Sequence(_Container, _Sequenceable):
    """A reusable ordered group of modules, expanded where it is used."""

    _kind = "Sequence"


class Path(_Container):
    """An ordered list of modules run for each chunk; a filter that rejects events stops them here."""

    _kind = "Path"


class EndPath(_Container):
    """Like a Path, run after all Paths; holds output modules and analyzers."""

    _kind = "EndPath"


class Task(_Container):
    """Unscheduled modules: run on demand when a later module asks for their products."""

    _kind = "Task"

    def _add(self, item):
        from .modules import Source, _Module

        if isinstance(item, Task):
            self._tasks.append(item)
        elif isinstance(item, _Module) and not isinstance(item, Source):
            self._items.append(item)
        else:
            raise ConfigError(f"cms.Task: cannot hold {_what(item)}; a Task holds modules and Tasks")

    def modules(self) -> list:
        mods = super().modules()
        for t in self._tasks:
            mods += [m for m in t.modules() if m not in mods]
        return mods

    def _dumpItems(self, ref):
        return ", ".join(x._dumpRef(ref) for x in self._items + self._tasks)


class Schedule:
    """The paths to run, in order: cms.Schedule(process.p1, process.p2, process.end)."""

    def __init__(self, *paths, tasks=()):
        self._where = _where()
        if len(paths) == 1 and isinstance(paths[0], (list, tuple)):
            paths = tuple(paths[0])
        self._paths = []
        for p in paths:
            self.append(p)
        self._tasks = list(tasks)

    def append(self, path):
        if not isinstance(path, (Path, EndPath)):
            raise ConfigError(f"cms.Schedule accepts only Path and EndPath objects, got {_what(path)}")
        self._paths.append(path)

    def paths(self) -> list:
        return list(self._paths)

    def pathNames(self) -> list:
        return [p.label_() for p in self._paths]

    def tasks(self) -> list:
        return list(self._tasks)

    def __iter__(self):
        return iter(self._paths)

    def __len__(self):
        return len(self._paths)

    def where_(self):
        return self._where

    def dumpPython(self, ref=None) -> str:
        ref = ref or (lambda obj: f"process.{obj.label_()}")
        for p in self._paths:
            if p.label_() is None:
                raise ConfigError(f"Schedule holds a {p._kind} that is not attached to the process")
        args = [ref(p) for p in self._paths]
        if self._tasks:
            args.append("tasks=[" + ", ".join(t._dumpRef(ref) for t in self._tasks) + "]")
        return f"cms.Schedule({', '.join(args)})"
