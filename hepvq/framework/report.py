"""TimeReport: the end-of-job summary (CMSSW's TimeReport + TrigReport, in one table).

Bytes are reported for what they are: ``read`` = compressed baskets of the branches the source consumed
(not whole input files, which may hold trees the job never reads), ``written`` = compressed branches of
each output tree, their ratio, and, on a separate line, the whole file sizes."""
from __future__ import annotations

import time
from collections import OrderedDict


def _rate(n, t):
    return n / t if t > 0 else float("nan")


def _bytes(n: int) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if abs(n) < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.2f} {unit}"
        n /= 1000
    return str(n)


class TimeReport:
    """Counts events and time per module; ``as_dict()`` for programs, ``format()`` for people."""

    def __init__(self):
        self.t0 = time.perf_counter()
        self.wall = 0.0
        self.events_read = 0
        self.events_written: dict[str, int] = OrderedDict()  # per output module
        self.path_passed: dict[str, int] = OrderedDict()
        self.modules: dict[str, dict] = OrderedDict()  # label -> {type, kind, time, events, calls}
        self.input_bytes = 0  # whole input files
        self.output_bytes: dict[str, int] = OrderedDict()  # whole output files
        self.read_bytes: int | None = None  # compressed branches read; None: the source reads no file
        self.read_what = ""
        self.written_bytes: dict[str, int] = OrderedDict()  # compressed branches of each output tree
        self.extra: dict[str, dict] = OrderedDict()

    def add_module(self, label: str, type_name: str, kind: str) -> None:
        self.modules.setdefault(label, {"type": type_name, "kind": kind, "time": 0.0, "events": 0, "calls": 0})

    def add_time(self, label: str, seconds: float, events: int) -> None:
        m = self.modules[label]
        m["time"] += seconds
        m["events"] += events
        m["calls"] += 1

    def finish(self) -> None:
        self.wall = time.perf_counter() - self.t0

    @property
    def events_rejected(self) -> int:
        if not self.events_written:
            return 0
        return self.events_read - max(self.events_written.values())

    def as_dict(self) -> dict:
        out_bytes = sum(self.output_bytes.values())
        written = sum(self.written_bytes.values())
        ratio = self.read_bytes / written if self.read_bytes and written else float("nan")
        return {
            "events_read": self.events_read,
            "events_written": max(self.events_written.values()) if self.events_written else 0,
            "events_written_per_output": dict(self.events_written),
            "events_rejected": self.events_rejected,
            "paths_passed": dict(self.path_passed),
            "wall_time_s": self.wall,
            "events_per_s": _rate(self.events_read, self.wall),
            "modules": {k: dict(v, events_per_s=_rate(v["events"], v["time"])) for k, v in self.modules.items()},
            "input_bytes": self.input_bytes,
            "output_bytes": out_bytes,
            "output_bytes_per_output": dict(self.output_bytes),
            "read_bytes": self.read_bytes,
            "read_what": self.read_what,
            "written_bytes": written,
            "written_bytes_per_output": dict(self.written_bytes),
            # bytes of the branches read / bytes of the branches written (nan: nothing read from a file)
            "compression_ratio": ratio,
            "file_size_ratio": (self.input_bytes / out_bytes) if self.input_bytes and out_bytes else float("nan"),
            "reports": {k: dict(v) for k, v in self.extra.items()},
        }

    def format(self) -> str:
        d = self.as_dict()
        lines = ["TimeReport ---------- Event Summary ----------",
                 f"TimeReport events read {d['events_read']}  written {d['events_written']}  "
                 f"rejected {d['events_rejected']}",
                 f"TimeReport wall time {d['wall_time_s']:.3f} s  {d['events_per_s']:.1f} events/s"]
        for path, n in d["paths_passed"].items():
            lines.append(f"TrigReport path {path}: {n} of {d['events_read']} events passed")
        lines.append("TimeReport ---------- Module Summary ----------")
        lines.append(f"TimeReport {'label':<24} {'type':<28} {'time/s':>9} {'events/s':>12} {'share':>6}")
        total = sum(m["time"] for m in d["modules"].values()) or float("nan")
        for label, m in d["modules"].items():
            lines.append(f"TimeReport {label:<24} {m['type']:<28} {m['time']:>9.3f} {m['events_per_s']:>12.1f} "
                         f"{100 * m['time'] / total:>5.1f}%")
        lines.append("TimeReport ---------- Bytes ----------")
        lines.extend(_bytes_lines(d))
        for label, values in d["reports"].items():
            items = "  ".join(f"{k} {_fmt(v)}" for k, v in values.items())
            lines.append(f"TimeReport [{label}] {items}")
        return "\n".join(lines)


def _bytes_lines(d) -> list[str]:
    out = []
    if d["read_bytes"] is None:
        out.append("TimeReport read     nothing from files (the source makes its events)")
    else:
        what = f" ({d['read_what']})" if d["read_what"] else ""
        out.append(f"TimeReport read     {_bytes(d['read_bytes'])}  compressed branches read{what}")
    for label, n in d["written_bytes_per_output"].items():
        out.append(f"TimeReport written  {_bytes(n)}  compressed branches of the tree written by {label}")
    if d["read_bytes"] and d["written_bytes"]:
        out.append(f"TimeReport read/written {d['compression_ratio']:.3f}")
    files = f"TimeReport whole files: output {_bytes(d['output_bytes'])}"
    if d["input_bytes"]:
        files = (f"TimeReport whole files: input {_bytes(d['input_bytes'])}  output {_bytes(d['output_bytes'])}  "
                 f"(input files may hold trees and branches the job does not read)")
    out.append(files)
    return out


def _fmt(v):
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)
