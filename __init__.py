# Not part of the package: this file is the repository root.  Python imports it as `hepvq` only when it runs
# from the directory holding a clone named "hepvq"; without this file the clone became a namespace package
# and everything after failed oddly ("module 'hepvq' has no attribute 'open'").  Hand over to the real package:
# the installed one when Python can find it elsewhere on sys.path, else the clone's hepvq/ (saying so).
import importlib.machinery as _machinery
import importlib.util as _util
import os as _os
import sys as _sys

_clone = _os.path.dirname(_os.path.abspath(__file__))
_parent = _os.path.dirname(_clone)
_elsewhere = [p for p in _sys.path if _os.path.abspath(p or ".") != _parent]
_spec = _machinery.PathFinder.find_spec("hepvq", _elsewhere)
if _spec is None or _spec.origin is None:  # none installed elsewhere (or only through an editable finder)
    _inner = _os.path.join(_clone, "hepvq")
    print(f"hepvq: note: Python runs from the parent of the clone {_clone}, so 'import hepvq' found the "
          f"clone itself; using its package {_inner}", file=_sys.stderr)
    _spec = _util.spec_from_file_location("hepvq", _os.path.join(_inner, "__init__.py"),
                                          submodule_search_locations=[_inner])
_module = _util.module_from_spec(_spec)
_sys.modules["hepvq"] = _module  # the import statement returns what sys.modules holds once this file ran
_spec.loader.exec_module(_module)
