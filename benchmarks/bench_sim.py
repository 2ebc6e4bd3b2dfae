"""Simulation throughput: events/s of the pixel (PU 200) and TPC (default occupancy) simulators.

    python benchmarks/bench_sim.py [--pixel-events 50] [--tpc-events 4] [--pileup 200] [--out docs/img/sim_bench.json]

Single process, in-memory (no file writing; ``hepvq-simulate`` adds ~10-20 % for ZSTD writing).  Reports
wall time, CPU time (process_time: meaningful on a shared machine), events/s for both, hits/event and the
pixel CPU time per stage (pixel.TIMERS).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import time

import awkward as ak

from hepvq.sim import pixel, tpc


def bench_pixel(n, pileup, seed=11):
    pixel.simulate_events(1, pileup=pileup, seed=seed + 1000)   # warm-up: tables, imports
    pixel.TIMERS.clear()
    w0, c0 = time.perf_counter(), time.process_time()
    hits = crossings = tracks = 0
    for events, truth, stats in pixel.iter_chunks(n, pileup=pileup, seed=seed, chunk=10):
        hits += int(ak.sum(ak.num(events.PixelDigi)))
        crossings += stats["crossings"]
        tracks += stats["tracks"]
    wall, cpu = time.perf_counter() - w0, time.process_time() - c0
    return {"events": n, "pileup": pileup, "wall_s": wall, "cpu_s": cpu, "events_per_s_wall": n / wall,
            "events_per_s_cpu": n / cpu, "hits_per_event": hits / n, "tracks_per_event": tracks / n,
            "crossings_per_event": crossings / n,
            "cpu_s_per_stage": {k: round(v, 3) for k, v in pixel.TIMERS.items()}}


def bench_tpc(n, seed=12, occupancy=None):
    tpc.simulate_events(1, seed=seed + 1000, occupancy=1e-3)
    w0, c0 = time.perf_counter(), time.process_time()
    hits = 0
    for events, _ in tpc.iter_chunks(n, seed=seed, occupancy=occupancy, chunk=1):
        hits += int(ak.sum(ak.num(events.TpcHit)))
    wall, cpu = time.perf_counter() - w0, time.process_time() - c0
    return {"events": n, "occupancy_requested": occupancy, "wall_s": wall, "cpu_s": cpu,
            "events_per_s_wall": n / wall, "events_per_s_cpu": n / cpu, "hits_per_event": hits / n,
            "occupancy": hits / n / tpc.N_VOXELS}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--pixel-events", type=int, default=50)
    p.add_argument("--pileup", type=float, default=200.0)
    p.add_argument("--tpc-events", type=int, default=4)
    p.add_argument("--out", default=None, help="also write the JSON here")
    args = p.parse_args(argv)
    res = {"machine": {"cpu_count": os.cpu_count(), "python": platform.python_version(),
                       "load_avg_1min": os.getloadavg()[0] if hasattr(os, "getloadavg") else None},
           "pixel": bench_pixel(args.pixel_events, args.pileup),
           "tpc": bench_tpc(args.tpc_events)}
    text = json.dumps(res, indent=1)
    print(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    main()
