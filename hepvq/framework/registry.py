"""Registry of framework module types: type name -> class.

Filled by ``@register_module`` when a plugin file is imported. Plugins are found by importing the
package ``hepvq_modules`` (the repository's ``modules/`` directory) with all its sub-modules, and every
entry point of the group ``hepvq.modules`` (so that other packages can add modules)."""
from __future__ import annotations

import importlib
import logging
import pkgutil
from importlib import metadata

from hepvq.errors import ConfigError, ModuleNotFoundInRegistry, did_you_mean

log = logging.getLogger("hepvq.framework")

_REGISTRY: dict[str, type] = {}
_LOADED = False
_BROKEN: dict[str, str] = {}  # plugin file -> why it could not be imported


def register_module(cls=None, *, name: str | None = None):
    """Class decorator: register a Module subclass under its class name (or ``name``)."""

    def deco(c):
        key = name or c.__name__
        old = _REGISTRY.get(key)
        if old is not None and old is not c and (old.__module__, old.__qualname__) != (c.__module__, c.__qualname__):
            raise ConfigError(f"module type '{key}' registered twice: {old.__module__}.{old.__qualname__} "
                              f"and {c.__module__}.{c.__qualname__}")
        _REGISTRY[key] = c
        c.type_name = key
        return c

    return deco(cls) if cls is not None else deco


def _import_package_tree(pkg_name: str) -> None:
    """Import a plugin package and its sub-modules; a broken plugin file is reported, not fatal, so that
    one module family under development does not stop every other job."""
    pkg = importlib.import_module(pkg_name)
    for info in pkgutil.iter_modules(getattr(pkg, "__path__", []), prefix=pkg_name + "."):
        if info.name.rsplit(".", 1)[-1].startswith("_"):
            continue
        try:
            importlib.import_module(info.name)
        except Exception as err:
            _BROKEN[info.name] = f"{type(err).__name__}: {err}"
            log.warning("cannot import plugin %s: %s: %s", info.name, type(err).__name__, err)


def load_plugins(force: bool = False) -> None:
    """Import hepvq_modules (all of its files) and the ``hepvq.modules`` entry points, once."""
    global _LOADED
    if _LOADED and not force:
        return
    _LOADED = True
    _import_package_tree("hepvq_modules")
    try:
        eps = metadata.entry_points(group="hepvq.modules")
    except TypeError:  # python < 3.10 API
        eps = metadata.entry_points().get("hepvq.modules", [])
    for ep in eps:
        if ep.value.split(":")[0] == "hepvq_modules":
            continue  # already imported above
        try:
            target = ep.load()
        except Exception as err:  # a broken third-party plugin must not hide the others
            log.warning("cannot load hepvq.modules entry point %s (%s): %s", ep.name, ep.value, err)
            continue
        if hasattr(target, "__path__"):
            _import_package_tree(target.__name__)


def module_class(type_name: str) -> type:
    """The class registered under type_name (ModuleNotFoundInRegistry with did-you-mean otherwise)."""
    load_plugins()
    if type_name not in _REGISTRY:
        broken = "".join(f"; plugin {k} failed to import ({v})" for k, v in _BROKEN.items())
        raise ModuleNotFoundInRegistry(
            f"no module type '{type_name}' is registered{did_you_mean(type_name, _REGISTRY)}; "
            f"hepvq-run --list-modules shows them{broken}")
    return _REGISTRY[type_name]


def registered_modules() -> dict[str, type]:
    """{type name: class} of every registered module (plugins loaded)."""
    load_plugins()
    return dict(sorted(_REGISTRY.items()))
