"""Subcommand dispatch shared by hepvq-train and hepvq-export: name -> "module:function", imported lazily so
that a subcommand's dependencies (torch, ...) load only when it runs and other engineers add subcommands by
writing the module the table names."""
from __future__ import annotations

import importlib
import sys

from hepvq.errors import HepvqError, did_you_mean


def dispatch(prog: str, table: dict[str, str], argv=None, doc: str = "", summaries: dict | None = None) -> int:
    """Run `prog SUBCOMMAND args...`: table maps the name to "module:function", summaries (optional) to one
    line saying what it does, shown by `prog --help`."""
    import hepvq

    argv = list(sys.argv[1:] if argv is None else argv)
    usage = f"usage: {prog} {{{','.join(table)}}} [options]"
    if argv and argv[0] == "--version":
        print(f"{prog} {hepvq.__version__}")
        return 0
    if not argv or argv[0] in ("-h", "--help"):
        summaries = summaries or {}
        width = max(len(n) for n in table) + 2
        lines = [usage, "", doc.strip(), "", "subcommands:"] if doc else [usage, "", "subcommands:"]
        lines += [f"  {name:{width}s}{summaries.get(name, '')}".rstrip() for name in table]
        lines += ["", "options:", f"  {'-h, --help':{width}s}show this help and exit",
                  f"  {'--version':{width}s}print the hepvq version and exit",
                  "", f"{prog} SUBCOMMAND --help: the subcommand's options and their defaults"]
        print("\n".join(lines), file=sys.stdout if argv else sys.stderr)
        return 0 if argv else 2
    name, rest = argv[0], argv[1:]
    if name not in table:
        print(f"{prog}: unknown subcommand '{name}'{did_you_mean(name, table)}\n{usage}", file=sys.stderr)
        return 2
    mod_name, func_name = table[name].split(":")
    try:
        func = getattr(importlib.import_module(mod_name), func_name)
    except (ImportError, AttributeError) as err:
        print(f"{prog} {name}: cannot load {table[name]}: {err}", file=sys.stderr)
        return 1
    try:
        rc = func(rest)
    except HepvqError as err:
        print(f"{prog} {name}: error: {err}", file=sys.stderr)
        return 1
    return int(rc or 0)
