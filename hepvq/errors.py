"""Exceptions of hepvq. Every error names where it happened: file, tree, branch, module label or
parameter, and where it helps, the nearest valid names ("did you mean")."""
from __future__ import annotations


def did_you_mean(name: str, choices, n: int = 3) -> str:
    """' (did you mean: a, b?)' for the choices closest to name, or '' when none is close."""
    import difflib  # only on the error path: its import costs more than the rest of hepvq.errors

    close = difflib.get_close_matches(str(name), [str(c) for c in choices], n=n, cutoff=0.5)
    return f" (did you mean: {', '.join(close)}?)" if close else ""


class HepvqError(Exception):
    """Base of every error hepvq raises on purpose; hepvq-run prints it in one line and exits 1."""


class ConfigError(HepvqError):
    """A cfg file cannot be loaded (syntax error, exception while executing it, no `process`)."""


class ParameterError(ConfigError):
    """A module parameter is unknown, missing or of the wrong type."""

    def __init__(self, message: str, *, label: str | None = None, module_type: str | None = None,
                 parameter: str | None = None):
        where = []
        if label is not None:
            where.append(f"module '{label}'")
        if module_type is not None:
            where.append(f"({module_type})")
        if parameter is not None:
            where.append(f"parameter '{parameter}'")
        prefix = " ".join(where)
        super().__init__(f"{prefix}: {message}" if prefix else message)
        self.label, self.module_type, self.parameter = label, module_type, parameter


class ModuleNotFoundInRegistry(ConfigError):
    """No framework module is registered under the requested type name."""


class InputError(HepvqError):
    """An input file, tree or branch is missing, unreadable or of the wrong type."""

    def __init__(self, message: str, *, file: str | None = None, tree: str | None = None,
                 branch: str | None = None):
        parts = [message]
        if branch is not None:
            parts.append(f"branch '{branch}'")
        if tree is not None:
            parts.append(f"tree '{tree}'")
        if file is not None:
            parts.append(f"in file {file}")
        super().__init__(" ".join(parts) if len(parts) == 1 else f"{parts[0]} ({', '.join(parts[1:])})")
        self.file, self.tree, self.branch = file, tree, branch


class ProductNotFound(HepvqError, KeyError):
    """A module asked for a product (InputTag) that no earlier module or the source made."""

    def __str__(self):  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class ModelError(HepvqError):
    """A model file is corrupt or its metadata does not match the data (patch size, ADC range...)."""


class DataError(HepvqError):
    """Data outside what a module can handle (hit outside the module's pixel range, ...)."""
