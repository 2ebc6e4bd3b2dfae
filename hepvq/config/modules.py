"""Module configs: Source, EDProducer, EDFilter, EDAnalyzer, OutputModule.

A module config is a type name (the registered framework module to build) plus typed parameters.
Its label is given by the Process it is attached to (``process.digis = cms.EDProducer(...)``).
"""
from __future__ import annotations

import copy

from hepvq.errors import ConfigError, ParameterError

from .sequences import _Sequenceable
from .types import PSet, _describe_value, _Parameter, _ParameterHolder, _where


class _Module(_ParameterHolder, _Sequenceable):
    _kind = "module"  # producer, filter, analyzer, output, source: the Process accessor it lands in

    def __init__(self, type_, /, *psets, **params):
        self._initHolder()
        if not isinstance(type_, str) or not type_:
            raise ConfigError(f"cms.{type(self).__name__}: the first argument is the module type name "
                              f"(a string), got {type_!r}")
        self._type = type_
        self._label = None
        self._where = _where()
        for p in psets:  # CMSSW lets a module start from PSets' parameters
            if not isinstance(p, PSet):
                raise self._error(f"positional arguments after the type must be PSets, got {_describe_value(p)}")
            self._addParameters(copy.deepcopy(p._params))
        self._addParameters(params)

    # --- identity ---------------------------------------------------------------------------------
    def type_(self) -> str:
        return self._type

    def label_(self):
        """The label given by the Process, None before the module is attached."""
        return self._label

    def _setLabel(self, label):
        self._label = label

    def where_(self):
        """(file, line) where this module config was made."""
        return self._where

    def kind_(self) -> str:
        return self._kind

    def _holderName(self):
        return f"{type(self).__name__} {self._label or ''} ({self._type})".replace("  ", " ")

    def _error(self, message, parameter=None):
        return ParameterError(message, label=self._label, module_type=self._type, parameter=parameter)

    # --- copies -----------------------------------------------------------------------------------
    def clone(self, *psets, **changes):
        """A deep copy, unlabelled, with changes: a bare value sets an existing parameter (validated),
        a typed parameter adds or replaces one, None removes one, a dict modifies a nested PSet."""
        new = copy.deepcopy(self)
        new._label = None
        new._where = _where()
        for p in psets:
            if not isinstance(p, PSet):
                raise self._error(f"clone() positional arguments must be PSets, got {_describe_value(p)}")
            new._addParameters(copy.deepcopy(p._params))
        apply_changes(new, changes)
        return new

    def __deepcopy__(self, memo):
        # labels belong to the Process, not to the copy
        new = object.__new__(type(self))
        memo[id(self)] = new
        for k, v in self.__dict__.items():
            object.__setattr__(new, k, copy.deepcopy(v, memo))
        return new

    # --- sequences --------------------------------------------------------------------------------
    def _moduleObjects(self):
        return [self]

    def _dumpRef(self, ref):
        if self._label is None:
            raise ConfigError(f"{type(self).__name__} of type {self._type!r} used in a path is not attached "
                              "to the process")
        return ref(self)

    # --- text -------------------------------------------------------------------------------------
    def dumpPython(self, indent: str = "") -> str:
        params = self._dumpParameters(indent)
        return f"cms.{type(self).__name__}({self._type!r}{',' if params else ''}{params})"

    def __repr__(self):
        return f"<cms.{type(self).__name__} {self._type!r} label={self._label!r}>"


def apply_changes(holder, changes: dict):
    """The change rules of clone() and Modifier.toModify()."""
    for name, value in changes.items():
        if value is None:
            if name not in holder._params:
                raise holder._error("cannot remove a parameter that does not exist", parameter=name)
            del holder._params[name]
        elif isinstance(value, dict) and isinstance(holder._params.get(name), PSet) and not \
                isinstance(value, _Parameter):
            apply_changes(holder._params[name], value)
        else:
            setattr(holder, name, value)


class Source(_Module):
    """Where events come from (RootSource, ...). process.source = cms.Source("RootSource", ...)."""

    _kind = "source"


class EDProducer(_Module):
    """Adds products to the event."""

    _kind = "producer"


class EDFilter(_Module):
    """Selects events: rejected events stop in the path that holds the filter."""

    _kind = "filter"


class EDAnalyzer(_Module):
    """Reads products, writes nothing to the event (histograms, metrics, reports)."""

    _kind = "analyzer"


class OutputModule(_Module):
    """Writes selected products to a file."""

    _kind = "output"
