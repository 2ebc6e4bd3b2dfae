"""Process: the top of a cfg. Attributes set on it attach modules, paths and settings and give them labels.

    process = cms.Process("COPY")
    process.source = cms.Source("RootSource", fileNames=cms.untracked.vstring("in.root"))
    process.out = cms.OutputModule("RootOutputModule", fileName=cms.untracked.string("out.root"))
    process.e = cms.EndPath(process.out)
"""
from __future__ import annotations

import copy

from hepvq.errors import ConfigError, ParameterError, did_you_mean

from .modules import Source, _Module, apply_changes
from .sequences import EndPath, Path, Schedule, Sequence, Task, _Container
from .types import PSet, _describe_value, untracked


def _default_max_events():
    return untracked.PSet(input=untracked.int32(-1))


def _default_options():
    # chunkSize: events per chunk handed to each module; providers: onnxruntime execution providers; batchSize:
    # rows per onnxruntime run of every codec (0: each codec's or encoder module's own); hepvq.codecs.options
    return untracked.PSet(
        chunkSize=untracked.int32(1000),
        numberOfThreads=untracked.int32(1),
        providers=untracked.vstring("auto"),
        batchSize=untracked.int32(0),
        wantSummary=untracked.bool(True),
    )


# settings PSets of the Process: name -> factory of the defaults. Unknown names inside them are errors
# (a misspelt option would otherwise be ignored silently); add here when the framework grows an option.
SETTINGS = {"maxEvents": _default_max_events, "options": _default_options}

_KIND_DICTS = {"producer": "_producers", "filter": "_filters", "analyzer": "_analyzers", "output": "_outputs"}
_CONTAINER_DICTS = {Path: "_paths", EndPath: "_endpaths", Sequence: "_sequences", Task: "_tasks"}


class Modifier:
    """A cfg variant switch: changes registered with toModify() apply only when the Modifier was passed to
    cms.Process(name, modifier, ...). Create the Process before calling toModify()."""

    def __init__(self):
        self._chosen = False

    def _setChosen(self):
        self._chosen = True

    def isChosen(self) -> bool:
        return self._chosen

    def toModify(self, obj, func=None, **changes):
        """Apply changes (clone() rules) to obj, or call func(obj), if this Modifier is chosen."""
        if not self.isChosen():
            return
        if func is not None:
            if not callable(func):
                raise ConfigError(f"Modifier.toModify: the second argument must be a function, got {func!r}")
            func(obj)
        apply_changes(obj, changes)

    def toReplaceWith(self, old, new):
        """Replace old by new in place (same object identity, so labels and paths keep working)."""
        if not self.isChosen():
            return
        if type(old) is not type(new):
            raise ConfigError(f"Modifier.toReplaceWith: cannot replace a {type(old).__name__} "
                              f"with a {type(new).__name__}")
        label = getattr(old, "_label", None)
        old.__dict__.clear()
        old.__dict__.update(copy.deepcopy(new).__dict__)
        if hasattr(old, "_label"):
            old._label = label

    def __and__(self, other):
        return _ModifierAnd(self, other)

    def __invert__(self):
        return _ModifierNot(self)


class _ModifierAnd(Modifier):
    """mod1 & mod2: chosen when both are."""

    def __init__(self, a, b):
        super().__init__()
        self._a, self._b = a, b

    def isChosen(self):
        return self._a.isChosen() and self._b.isChosen()


class _ModifierNot(Modifier):
    """~mod: chosen when mod is not."""

    def __init__(self, a):
        super().__init__()
        self._a = a

    def isChosen(self):
        return not self._a.isChosen()


class ModifierChain(Modifier):
    """Several Modifiers chosen together: cms.Process("X", cms.ModifierChain(m1, m2))."""

    def __init__(self, *modifiers):
        super().__init__()
        self._modifiers = modifiers

    def _setChosen(self):
        self._chosen = True
        for m in self._modifiers:
            m._setChosen()


class Process:
    def __init__(self, name, *modifiers):
        if not isinstance(name, str) or not name.isalnum():
            raise ConfigError(f"cms.Process name must be alphanumeric (e.g. 'COPY'), got {name!r}")
        for m in modifiers:
            if not isinstance(m, Modifier):
                raise ConfigError(f"cms.Process({name!r}, ...): extra arguments must be cms.Modifier objects, "
                                  f"got {m!r}")
            m._setChosen()
        d = self.__dict__
        d["_name"] = name
        d["_modifiers"] = modifiers
        d["_source"] = None
        d["_schedule"] = None
        d["_labels"] = {}  # label -> object, in assignment order
        for attr in list(_KIND_DICTS.values()) + list(_CONTAINER_DICTS.values()):
            d[attr] = {}
        d["_settings"] = {name: factory() for name, factory in SETTINGS.items()}

    # --- attaching ----------------------------------------------------------------------------------
    def __setattr__(self, label, value):
        if label.startswith("_"):
            raise ConfigError(f"process.{label}: labels may not start with '_'")
        if label == "source":
            if value is not None and not isinstance(value, Source):
                raise ConfigError(f"process.source must be a cms.Source, got {_describe_value(value)}")
            if value is not None:
                value._setLabel("source")
            self.__dict__["_source"] = value
            return
        if label == "schedule":
            if value is not None and not isinstance(value, Schedule):
                raise ConfigError(f"process.schedule must be a cms.Schedule, got {_describe_value(value)}")
            self.__dict__["_schedule"] = value
            return
        if label in SETTINGS:
            self._setSettings(label, value)
            return
        if hasattr(type(self), label):
            raise ConfigError(f"process.{label}: '{label}' is a Process method name, choose another label")
        if isinstance(value, Source):
            raise ConfigError(f"process.{label}: a cms.Source must be assigned to process.source")
        if not isinstance(value, (_Module, _Container)):
            raise ConfigError(f"process.{label}: can attach modules, Paths, EndPaths, Sequences and Tasks, "
                              f"got {_describe_value(value)}")
        existing = self._labels.get(label)
        if existing is value:
            return
        if existing is not None:
            what = "a different kind of object" if type(existing) is not type(value) else "another object"
            raise ConfigError(f"process.{label}: label '{label}' already used by {type(existing).__name__}"
                              f"{' ' + repr(existing.type_()) if isinstance(existing, _Module) else ''}; "
                              f"cannot replace it with {what} ({type(value).__name__}). Use another label, "
                              f"or `del process.{label}` first")
        if value.label_() is not None and value.label_() != label:
            raise ConfigError(f"process.{label}: this {type(value).__name__} is already attached as "
                              f"'{value.label_()}'; use .clone() for a second copy")
        value._setLabel(label)
        self._labels[label] = value
        if isinstance(value, _Module):
            getattr(self, _KIND_DICTS[value.kind_()])[label] = value
        else:
            getattr(self, _CONTAINER_DICTS[type(value)])[label] = value

    def _setSettings(self, name, value):
        if not isinstance(value, PSet):
            raise ConfigError(f"process.{name} must be a cms.untracked.PSet, got {_describe_value(value)}")
        merged = SETTINGS[name]()
        for key, param in value.parameters_().items():
            if key not in merged:
                raise ParameterError(f"unknown setting{did_you_mean(key, merged.parameterNames_())}; known: "
                                     f"{', '.join(merged.parameterNames_())}", parameter=f"{name}.{key}")
            try:
                merged._params[key].setValue(param.value())
            except ParameterError as err:
                raise ParameterError(str(err), parameter=f"{name}.{key}") from None
        self.__dict__["_settings"][name] = merged

    def __getattr__(self, label):
        d = self.__dict__
        if label.startswith("_"):
            raise AttributeError(label)
        if label == "source":
            return d["_source"]
        if label == "schedule":
            return d["_schedule"]
        if label in d["_settings"]:
            return d["_settings"][label]
        if label in d["_labels"]:
            return d["_labels"][label]
        raise AttributeError(f"process has no label '{label}'{did_you_mean(label, d['_labels'])}")

    def __delattr__(self, label):
        if label == "source":
            self.__dict__["_source"] = None
            return
        if label == "schedule":
            self.__dict__["_schedule"] = None
            return
        obj = self._labels.pop(label, None)
        if obj is None:
            raise AttributeError(f"process has no label '{label}'{did_you_mean(label, self._labels)}")
        for attr in list(_KIND_DICTS.values()) + list(_CONTAINER_DICTS.values()):
            getattr(self, attr).pop(label, None)
        obj._setLabel(None)

    def __contains__(self, label):
        return label in self._labels or (label == "source" and self._source is not None)

    # --- accessors ----------------------------------------------------------------------------------
    def name_(self) -> str:
        return self._name

    def source_(self):
        return self._source

    def producers_(self) -> dict:
        return dict(self._producers)

    def filters_(self) -> dict:
        return dict(self._filters)

    def analyzers_(self) -> dict:
        return dict(self._analyzers)

    def outputModules_(self) -> dict:
        return dict(self._outputs)

    def modules_(self) -> dict:
        """All modules except the source: label -> module, in assignment order."""
        return {k: v for k, v in self._labels.items() if isinstance(v, _Module)}

    def paths_(self) -> dict:
        return dict(self._paths)

    def endpaths_(self) -> dict:
        return dict(self._endpaths)

    def sequences_(self) -> dict:
        return dict(self._sequences)

    def tasks_(self) -> dict:
        return dict(self._tasks)

    def schedule_(self):
        """The cms.Schedule, or None (then all Paths run, then all EndPaths, in definition order)."""
        return self._schedule

    def scheduledPaths_(self) -> list:
        """The Path/EndPath objects to run, in order: the schedule's, or all Paths then all EndPaths."""
        if self._schedule is not None:
            return self._schedule.paths()
        return list(self._paths.values()) + list(self._endpaths.values())

    def modifiers_(self) -> tuple:
        return tuple(self._modifiers)

    def maxEvents_(self) -> int:
        return self._settings["maxEvents"].input.value()

    def options_(self) -> dict:
        """The options as plain values: {'chunkSize': 1000, 'numberOfThreads': 1, ...}."""
        return self._settings["options"].value()

    # --- text ---------------------------------------------------------------------------------------
    def dumpPython(self) -> str:
        from .dump import dump_process

        return dump_process(self)

    def __repr__(self):
        return f"<cms.Process {self._name!r}: {len(self._labels)} labels>"
