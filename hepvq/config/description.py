"""ParameterSetDescription: the schema a module type declares (CMSSW's fillDescriptions), and Params,
the checked plain-python parameters a module is built with.

    desc = cms.ParameterSetDescription()
    desc.add("src", cms.InputTag("source"), help="digis to compress")
    desc.addRequired("model", cms.FileInPath, help="ONNX model")
    desc.addOptional("tag", cms.untracked.string)
    params = desc.validate(module_cfg)      # before any event is read
    params.src.label, params.model          # InputTag object, absolute path

validate() is strict like CMSSW: an unknown parameter, a missing required one, a wrong type or a wrong
tracked-ness fails with a message naming module label, type, parameter, expected and found type.
"""
from __future__ import annotations

import copy

from hepvq.errors import ConfigError, ParameterError, did_you_mean

from .types import (_Integer, _Parameter, _Vector, Double, FileInPath, InputTag, PSet, VDouble, VInputTag,
                    VPSet, param_type_of)

# int given where a double is declared: accepted, as in CMSSW
_WIDENING = {Double: (_Integer,), VDouble: ()}


class _Declaration:
    __slots__ = ("name", "param_type", "tracked", "default", "kind", "help", "nested")

    def __init__(self, name, param_type, tracked, default, kind, help, nested=None):
        self.name, self.param_type, self.tracked = name, param_type, tracked
        self.default, self.kind, self.help, self.nested = default, kind, help, nested

    def typeName(self) -> str:
        t = self.param_type._typename
        return t if self.tracked else f"untracked {t}"

    def __repr__(self):
        return f"<{self.kind} {self.name}: {self.typeName()}>"


class ParameterSetDescription:
    def __init__(self):
        self._decls = {}
        self._allow_anything = False

    # --- declaring ----------------------------------------------------------------------------------
    def _declare(self, decl):
        if not isinstance(decl.name, str) or not decl.name.isidentifier():
            raise ConfigError(f"ParameterSetDescription: invalid parameter name {decl.name!r}")
        if decl.name in self._decls:
            raise ConfigError(f"ParameterSetDescription: parameter '{decl.name}' declared twice")
        self._decls[decl.name] = decl
        return self

    def add(self, name, default, help=""):
        """An optional parameter with a default; its type and tracked-ness come from the default.
        The default may be a ParameterSetDescription (a nested PSet with its own schema)."""
        if isinstance(default, ParameterSetDescription):
            return self._declare(_Declaration(name, PSet, True, None, "default", help, nested=default))
        if not isinstance(default, _Parameter):
            raise ConfigError(f"ParameterSetDescription.add({name!r}, ...): the default must be a typed "
                              f"parameter such as cms.int32(3), got {default!r}")
        nested = ParameterSetDescription.fromPSet(default) if isinstance(default, PSet) else None
        return self._declare(_Declaration(name, type(default), default.isTracked(), copy.deepcopy(default),
                                          "default", help, nested))

    def addUntracked(self, name, default, help=""):
        """add() with the default made untracked (a nested description becomes an untracked PSet)."""
        self.add(name, default, help)
        self._decls[name].tracked = False
        if self._decls[name].default is not None:
            self._decls[name].default._tracked = False
        return self

    def addRequired(self, name, type_, help=""):
        """A parameter the cfg must set; type_ is cms.int32, cms.untracked.string, ... or a nested
        ParameterSetDescription."""
        if isinstance(type_, ParameterSetDescription):
            return self._declare(_Declaration(name, PSet, True, None, "required", help, nested=type_))
        cls, tracked = param_type_of(type_)
        return self._declare(_Declaration(name, cls, tracked, None, "required", help))

    def addUntrackedRequired(self, name, type_, help=""):
        self.addRequired(name, type_, help)
        self._decls[name].tracked = False
        return self

    def addOptional(self, name, type_, help=""):
        """A parameter that may be absent (its value is then None)."""
        if isinstance(type_, ParameterSetDescription):
            return self._declare(_Declaration(name, PSet, True, None, "optional", help, nested=type_))
        cls, tracked = param_type_of(type_)
        return self._declare(_Declaration(name, cls, tracked, None, "optional", help))

    def addOptionalUntracked(self, name, type_, help=""):
        self.addOptional(name, type_, help)
        self._decls[name].tracked = False
        return self

    def addVPSet(self, name, description, default=(), help=""):
        """A VPSet whose every PSet is checked against description (defaults filled per element)."""
        if not isinstance(description, ParameterSetDescription):
            raise ConfigError(f"ParameterSetDescription.addVPSet({name!r}, ...): the second argument must be "
                              "a ParameterSetDescription")
        default = default if isinstance(default, VPSet) else VPSet(list(default))
        return self._declare(_Declaration(name, VPSet, default.isTracked(), default, "default", help,
                                          nested=description))

    def setAllowAnything(self):
        """Accept parameters that are not declared (passed through unchecked). Use sparingly."""
        self._allow_anything = True
        return self

    @classmethod
    def fromPSet(cls, pset):
        """A description whose parameters are those of pset, each optional with its value as default."""
        desc = cls()
        for name, param in pset.parameters_().items():
            desc.add(name, param)
        return desc

    def items(self):
        """(name, declaration) pairs in declaration order; a declaration has name, param_type, tracked,
        default, kind ('default', 'required', 'optional'), help and nested."""
        return list(self._decls.items())

    def __contains__(self, name):
        return name in self._decls

    # --- checking -----------------------------------------------------------------------------------
    def validate(self, cfg, label=None, module_type=None, _prefix="") -> "Params":
        """Check a module config (or PSet) against this schema and return its Params with defaults filled."""
        if label is None:
            label = getattr(cfg, "_label", None)
        if module_type is None:
            module_type = getattr(cfg, "_type", None)

        def err(message, name):
            return ParameterError(message, label=label, module_type=module_type, parameter=_prefix + name)

        given = cfg.parameters_()
        for name in given:
            if name not in self._decls and not self._allow_anything:
                declared = ", ".join(self._decls) or "(none)"
                raise err(f"unknown parameter{did_you_mean(name, self._decls)}; declared: {declared}"
                          f"{_at(given[name])}", name)
        values = {}
        for name, decl in self._decls.items():
            if name not in given:
                if decl.kind == "required":
                    raise err(f"missing required parameter of type {decl.typeName()}"
                              + (f" ({decl.help})" if decl.help else "") + _at(cfg), name)
                if decl.kind == "optional":
                    values[name] = None
                    continue
                if decl.nested is not None and decl.param_type is VPSet:
                    values[name] = [decl.nested.validate(ps, label, module_type, f"{_prefix}{name}[{i}].")
                                    for i, ps in enumerate(decl.default)]
                    continue
                if decl.nested is not None:
                    values[name] = decl.nested.validate(PSet(), label, module_type, f"{_prefix}{name}.")
                    continue
                values[name] = _plain(decl.default, err, name)
                continue
            param = self._checkType(decl, given[name], err)
            if decl.nested is not None and decl.param_type is VPSet:
                values[name] = [decl.nested.validate(ps, label, module_type, f"{_prefix}{name}[{i}].")
                                for i, ps in enumerate(param)]
            elif decl.nested is not None:
                values[name] = decl.nested.validate(param, label, module_type, f"{_prefix}{name}.")
            else:
                values[name] = _plain(param, err, name)
        for name in given:
            if name not in self._decls:  # allowAnything
                values[name] = _plain(given[name], err, name)
        return Params(values, label=label, module_type=module_type)

    @staticmethod
    def _checkType(decl, param, err):
        cls = decl.param_type
        if type(param) is not cls:
            widened = isinstance(param, _WIDENING.get(cls, ())) or (
                cls is VDouble and isinstance(param, _Vector) and all(
                    isinstance(v, (int, float)) and not isinstance(v, bool) for v in param.value())
                and not isinstance(param, VInputTag))
            if not widened:
                raise err(f"expects {decl.typeName()}, got {_found(param)}{_at(param)}", decl.name)
            converted = cls(param.value())
            converted._tracked, converted._where = param._tracked, param._where
            param = converted
        if param.isTracked() != decl.tracked:
            raise err(f"expects {decl.typeName()}, got {_found(param)}{_at(param)}", decl.name)
        return param

    # --- text ---------------------------------------------------------------------------------------
    def rows(self, _prefix=""):
        """(name, type, tracked, default text, help) for each declaration, nested PSets expanded."""
        out = []
        for name, d in self._decls.items():
            if d.kind == "required":
                default = "(required)"
            elif d.kind == "optional":
                default = "(optional)"
            elif d.nested is not None and d.default is None:
                default = ""
            elif isinstance(d.default, (PSet, VPSet)):
                default = "" if isinstance(d.default, PSet) else f"{len(d.default)} PSets"
            elif isinstance(d.default, InputTag):
                default = repr(str(d.default))
            else:
                default = d.default._dumpValue("").strip().replace("\n", " ")
            out.append((_prefix + name, d.param_type._typename, "yes" if d.tracked else "no", default, d.help))
            if d.nested is not None:
                out += d.nested.rows(f"{_prefix}{name}{'[]' if d.param_type is VPSet else ''}.")
        return out

    def describe_text(self, title=None) -> str:
        """A text table of the parameters, for hepvq-run --describe TYPE."""
        header = ("parameter", "type", "tracked", "default", "help")
        rows = self.rows()
        lines = [title] if title else []
        if not rows:
            lines.append("(no parameters)")
            return "\n".join(lines) + "\n"
        width = [max(len(str(r[i])) for r in rows + [header]) for i in range(4)]
        width = [min(w, 40) for w in width]
        for r in [header] + rows:
            cells = [str(c) if len(str(c)) <= w else str(c)[:w - 3] + "..." for c, w in zip(r[:4], width)]
            lines.append("  ".join(c.ljust(w) for c, w in zip(cells, width)) + "  " + r[4])
        if self._allow_anything:
            lines.append("(undeclared parameters are accepted)")
        return "\n".join(line.rstrip() for line in lines) + "\n"


def _at(obj) -> str:
    """' (at file.py:12)': where the offending cfg object was made, so the user finds the line."""
    where = getattr(obj, "_where", None)
    if not where or where[0].startswith("<"):
        return ""
    return f" (at {where[0]}:{where[1]})"


def _found(param) -> str:
    """'string 'abc'' or 'untracked int32 5': the found type and value named in errors."""
    if isinstance(param, (PSet, VPSet)):
        return param.typeName_()
    if isinstance(param, InputTag):
        return f"{param.typeName_()} '{param}'"
    value = param.value()
    if isinstance(value, list) and len(value) > 5:
        return f"{param.typeName_()} of {len(value)} elements"
    return f"{param.typeName_()} {value!r}"


def _plain(param, err, name):
    """The python value a module sees for a parameter."""
    if isinstance(param, InputTag):
        return InputTag(param.label, param.instance)
    if isinstance(param, VInputTag):
        return [InputTag(t.label, t.instance) for t in param.value()]
    if isinstance(param, FileInPath):
        try:
            return param.resolve()
        except ConfigError as e:
            raise err(str(e), name) from None
    if isinstance(param, PSet):
        return Params({n: _plain(p, err, f"{name}.{n}") for n, p in param.parameters_().items()})
    if isinstance(param, VPSet):
        return [Params({n: _plain(p, err, f"{name}[{i}].{n}") for n, p in ps.parameters_().items()})
                for i, ps in enumerate(param)]
    return param.value()


class Params:
    """Checked parameters as plain python values, by attribute or item: params.src, params["src"]."""

    def __init__(self, values: dict, label=None, module_type=None):
        self.__dict__["_values"] = dict(values)
        self.__dict__["_label"] = label
        self.__dict__["_type"] = module_type

    def __getattr__(self, name):
        values = self.__dict__["_values"]
        if name in values:
            return values[name]
        if name.startswith("__"):
            raise AttributeError(name)
        raise AttributeError(f"{self._where()}no parameter '{name}'{did_you_mean(name, values)}")

    def _where(self):
        if self._label or self._type:
            return f"module '{self._label}' ({self._type}): "
        return ""

    def __setattr__(self, name, value):
        raise AttributeError("Params are read-only; change the cfg instead")

    def __getitem__(self, name):
        try:
            return self._values[name]
        except KeyError:
            raise KeyError(f"{self._where()}no parameter '{name}'{did_you_mean(name, self._values)}") from None

    def __contains__(self, name):
        return name in self._values

    def __iter__(self):
        return iter(self._values)

    def __len__(self):
        return len(self._values)

    def keys(self):
        return self._values.keys()

    def items(self):
        return self._values.items()

    def get(self, name, default=None):
        return self._values.get(name, default)

    def label_(self):
        return self._label

    def type_(self):
        return self._type

    def as_dict(self) -> dict:
        """Plain dict, nested Params as dicts, InputTags as 'label:instance' strings kept as objects."""
        def conv(v):
            if isinstance(v, Params):
                return v.as_dict()
            if isinstance(v, list):
                return [conv(x) for x in v]
            return v
        return {k: conv(v) for k, v in self._values.items()}

    def __eq__(self, other):
        if isinstance(other, Params):
            return self._values == other._values
        if isinstance(other, dict):
            return self.as_dict() == other
        return NotImplemented

    __hash__ = None

    def __repr__(self):
        return f"Params({self._values!r})"

    def __getstate__(self):  # pickling (executors on other processes)
        return dict(self.__dict__)

    def __setstate__(self, state):
        self.__dict__.update(state)
