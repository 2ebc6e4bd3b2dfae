"""Subcommand dispatch shared by hepvq-train and hepvq-export: name -> "module:function", imported lazily so
that a subcommand's dependencies (torch, ...) load only when it runs and other engineers add subcommands by
writing the module the table names."""
from __future__ import annotations

import importlib
import sys

from hepvq.errors import HepvqError, did_you_mean


def dispatch(prog: str, table: dict[str, str], argv=None, doc: str = "") -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    usage = f"usage: {prog} {{{','.join(table)}}} [options]   ({prog} SUBCOMMAND --help for its options)"
    if not argv or argv[0] in ("-h", "--help"):
        print(doc.strip() + "\n\n" + usage if doc else usage)
        print("subcommands:\n" + "\n".join(f"  {name:14s} {target}" for name, target in table.items()))
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
