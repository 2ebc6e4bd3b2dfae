"""Typed parameters of the cfg language (CMSSW's Types.py + Mixins.py in small).

Every parameter validates its value on construction and on every assignment, knows whether it is
tracked, records the cfg file and line where it was made, parses override text (``label.param=text``)
and dumps itself as python text that rebuilds an equal object.

The classes have capitalised python names (``Int32``) so that this module can still use the builtins
``bool``/``int``; ``hepvq.config`` exports them under the cfg names (``cms.int32``, ``cms.bool``...).
"""
from __future__ import annotations

import copy
import math
import numbers
import os
import sys

from hepvq.errors import ConfigError, ParameterError, did_you_mean

_CONFIG_DIR = os.path.dirname(os.path.abspath(__file__))


def _where():
    """(file, line) of the first caller outside hepvq/config: the cfg line that made the object.
    sys._getframe instead of inspect.stack(): the latter reads source files and is slow."""
    frame = sys._getframe(1)
    while frame is not None:
        filename = frame.f_code.co_filename
        if os.path.dirname(os.path.abspath(filename)) != _CONFIG_DIR:
            return (filename, frame.f_lineno)
        frame = frame.f_back
    return ("<unknown>", 0)


def _describe_value(value) -> str:
    """'string 'abc'' / 'int 3': how a found value is named in type errors."""
    if isinstance(value, _Parameter):
        return f"{value.typeName_()} {value.value()!r}" if not isinstance(value, (PSet, VPSet)) \
            else value.typeName_()
    return f"{_PY_NAMES.get(type(value), type(value).__name__)} {value!r}"


# python types named as the cfg type a user would think of
_PY_NAMES = {str: "string", float: "double", int: "int", bool: "bool", list: "list", tuple: "tuple",
             dict: "dict", type(None): "None"}


def _check_name(name: str, owner: str):
    if not isinstance(name, str) or not name.isidentifier() or name.startswith("_") or name.endswith("_"):
        raise ParameterError(f"invalid parameter name {name!r} in {owner}: use a python identifier "
                             "that neither starts nor ends with '_'")


# --------------------------------------------------------------------------------------------------
class _Parameter:
    """Base of all typed parameters. Subclasses define _typename, _check(value) -> normalised value,
    _parse(text) -> value and _dumpValue(indent) -> python text of the constructor arguments."""

    _typename = "?"

    def __init__(self, value):
        self._tracked = True
        self._where = _where()
        self._value = self._checked(value)

    # --- public API -----------------------------------------------------------------------------
    def value(self):
        return self._value

    def setValue(self, value):
        self._value = self._checked(value)

    def isTracked(self) -> bool:
        return self._tracked

    def setIsTracked(self, tracked: bool):
        self._tracked = True if tracked else False

    def typeName_(self) -> str:
        """'int32' or 'untracked int32': the name used in messages."""
        return self._typename if self._tracked else f"untracked {self._typename}"

    def configTypeName(self) -> str:
        return self._typename

    def where_(self):
        """(file, line) where this object was made."""
        return self._where

    def dumpPython(self, indent: str = "") -> str:
        prefix = "cms." if self._tracked else "cms.untracked."
        return f"{prefix}{self._typename}({self._dumpValue(indent)})"

    def parseText(self, text: str):
        """The value that override text (hepvq-run label.param=text) means for this type."""
        try:
            return self._checked(self._parse(text))
        except (ValueError, TypeError, ParameterError) as err:
            raise ValueError(str(err)) from None

    def copy(self):
        return copy.deepcopy(self)

    # --- helpers ----------------------------------------------------------------------------------
    def _checked(self, value):
        if isinstance(value, _Parameter):
            # assigning a typed parameter to an existing one keeps the declared type
            if not isinstance(value, type(self)):
                raise ParameterError(f"expects {self._typename}, got {_describe_value(value)}")
            value = value.value()
        return self._check(value)

    def _check(self, value):
        # scalar and vector types override this; composite ones (PSet, VPSet, InputTag) override _checked
        raise ParameterError(f"a {self._typename} cannot be set from {_describe_value(value)}")

    def _parse(self, text: str):
        return text

    def _dumpValue(self, indent: str) -> str:
        return repr(self._value)

    def __eq__(self, other):
        return (type(other) is type(self) and other._tracked == self._tracked
                and other.value() == self.value())

    __hash__ = None  # mutable

    def __repr__(self):
        return self.dumpPython()


# --- scalars --------------------------------------------------------------------------------------
def _int_parse(text: str):
    text = text.strip()
    try:
        return int(text)
    except ValueError:
        return int(text, 0)  # 0x10, 0o7, 1_000


class _Integer(_Parameter):
    _min = 0
    _max = 0

    def _check(self, value):
        if isinstance(value, bool) or not isinstance(value, numbers.Integral):
            raise ParameterError(f"expects {self._typename}, got {_describe_value(value)}")
        value = int(value)
        if not self._min <= value <= self._max:
            raise ParameterError(f"{self._typename} value {value} out of range [{self._min}, {self._max}]")
        return value

    _parse = staticmethod(_int_parse)


class Int32(_Integer):
    _typename, _min, _max = "int32", -2**31, 2**31 - 1


class UInt32(_Integer):
    _typename, _min, _max = "uint32", 0, 2**32 - 1


class Int64(_Integer):
    _typename, _min, _max = "int64", -2**63, 2**63 - 1


class UInt64(_Integer):
    _typename, _min, _max = "uint64", 0, 2**64 - 1


def _float_text(x: float) -> str:
    # repr() is the shortest text that reads back to the same double (0.1, 1e-07)
    if math.isnan(x) or math.isinf(x):
        return f"float('{x}')"
    return repr(x)


class Double(_Parameter):
    _typename = "double"

    def _check(self, value):
        # an int is accepted (CMSSW does the same), a bool is not
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise ParameterError(f"expects double, got {_describe_value(value)}")
        return float(value)

    def _parse(self, text):
        return float(text.strip())

    def _dumpValue(self, indent):
        return _float_text(self._value)


_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}


class Bool(_Parameter):
    _typename = "bool"

    def _check(self, value):
        # numpy.bool_ is not a subclass of bool; accept it, reject 0/1 ints (bool is not an int here)
        if type(value).__name__ == "bool_":
            value = value.item()
        if not isinstance(value, bool):
            raise ParameterError(f"expects bool, got {_describe_value(value)}")
        return value

    def _parse(self, text):
        t = text.strip().lower()
        if t in _TRUE:
            return True
        if t in _FALSE:
            return False
        raise ValueError("use true/false, 1/0, yes/no")


class String(_Parameter):
    _typename = "string"

    def _check(self, value):
        if not isinstance(value, str):
            raise ParameterError(f"expects string, got {_describe_value(value)}")
        return value


# --- InputTag / FileInPath --------------------------------------------------------------------------
class InputTag(_Parameter):
    """A product reference: InputTag("label"), InputTag("label", "instance") or InputTag("label:instance").
    Hashable on (label, instance) so that the framework can key products by it."""

    _typename = "InputTag"

    def __init__(self, label="", instance=None):
        self._tracked = True
        self._where = _where()
        self._value = self._checked(label if instance is None else (label, instance))

    @staticmethod
    def _split(value):
        if isinstance(value, InputTag):
            return value.label, value.instance
        if isinstance(value, tuple) and len(value) == 2 and all(isinstance(v, str) for v in value):
            label, instance = value
            if ":" in label or ":" in instance:
                raise ParameterError(f"InputTag{value!r}: with two arguments neither may contain ':'")
            return label, instance
        if isinstance(value, str):
            parts = value.split(":")
            if len(parts) == 1:
                return parts[0], ""
            if len(parts) == 2:
                return parts[0], parts[1]
            raise ParameterError(f"InputTag {value!r}: expected 'label' or 'label:instance'")
        raise ParameterError(f"expects InputTag, got {_describe_value(value)}")

    def _checked(self, value):
        label, instance = self._split(value)
        if not label and instance:
            raise ParameterError(f"InputTag {label}:{instance}: an instance needs a module label")
        return (label, instance)

    @property
    def label(self) -> str:
        return self._value[0]

    @property
    def instance(self) -> str:
        return self._value[1]

    def getModuleLabel(self) -> str:  # CMSSW spelling
        return self.label

    def getProductInstanceLabel(self) -> str:
        return self.instance

    def value(self) -> str:
        return str(self)

    def __str__(self):
        return f"{self.label}:{self.instance}" if self.instance else self.label

    def _dumpValue(self, indent):
        return f"{self.label!r}, {self.instance!r}" if self.instance else repr(self.label)

    def __eq__(self, other):
        if isinstance(other, str):
            try:
                return self._value == self._split(other)
            except ParameterError:
                return False
        return isinstance(other, InputTag) and other._value == self._value

    def __hash__(self):
        return hash(self._value)


def repository_root() -> str:
    """The directory holding the hepvq package (the repository root in a checkout)."""
    return os.path.dirname(os.path.dirname(_CONFIG_DIR))


class FileInPath(_Parameter):
    """A file named relative to a search path: the cwd, then $HEPVQ_SEARCH_PATH (':'-separated), then the
    repository root. value() is the path as written; resolve() the absolute path found."""

    _typename = "FileInPath"

    def _check(self, value):
        if not isinstance(value, str) or not value:
            raise ParameterError(f"expects FileInPath (a non-empty path string), got {_describe_value(value)}")
        return value

    @staticmethod
    def searchPath() -> list:
        places = [os.getcwd()]
        places += [p for p in os.environ.get("HEPVQ_SEARCH_PATH", "").split(":") if p]
        places.append(repository_root())
        return list(dict.fromkeys(os.path.abspath(p) for p in places))  # without duplicates, in order

    def resolve(self) -> str:
        path = os.path.expanduser(self._value)
        if os.path.isabs(path):
            if os.path.exists(path):
                return path
            places = []
        else:
            places = self.searchPath()
            for place in places:
                candidate = os.path.join(place, path)
                if os.path.exists(candidate):
                    return os.path.abspath(candidate)
        searched = ", ".join(places) if places else "(absolute path)"
        raise ConfigError(f"FileInPath {self._value!r} not found; searched: {searched}")


# --- vectors ----------------------------------------------------------------------------------------
class _Vector(_Parameter):
    """A list of one element type. Built as cms.vint32(1, 2, 3) or cms.vint32([1, 2, 3])."""

    _element = None  # the scalar class whose _check/_parse/_dumpValue handle each element

    @classmethod
    def _proto(cls):
        """An uninitialised element object, used only for its _check/_parse/_dumpValue methods."""
        return cls._element.__new__(cls._element)

    def __init__(self, *values):
        if len(values) == 1 and isinstance(values[0], (list, tuple)):
            values = tuple(values[0])
        super().__init__(list(values))

    def _check(self, value):
        if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
            raise ParameterError(f"expects {self._typename} (a list), got {_describe_value(value)}")
        out, element = [], self._proto()
        for i, v in enumerate(value):
            try:
                out.append(element._check(v))
            except ParameterError as err:
                raise ParameterError(f"{self._typename} element {i}: {err}") from None
        return out

    def value(self):
        return list(self._value)  # a copy: changes go through setValue and are validated

    def _parse(self, text):
        text = text.strip()
        if text.startswith("[") and text.endswith("]"):
            text = text[1:-1]
        if not text.strip():
            return []
        element = self._proto()
        return [element._parse(t.strip()) for t in text.split(",")]

    def _dumpValue(self, indent):
        element = self._proto()
        items = []
        for v in self._value:
            element._value = v
            items.append(element._dumpValue(indent))
        one_line = ", ".join(items)
        if len(one_line) <= 80:
            return one_line
        inner = indent + "    "
        return "\n" + ",\n".join(inner + i for i in items) + "\n" + indent

    # list-like reading and validated appending
    def __len__(self):
        return len(self._value)

    def __iter__(self):
        return iter(self.value())

    def __getitem__(self, i):
        return self._value[i]

    def append(self, v):
        self.setValue(self._value + [v])

    def extend(self, vs):
        self.setValue(self._value + list(vs))


class VInt32(_Vector):
    _typename, _element = "vint32", Int32


class VUInt32(_Vector):
    _typename, _element = "vuint32", UInt32


class VInt64(_Vector):
    _typename, _element = "vint64", Int64


class VUInt64(_Vector):
    _typename, _element = "vuint64", UInt64


class VDouble(_Vector):
    _typename, _element = "vdouble", Double


class VString(_Vector):
    _typename, _element = "vstring", String


class _TagElement(InputTag):
    """InputTag used as a vector element: normalises to (label, instance)."""

    def _check(self, value):
        return InputTag._checked(self, value)

    def _parse(self, text):
        return text

    def _dumpValue(self, indent):
        label, instance = self._value
        return repr(f"{label}:{instance}" if instance else label)


class VInputTag(_Vector):
    _typename, _element = "VInputTag", _TagElement

    def value(self):
        # a list of InputTag objects with the same tracked-ness
        out = []
        for label, instance in self._value:
            tag = InputTag(label, instance)
            tag._tracked = self._tracked
            out.append(tag)
        return out

    def __getitem__(self, i):
        return self.value()[i]


# --- parameter holders (PSet, and modules via the same mixin) -------------------------------------
_SUGGEST = {bool: "cms.bool", int: "cms.int32", float: "cms.double", str: "cms.string"}


def _suggest_type(value) -> str:
    if type(value) in _SUGGEST:
        return _SUGGEST[type(value)]
    if isinstance(value, (list, tuple)) and value:
        first = value[0]
        return {int: "cms.vint32", float: "cms.vdouble", str: "cms.vstring"}.get(
            type(first), "a cms.v* vector type")
    if isinstance(value, dict):
        return "cms.PSet"
    return "a typed parameter (cms.int32, cms.string, ...)"


class _ParameterHolder:
    """Attribute storage for typed parameters, shared by PSet and the module configs.
    New attributes must be typed parameters; an existing one takes a bare value and validates it."""

    def _initHolder(self):
        object.__setattr__(self, "_params", {})

    def _holderName(self) -> str:
        return type(self).__name__

    def _error(self, message, parameter=None):
        return ParameterError(message, parameter=parameter)

    def __getattr__(self, name):
        # only called when normal lookup failed
        if name.startswith("_"):
            raise AttributeError(name)
        params = self.__dict__.get("_params", {})
        if name in params:
            return params[name]
        raise AttributeError(f"{self._holderName()} has no parameter '{name}'"
                             f"{did_you_mean(name, params)}")

    def __setattr__(self, name, value):
        if name.startswith("_"):
            object.__setattr__(self, name, value)
            return
        if name in self._params:
            existing = self._params[name]
            if isinstance(value, _Parameter):
                # a typed object replaces the parameter, type and tracked-ness included (as in CMSSW)
                self._params[name] = value
                return
            try:
                existing.setValue(value)
            except ParameterError as err:
                raise self._error(str(err), parameter=name) from None
            return
        if hasattr(type(self), name):
            raise self._error(f"'{name}' is a method name and cannot be a parameter", parameter=name)
        if not isinstance(value, _Parameter):
            raise self._error(f"new parameter needs a type: got bare {_describe_value(value)}; "
                              f"use {_suggest_type(value)}(...)", parameter=name)
        _check_name(name, self._holderName())
        self._params[name] = value

    def __delattr__(self, name):
        if name in self._params:
            del self._params[name]
        else:
            object.__delattr__(self, name)

    def __contains__(self, name):
        return name in self._params

    def parameterNames_(self) -> list:
        return sorted(self._params)

    def parameters_(self) -> dict:
        """{name: parameter object}, names sorted."""
        return {n: self._params[n] for n in sorted(self._params)}

    def hasParameter(self, name) -> bool:
        return name in self._params

    def _addParameters(self, params: dict):
        for name, value in params.items():
            setattr(self, name, value)

    def _dumpParameters(self, indent: str) -> str:
        """'\\n<indent>a = cms.int32(1),\\n...' in sorted order, or '' when empty."""
        inner = indent + "    "
        lines = [f"{inner}{n} = {self._params[n].dumpPython(inner)}" for n in sorted(self._params)]
        return ("\n" + ",\n".join(lines) + "\n" + indent) if lines else ""


class PSet(_ParameterHolder, _Parameter):
    """A named group of parameters: cms.PSet(a=cms.int32(1), b=cms.string("x")).
    value() gives a dict of plain python values."""

    _typename = "PSet"

    def __init__(self, *psets, **params):
        self._initHolder()
        self._tracked = True
        self._where = _where()
        for p in psets:  # cms.PSet(other, x=...) copies other's parameters first, like CMSSW
            if not isinstance(p, PSet):
                raise ParameterError(f"PSet positional arguments must be PSets, got {_describe_value(p)}")
            self._addParameters(p.copy()._params)
        self._addParameters(params)

    def value(self):
        return {n: p.value() for n, p in self.parameters_().items()}

    def setValue(self, value):
        if isinstance(value, PSet):
            self._params = dict(value.copy()._params)
            return
        raise ParameterError(f"expects PSet, got {_describe_value(value)}")

    def _checked(self, value):
        self.setValue(value)
        return None

    def parseText(self, text):
        raise ValueError("a PSet cannot be set from text; set its parameters one by one (name.param=value)")

    def _dumpValue(self, indent):
        return self._dumpParameters(indent)

    def __eq__(self, other):
        return type(other) is type(self) and other._tracked == self._tracked and other._params == self._params

    __hash__ = None


class VPSet(_Parameter):
    """A list of PSets: cms.VPSet(cms.PSet(...), cms.PSet(...))."""

    _typename = "VPSet"

    def __init__(self, *psets):
        if len(psets) == 1 and isinstance(psets[0], (list, tuple)):
            psets = tuple(psets[0])
        super().__init__(list(psets))

    def _check(self, value):
        if isinstance(value, (str, bytes, PSet)) or not hasattr(value, "__iter__"):
            raise ParameterError(f"expects VPSet (a list of PSets), got {_describe_value(value)}")
        out = list(value)
        for i, p in enumerate(out):
            if not isinstance(p, PSet):
                raise ParameterError(f"VPSet element {i}: expects PSet, got {_describe_value(p)}")
        return out

    def value(self):
        return [p.value() for p in self._value]

    def parseText(self, text):
        raise ValueError("a VPSet cannot be set from text")

    def __len__(self):
        return len(self._value)

    def __iter__(self):
        return iter(self._value)

    def __getitem__(self, i):
        return self._value[i]

    def append(self, pset):
        self.setValue(self._value + [pset])

    def _dumpValue(self, indent):
        if not self._value:
            return ""
        inner = indent + "    "
        return "\n" + ",\n".join(inner + p.dumpPython(inner) for p in self._value) + "\n" + indent

    def __eq__(self, other):
        return type(other) is type(self) and other._tracked == self._tracked and other._value == self._value

    __hash__ = None


# --- untracked --------------------------------------------------------------------------------------
PARAMETER_TYPES = {c._typename: c for c in (
    Int32, UInt32, Int64, UInt64, Double, Bool, String, VString, VInt32, VUInt32, VInt64, VUInt64, VDouble,
    InputTag, VInputTag, FileInPath, PSet, VPSet)}


class _UntrackedFactory:
    """cms.untracked.int32: builds an untracked int32. Carries param_type so that a
    ParameterSetDescription can be given cms.untracked.int32 as a type."""

    def __init__(self, param_type):
        self.param_type = param_type
        self.tracked = False
        self.__name__ = f"untracked.{param_type._typename}"

    def __call__(self, *args, **kwargs):
        obj = self.param_type(*args, **kwargs)
        obj._tracked = False
        obj._where = _where()
        return obj

    def __repr__(self):
        return f"cms.untracked.{self.param_type._typename}"


class _Untracked:
    """cms.untracked.<type>(...) factories, and cms.untracked(param) to untrack an existing object."""

    def __init__(self):
        for name, cls in PARAMETER_TYPES.items():
            setattr(self, name, _UntrackedFactory(cls))

    def __call__(self, param):
        if not isinstance(param, _Parameter):
            raise ParameterError(f"cms.untracked() takes a typed parameter, got {_describe_value(param)}")
        param._tracked = False
        return param

    def __getattr__(self, name):
        raise AttributeError(f"cms.untracked has no type '{name}'{did_you_mean(name, PARAMETER_TYPES)}")


untracked = _Untracked()


def param_type_of(factory):
    """(class, tracked) of a type given as cms.int32 or cms.untracked.int32."""
    if isinstance(factory, _UntrackedFactory):
        return factory.param_type, False
    if isinstance(factory, type) and issubclass(factory, _Parameter) and factory in PARAMETER_TYPES.values():
        return factory, True
    raise ParameterError(f"expected a parameter type such as cms.int32 or cms.untracked.string, got {factory!r}")
