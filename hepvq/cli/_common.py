"""What every console script shares: the help formatter (defaults shown, descriptions kept as written),
--version, and argparse types that refuse bad values while parsing, before any work starts."""
from __future__ import annotations

import argparse

import hepvq


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Descriptions printed as written, every option's default appended to its help (not for flags and
    None defaults, whose meaning the help text states)."""

    def _get_help_string(self, action):
        if action.default is None or action.default is False or isinstance(action, argparse._VersionAction):
            return action.help
        return super()._get_help_string(action)


class Parser(argparse.ArgumentParser):
    """Usage errors in one line: `prog: error: ... (prog --help: options and defaults)`, exit status 2."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def parser(prog: str, description: str = "", **kwargs) -> argparse.ArgumentParser:
    """An ArgumentParser with defaults shown in --help, one-line usage errors and a --version option."""
    p = Parser(prog=prog, description=description, formatter_class=HelpFormatter, **kwargs)
    add_version(p)
    return p


def add_version(p: argparse.ArgumentParser) -> None:
    p.add_argument("--version", action="version", version=f"%(prog)s {hepvq.__version__}",
                   help="print the hepvq version and exit")


def bounded(kind, lo=None, hi=None):
    """argparse type: `kind` (int or float) within [lo, hi]; the message states the range the help states."""
    def num(v):
        return f"{v:g}".replace("e-0", "e-")

    rng = f"{num(lo)} .. {num(hi)}" if lo is not None and hi is not None else (
        f">= {num(lo)}" if lo is not None else f"<= {num(hi)}")

    def convert(text):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {kind.__name__}, got {text!r}") from None
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            raise argparse.ArgumentTypeError(f"must be {'in ' if hi is not None and lo is not None else ''}{rng}, got {text}")
        return value

    convert.__name__ = kind.__name__  # argparse names the type in "invalid int value" messages
    return convert


positive_int = bounded(int, 1)
non_negative_int = bounded(int, 0)
positive_float = bounded(float, 1e-300)
