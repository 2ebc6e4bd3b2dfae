"""Loading a cfg file (load_cfg) and command-line overrides (apply_override: label.param=text)."""
from __future__ import annotations

import os
import sys
import traceback

from hepvq.errors import ConfigError, HepvqError, ParameterError, did_you_mean

from .process import SETTINGS, Process
from .types import PSet


def load_cfg(path) -> Process:
    """Execute a cfg file (with __file__ set, its directory importable) and return its `process`.
    Every failure is a ConfigError naming the file and, where there is one, the cfg line."""
    path = os.path.abspath(os.fspath(path))
    if not os.path.exists(path):
        raise ConfigError(f"cfg file {path} not found")
    if not os.path.isfile(path):
        raise ConfigError(f"cfg file {path} is not a file")
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"cfg file {path} cannot be read: {err}") from None
    try:
        code = compile(text, path, "exec")
    except SyntaxError as err:
        raise ConfigError(f"cfg file {path} line {err.lineno}: {err.msg}") from None

    namespace = {"__file__": path, "__name__": "__hepvq_cfg__"}
    cfg_dir = os.path.dirname(path)
    sys.path.insert(0, cfg_dir)  # so a cfg can import fragments that sit next to it
    try:
        exec(code, namespace)
    except Exception as err:  # noqa: BLE001 - everything a cfg raises becomes one clear ConfigError
        raise _cfg_exception(path, err) from err
    finally:
        try:
            sys.path.remove(cfg_dir)
        except ValueError:
            pass

    process = namespace.get("process")
    if process is None:
        raise ConfigError(f"cfg file {path} defines no `process` (expected process = cms.Process(...))")
    if not isinstance(process, Process):
        raise ConfigError(f"cfg file {path}: `process` is a {type(process).__name__}, not a cms.Process")
    return process


def _cfg_exception(path, err) -> ConfigError:
    """ConfigError 'cfg file X line N: message', N being the last cfg line in the traceback; a fragment
    imported by the cfg is named too when the error happened there."""
    cfg_line, inner = None, None
    for frame, lineno in traceback.walk_tb(err.__traceback__):
        filename = frame.f_code.co_filename
        if filename == path:
            cfg_line = lineno
        elif not os.path.abspath(filename).startswith(os.path.dirname(os.path.dirname(__file__))) \
                and "<frozen" not in filename:
            inner = (filename, lineno)
    message = str(err) if isinstance(err, HepvqError) else f"{type(err).__name__}: {err}"
    where = f"cfg file {path}" + (f" line {cfg_line}" if cfg_line is not None else "")
    if inner is not None and inner[0] != path:
        where += f" (in {inner[0]} line {inner[1]})"
    cls = ParameterError if isinstance(err, ParameterError) else ConfigError
    return cls(f"{where}: {message}")


def apply_override(process, key: str, text: str):
    """Set process parameter `key` ('label.param', 'label.pset.param', 'maxEvents.input',
    'options.chunkSize', 'source.param') from command-line text, parsed by the parameter's type.
    Returns the parameter object."""
    if not isinstance(text, str):
        text = str(text)
    parts = key.split(".")
    if len(parts) < 2 or not all(parts):
        raise ParameterError(f"override '{key}={text}': expected label.parameter=value")
    label, names = parts[0], parts[1:]
    module_type = None
    if label in SETTINGS:
        holder = getattr(process, label)
    elif label == "source":
        holder = process.source
        if holder is None:
            raise ParameterError(f"override '{key}': the process has no source")
        module_type = holder.type_()
    else:
        modules = process.modules_()
        if label not in modules:
            choices = list(modules) + list(SETTINGS) + (["source"] if process.source is not None else [])
            raise ParameterError(f"override '{key}': no module labelled '{label}'{did_you_mean(label, choices)}")
        holder = modules[label]
        module_type = holder.type_()

    for depth, name in enumerate(names):
        dotted = ".".join(names[:depth + 1])
        param = holder._params.get(name)
        if param is None:
            raise ParameterError(f"unknown parameter{did_you_mean(name, holder.parameterNames_())}; "
                                 f"known: {', '.join(holder.parameterNames_()) or '(none)'}",
                                 label=label, module_type=module_type, parameter=dotted)
        if depth < len(names) - 1:
            if not isinstance(param, PSet):
                raise ParameterError(f"is a {param.typeName_()}, not a PSet, so '{names[depth + 1]}' cannot "
                                     "be set inside it", label=label, module_type=module_type, parameter=dotted)
            holder = param
    try:
        value = param.parseText(text)
    except ValueError as err:
        raise ParameterError(f"expects {param.typeName_()}, cannot use {text!r} ({err})",
                             label=label, module_type=module_type, parameter=".".join(names)) from None
    param.setValue(value)
    return param
