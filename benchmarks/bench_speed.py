"""Speed and memory of compressing and reading pixel DIGIs with hepvq, against plain uproot on the same DIGIs.

    python benchmarks/bench_speed.py [--events 40] [--runs 3] [--out bench_out] [--update-docs]

Makes (once, kept in --out) a simulated PU-200 file of --events events with ``hepvq-simulate pixel``, then
times whole processes (interpreter start-up and imports included on both sides), --runs times each,
interleaved so that load changes hit every job alike, and keeps the median wall time, CPU time and peak
RSS (``os.wait4`` of each child); hepvq's .pyc files are written first, as any install has them:

* compress: ``hepvq-run python_cfg/premix_compress_cfg.py`` (validate off, and on) vs a plain uproot read +
  write of the same DIGIs with ZSTD-5;
* read: ``hepvq.open(compressed).arrays()`` vs a plain uproot read of the raw DIGIs;
* decompress: ``hepvq-run python_cfg/decompress_cfg.py`` vs the plain uproot read + write;
* the core alone, in this process: pixel_vq encode and decode throughput (hits/s, 1 and 2 threads) beside
  zstd-5 compressing and decompressing the same four DIGI columns.

Writes --out/speed.json and --out/speed.md; --update-docs also writes docs/speed.md and docs/speed.png."""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
FIELDS = ("detId", "row", "col", "adc")

UPROOT_COPY = r"""
import sys, awkward as ak, uproot
src, dst = sys.argv[1], sys.argv[2]
with uproot.open(src) as f:
    t = f["Events"]
    a = t.arrays(["run", "luminosityBlock", "event"] + ["PixelDigi_" + k for k in ("detId", "row", "col", "adc")],
                 how=dict)
data = {k: a[k] for k in ("run", "luminosityBlock", "event")}
data["PixelDigi"] = ak.zip({k: a["PixelDigi_" + k] for k in ("detId", "row", "col", "adc")})
with uproot.recreate(dst, compression=uproot.ZSTD(5)) as out:
    tree = out.mktree("Events", {k: (v.type.content if k == "PixelDigi" else v.type.content.primitive)
                                 for k, v in data.items()})
    tree.extend(data)
"""

UPROOT_READ = r"""
import sys, uproot
with uproot.open(sys.argv[1]) as f:
    a = f["Events"].arrays(["run", "luminosityBlock", "event"] + ["PixelDigi_" + k for k in ("detId", "row", "col", "adc")])
print(len(a))
"""

HEPVQ_READ = r"""
import sys, hepvq
with hepvq.open(sys.argv[1], threads=int(sys.argv[2])) as r:
    a = r.arrays()
print(len(a))
"""


def run_child(cmd, cwd) -> dict:
    """Wall time, CPU time (user + system) and peak RSS of one child process."""
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                         env=dict(os.environ, PYTHONWARNINGS="ignore"))
    _pid, status, ru = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t0
    err = p.stderr.read().decode(errors="replace")
    p.stderr.close()
    if status != 0:
        raise SystemExit(f"bench_speed: {' '.join(map(str, cmd))} failed:\n{err[-2000:]}")
    return {"wall_s": wall, "cpu_s": ru.ru_utime + ru.ru_stime, "peak_mb": ru.ru_maxrss / 1024.0}


def make_input(path: Path, events: int, seed: int) -> None:
    if path.is_file():
        return
    subprocess.run(["hepvq-simulate", "pixel", "--events", str(events), "--pileup", "200", "--seed", str(seed),
                    "--no-truth", "--quiet", "-o", str(path)], check=True)


def core_throughput(path: Path, events: int) -> dict:
    """hits/s of the core's encode and decode (whole codec calls on 10-event chunks) and of zstd-5."""
    import awkward as ak
    import numpy as np
    import uproot
    import zstandard

    from hepvq.pixel import patches as P
    from hepvq.pixel.codec import PixelVQCodec

    with uproot.open(path) as f:
        t = f["Events"]
        hits = ak.zip({k: t[f"PixelDigi_{k}"].array(entry_stop=min(events, 20)) for k in FIELDS})
    n_hits = int(ak.sum(ak.num(hits)))
    out = {"hits": n_hits}
    for threads in (1, 2):
        codec = PixelVQCodec.from_directory(REPO / "data" / "models" / "pixel_vq")
        codec.threads = threads
        if codec._fast is not None:
            codec._fast.threads = threads
        chunks = [hits[i:i + 10] for i in range(0, len(hits), 10)]
        codec.encode(chunks[0][:1])  # warm-up (sessions, tables)
        t0 = time.perf_counter()
        products = [codec.encode(c).products for c in chunks]
        t_enc = time.perf_counter() - t0
        codec.decode(products[0])
        t0 = time.perf_counter()
        for p in products:
            codec.decode(p)
        t_dec = time.perf_counter() - t0
        out[f"encode_hits_per_s_{threads}t"] = n_hits / t_enc
        out[f"decode_hits_per_s_{threads}t"] = n_hits / t_dec
    h = P.flatten(hits)
    raw = b"".join(np.ascontiguousarray(x).tobytes() for x in (h.det.astype(np.uint32), h.row.astype(np.uint16),
                                                            h.col.astype(np.uint16), h.adc.astype(np.uint16)))
    t0 = time.perf_counter()
    z = zstandard.ZstdCompressor(level=5).compress(raw)
    t_z = time.perf_counter() - t0
    t0 = time.perf_counter()
    zstandard.ZstdDecompressor().decompress(z)
    t_u = time.perf_counter() - t0
    out["zstd5_compress_hits_per_s"] = n_hits / t_z
    out["zstd5_decompress_hits_per_s"] = n_hits / t_u
    return out


def written_format(path: Path) -> int:
    """The pixel_vq format of a compressed file (its settings' version: 2 = format 2)."""
    from hepvq.io.metadata import read_metadata

    _prov, blobs = read_metadata(str(path))
    return 2 if int(json.loads(bytes(blobs["pixelVQ/settings"]))["version"]) >= 2 else 1


def median(rows, key):
    return statistics.median(r[key] for r in rows)


def summarise(times: dict) -> dict:
    s = {job: {k: median(rows, k) for k in ("wall_s", "cpu_s", "peak_mb")} for job, rows in times.items()}
    ratio = lambda a, b, k="wall_s": s[a][k] / s[b][k]  # noqa: E731
    s["ratios"] = {
        "compress / uproot read+write (wall)": ratio("compress", "uproot_copy"),
        "compress validate / uproot read+write (wall)": ratio("compress_validate", "uproot_copy"),
        "hepvq.open().arrays() / uproot read (wall)": ratio("hepvq_read", "uproot_read"),
        "decompress / uproot read+write (wall)": ratio("decompress", "uproot_copy"),
        "compress / uproot read+write (peak memory)": ratio("compress", "uproot_copy", "peak_mb"),
        "hepvq.open().arrays() / uproot read (peak memory)": ratio("hepvq_read", "uproot_read", "peak_mb"),
        "decompress / uproot read+write (peak memory)": ratio("decompress", "uproot_copy", "peak_mb"),
        "compress / uproot read+write (CPU)": ratio("compress", "uproot_copy", "cpu_s"),
        "compress validate / uproot read+write (CPU)": ratio("compress_validate", "uproot_copy", "cpu_s"),
        "hepvq.open().arrays() / uproot read (CPU)": ratio("hepvq_read", "uproot_read", "cpu_s"),
        "decompress / uproot read+write (CPU)": ratio("decompress", "uproot_copy", "cpu_s"),
    }
    return s


def markdown(result: dict) -> str:
    s = result["summary"]
    lines = [f"Input: {result['events']} simulated PU-200 events ({result['input_mb']:.1f} MB), "
             f"median of {result['runs']} interleaved runs, whole processes, {os.cpu_count()} cores, load average "
             f"{result['load_before']:.1f} before / {result['load_after']:.1f} after (other work on the machine "
             "stretches wall times; CPU times are steadier). pixel_vq format "
             f"{result.get('pixel_vq_format', 1)} (premix_compress_cfg.py"
             f"{'' if result.get('format_pinned') is None else ' with pixelVQ.format=' + str(result['format_pinned'])}). "
             "hepvq's .pyc files written first, as after any install. The hepvq jobs run the core on "
             f"{result.get('threads', 1)} thread(s) (`-j`, `hepvq.open(threads=...)`); plain uproot reads and "
             "writes on one. Command: `" + result["command"] + "`", "",
             "| job | wall s | CPU s | peak MB |", "| --- | ---: | ---: | ---: |"]
    for job in ("uproot_read", "uproot_copy", "compress", "compress_validate", "hepvq_read", "decompress"):
        lines.append(f"| {job} | {s[job]['wall_s']:.2f} | {s[job]['cpu_s']:.2f} | {s[job]['peak_mb']:.0f} |")
    lines += ["", "| ratio | value |", "| --- | ---: |"]
    lines += [f"| {k} | {v:.2f} |" for k, v in s["ratios"].items()]
    r = s["ratios"]
    targets = [("compress / uproot read+write (wall)", 1.5), ("compress validate / uproot read+write (wall)", 2.0),
               ("hepvq.open().arrays() / uproot read (wall)", 1.0), ("decompress / uproot read+write (wall)", 1.5),
               ("compress / uproot read+write (peak memory)", 2.0),
               ("hepvq.open().arrays() / uproot read (peak memory)", 2.0),
               ("decompress / uproot read+write (peak memory)", 2.0)]
    lines += ["", "| target of issue 13 | goal | measured | met | same ratio in CPU time |",
              "| --- | ---: | ---: | :---: | ---: |"]
    for k, g in targets:
        cpu = r.get(k.replace("(wall)", "(CPU)")) if k.endswith("(wall)") else None
        lines.append(f"| {k} | <= {g} | {r[k]:.2f} | {'yes' if r[k] <= g else 'no'} | "
                     f"{'' if cpu is None else f'{cpu:.2f}'} |")
    c = result["core"]
    lines += ["", f"Core alone ({c['hits']:,} hits, in-process, 10-event chunks): hits/s", "",
              "| | 1 thread | 2 threads |", "| --- | ---: | ---: |",
              f"| pixel_vq encode | {c['encode_hits_per_s_1t']:.3g} | {c['encode_hits_per_s_2t']:.3g} |",
              f"| pixel_vq decode | {c['decode_hits_per_s_1t']:.3g} | {c['decode_hits_per_s_2t']:.3g} |",
              f"| zstd-5 compress (4 DIGI columns) | {c['zstd5_compress_hits_per_s']:.3g} | |",
              f"| zstd-5 decompress | {c['zstd5_decompress_hits_per_s']:.3g} | |", "",
              "Relative to zstd-5 on the same DIGIs in the same process (steadier than hits/s on a loaded machine): "
              f"pixel_vq encode {c['encode_hits_per_s_1t'] / c['zstd5_compress_hits_per_s']:.2f}x zstd-5 "
              f"compress's speed, decode {c['decode_hits_per_s_1t'] / c['zstd5_decompress_hits_per_s']:.2f}x "
              "zstd-5 decompress's (1 thread)."]
    return "\n".join(lines) + "\n"


def plot(result: dict, png: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    r = result["summary"]["ratios"]
    fig, ax = plt.subplots(figsize=(8, 3.5))
    names = list(r)
    ax.barh(range(len(names)), [r[n] for n in names], color="tab:blue")
    ax.axvline(1.0, color="k", lw=0.8)
    ax.set_yticks(range(len(names)))
    ax.set_yticklabels(names, fontsize=8)
    ax.set_xlabel("hepvq / plain uproot (median)")
    fig.tight_layout()
    fig.savefig(png, dpi=100)
    plt.close(fig)


#: docs/speed.md below this line is written by hand (format 1, history, what is left) and kept by --update-docs
HAND_WRITTEN = "<!-- bench_speed.py --update-docs replaces only what is above this line -->"


def write_docs(result: dict, md: str) -> None:
    docs = REPO / "docs"
    old = (docs / "speed.md").read_text() if (docs / "speed.md").exists() else ""
    kept = old[old.index(HAND_WRITTEN):] if HAND_WRITTEN in old else HAND_WRITTEN + "\n"
    (docs / "speed.md").write_text("# Speed and memory of hepvq vs plain uproot\n\n"
                                   "Made by `benchmarks/bench_speed.py` (its docstring says what each job does).\n\n"
                                   + md + "\n![ratios](speed.png)\n\n" + kept)
    plot(result, docs / "speed.png")


def byte_compile_project():
    """Write the .pyc files of hepvq and its modules before timing, as a pip wheel install does and as the first
    run of an editable install does: uproot's and awkward's are written at their install, and a shell with
    PYTHONDONTWRITEBYTECODE=1 would otherwise make every hepvq process compile ~60 sources (~0.2 s)."""
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(REPO / "hepvq"), str(REPO / "modules")], check=True)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=40)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--seed", type=int, default=4040)
    ap.add_argument("--out", default="bench_out")
    ap.add_argument("--chunk-size", type=int, default=10, help="options.chunkSize of the hepvq jobs (10: the main job's)")
    ap.add_argument("--threads", type=int, default=2,
                    help="threads of the hepvq jobs' core loops (-j of hepvq-run, threads= of hepvq.open)")
    ap.add_argument("--format", type=int, choices=(1, 2), default=None,
                    help="pixelVQ.format of the compress jobs (default: the cfg's default)")
    ap.add_argument("--update-docs", action="store_true", help="also write docs/speed.md and docs/speed.png")
    ap.add_argument("--docs-from", metavar="JSON", help="only write docs/speed.md and .png from a saved speed.json")
    args = ap.parse_args(argv)
    if args.docs_from:
        result = json.loads(Path(args.docs_from).read_text())
        write_docs(result, markdown(result))
        return result
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    src = out / f"speed_pu200_{args.events}.root"
    make_input(src, args.events, args.seed)
    comp, dec, copy = out / "speed_compressed.root", out / "speed_decompressed.root", out / "speed_uproot_copy.root"
    py = sys.executable
    run = [py, "-m", "hepvq.cli.run"]
    if args.threads < 1:
        ap.error(f"--threads must be >= 1, got {args.threads}")
    common = [f"options.chunkSize={args.chunk_size}", "-j", str(args.threads), "--no-progress"]
    fmt = [] if args.format is None else [f"pixelVQ.format={args.format}"]
    jobs = {
        "uproot_read": [py, "-c", UPROOT_READ, str(src)],
        "uproot_copy": [py, "-c", UPROOT_COPY, str(src), str(copy)],
        "compress": run + [str(REPO / "python_cfg" / "premix_compress_cfg.py"), f"inputFiles={src}",
                           f"outputFile={comp}", "pixelVQ.validate=False"] + fmt + common,
        "compress_validate": run + [str(REPO / "python_cfg" / "premix_compress_cfg.py"), f"inputFiles={src}",
                                    f"outputFile={out / 'speed_compressed_v.root'}"] + fmt + common,
        "hepvq_read": [py, "-c", HEPVQ_READ, str(comp), str(args.threads)],
        "decompress": run + [str(REPO / "python_cfg" / "decompress_cfg.py"), f"inputFiles={comp}",
                             f"outputFile={dec}"] + common,
    }
    outputs = {"uproot_copy": copy, "compress": comp, "compress_validate": out / "speed_compressed_v.root",
               "decompress": dec}
    times = {k: [] for k in jobs}
    byte_compile_project()
    load_before = os.getloadavg()[0]
    for _ in range(args.runs):
        for name, cmd in jobs.items():  # interleaved; compress runs before the jobs that read its output
            if name in outputs and outputs[name].exists():
                outputs[name].unlink()
            times[name].append(run_child(cmd, out))
    (out / "speed_times.json").write_text(json.dumps(times, indent=1))  # kept if the in-process part fails
    result = {"events": args.events, "runs": args.runs, "threads": args.threads, "input": str(src),
              "pixel_vq_format": written_format(comp), "format_pinned": args.format,
              "input_mb": src.stat().st_size / 1e6,
              "times": times, "summary": summarise(times), "core": core_throughput(src, args.events),
              "load_before": load_before, "load_after": os.getloadavg()[0],
              "command": " ".join(["python", "benchmarks/bench_speed.py"] + (argv if argv is not None else
                                                                              sys.argv[1:]))}
    (out / "speed.json").write_text(json.dumps(result, indent=1))
    md = markdown(result)
    (out / "speed.md").write_text(md)
    if args.update_docs:
        write_docs(result, md)
    print(md)
    return result


if __name__ == "__main__":
    main()
