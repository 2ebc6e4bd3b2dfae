"""What the core's rANS coder (hepvq.codecs.entropy) does to the symbol streams of the pixel codecs.

On data/pixel_pu200_sample.root (10 PU-200 events), for
* the strong simple baseline (hepvq.baselines.sparse, the pixel_sparse codec: hits sorted by (detId, col, row),
  delta-coded coordinates, ADC requantised to 4 log bins over 1..255), split into symbol streams: module gap
  (index gap in the sorted table of the file's detIds, i.e. the geometry), hits per module, column delta within
  the module (7 contexts: first hit of the module, else hits so far in the column x last hit adjacent), row
  (column delta 0 -> gap to the previous row; column delta 1 -> zigzag offset from the first row of the previous
  column, context its size 1..4+; else absolute), ADC code (context: the previous hit's code when it is the pixel just above, else none);
* pixel_vq's index branches as written by ``hepvq-run python_cfg/premix_compress_cfg.py`` (compressed into
  bench_out/ by this script, branches read back with uproot), one stream per branch (zigzag when signed),
it reports bits/hit
* as stored today (pixel_sparse: its per-event zstd-19/LZMA blob; pixel_vq: the branches' ROOT ZSTD-5 baskets
  in a file of the test events alone: the script runs the compression job on each half),
* the ideal order-0 code length (plug-in entropy of each event half's own symbols: optimistic),
* static order-0 and conditional tables fitted on the first half of the events, costed on the second half
  (held-out cross-entropy, what a codec shipping fitted tables pays),
* the bytes the coder actually writes with those conditional tables (one blob per event and stream), static and
  adaptive (adapt_period 256, strength 1024).
Timing: median of --repeat runs, coder encode/decode of all the baseline's streams vs zstd-5 of the raw DIGI
columns (10 bytes/hit), both as raw-DIGI MB/s.

    python benchmarks/entropy_streams.py [--input data/pixel_pu200_sample.root] [--out bench_out/entropy]
                                         [--repeat 3] [--update-docs]
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from hepvq.codecs import entropy  # noqa: E402

ALPHABET = 1 << 16


# ---------------------------------------------------------------------------------------------------------------
# streams

def sparse_streams(det, row, col, adc, module_table):
    """Symbol streams {name: (symbols, contexts, n_contexts)} of one event for the sparse baseline."""
    from hepvq.baselines.sparse import requantize

    order = np.lexsort((row, col, det))
    det, row, col, adc = det[order], row[order], col[order], adc[order]
    n = det.size
    new_mod = np.ones(n, bool)
    new_mod[1:] = det[1:] != det[:-1]
    starts = np.flatnonzero(new_mod)
    midx = np.searchsorted(module_table, det[starts])
    if not np.array_equal(module_table[np.minimum(midx, module_table.size - 1)], det[starts]):
        raise ValueError("a detId outside the module table")
    mgap = midx - np.concatenate([[-1], midx[:-1]]) - 1
    nper = np.diff(np.append(starts, n))
    col = col.astype(np.int64)
    row = row.astype(np.int64)
    dcol = col - np.where(new_mod, 0, np.concatenate([[0], col[:-1]]))
    same_col = (~new_mod) & (dcol == 0)
    next_col = (~new_mod) & (dcol == 1)
    # first row of each column run, and for a hit opening a column the first row of the previous column
    col_start = np.flatnonzero(new_mod | (dcol > 0))
    first_row = row[np.maximum.accumulate(np.where(new_mod | (dcol > 0), np.arange(n), 0))]
    prev_first = np.zeros(n, np.int64)
    prev_first[col_start[1:]] = first_row[col_start[1:] - 1]
    rsym = np.where(same_col, row - np.concatenate([[0], row[:-1]]) - 1,
                    np.where(next_col, zz(row - prev_first), row))
    adjacent = same_col & (rsym == 0)
    # contexts the decoder knows before the symbol: hits so far in the current column (1, 2, 3+) and whether
    # the last one was adjacent to its predecessor (column delta); the previous column's size (row after dcol 1)
    col_pos = np.arange(n) - np.maximum.accumulate(np.where(new_mod | (dcol > 0), np.arange(n), 0))
    so_far = np.zeros(n, np.int64)
    so_far[1:] = np.minimum(col_pos[:-1] + 1, 3)
    last_adj = np.zeros(n, np.int64)
    last_adj[1:] = adjacent[:-1]
    dcol_ctx = np.where(new_mod, 0, 1 + (so_far - 1) * 2 + last_adj)
    col_size = np.diff(np.append(col_start, n))
    prev_size = np.zeros(n, np.int64)
    prev_size[col_start[1:]] = np.minimum(np.repeat(col_size, col_size)[col_start[1:] - 1], 4)
    place = np.where(same_col, 0, np.where(next_col, prev_size, 5))
    code = requantize(adc, 4, 1.0, 255.0, "log").astype(np.int64)
    prev_code = np.concatenate([[0], code[:-1]])
    return {
        "module gap": (mgap, None, 1),
        "hits/module": (nper - 1, None, 1),
        "column delta": (dcol, dcol_ctx, 7),
        "row": (rsym, place, 6),
        "adc code": (code, np.where(adjacent, prev_code, 16), 17),
    }


def zz(a):
    a = np.asarray(a, np.int64)
    return np.where(a >= 0, 2 * a, -2 * a - 1)


# ---------------------------------------------------------------------------------------------------------------
# costing

def cost_streams(train, test, n_hits_test, adapt=(256, 1024)):
    """train/test: {name: [(symbols, contexts, n_contexts) per event]}. Returns rows of bits/hit."""
    rows = []
    for name in train:
        tr = train[name]
        te = test[name]
        n_ctx = tr[0][2]
        s_tr = np.concatenate([e[0] for e in tr])
        c_tr = np.concatenate([np.zeros(e[0].size, np.int64) if e[1] is None else e[1] for e in tr])
        alphabet = int(max(s_tr.max(initial=0), max(e[0].max(initial=0) for e in te))) + 1
        alphabet = max(alphabet, ALPHABET) if name != "adc code" else 16
        t0 = entropy.fit_tables(s_tr, None, alphabet=alphabet)
        tc = entropy.fit_tables(s_tr, c_tr, alphabet=alphabet, n_contexts=n_ctx)
        ta = entropy.fit_tables(s_tr, c_tr, alphabet=alphabet, n_contexts=n_ctx, direct=tc.direct,
                                adapt_period=adapt[0], adapt_strength=adapt[1])
        ideal0 = held0 = heldc = coded = coded_a = 0.0
        for s, c, _ in te:
            ideal0 += entropy.ideal_bits(s)
            held0 += entropy.code_length_bits(s, None, t0)
            heldc += entropy.code_length_bits(s, c, tc)
            blob = entropy.encode(s, c, tc)
            assert np.array_equal(entropy.decode(blob, s.size, c, tc), s)
            coded += 8 * len(blob)
            blob = entropy.encode(s, c, ta)
            assert np.array_equal(entropy.decode(blob, s.size, c, ta), s)
            coded_a += 8 * len(blob)
        rows.append({"stream": name, "contexts": n_ctx, "ideal_order0": ideal0 / n_hits_test,
                     "heldout_order0": held0 / n_hits_test, "heldout_context": heldc / n_hits_test,
                     "coded": coded / n_hits_test, "coded_adaptive": coded_a / n_hits_test,
                     "table_bytes": len(tc.to_bytes())})
    tot = {k: sum(r[k] for r in rows) for k in rows[0] if k not in ("stream", "contexts")}
    rows.append({"stream": "total", "contexts": "", **tot})
    return rows


def pixel_vq_streams(ev, module_table):
    """Symbol streams of one event's pixel_vq index branches (ev: {branch suffix: numpy array})."""
    npatch = ev["modules_npatch"].astype(np.int64)
    first = np.zeros(int(npatch.sum()), bool)
    first[np.concatenate([[0], np.cumsum(npatch)[:-1]]).astype(np.int64)] = True
    dcol = ev["dcol"].astype(np.int64)
    row = ev["row"].astype(np.int64)
    shape = ev["shape"].astype(np.int64)
    if dcol.size != first.size:
        raise ValueError("pixelVQ_dcol and pixelVQ_modules_npatch disagree")
    same = (~first) & (dcol == 0)
    prow = np.concatenate([[0], row[:-1]])
    place = np.where(first, 0, np.where(dcol == 0, 1, 2))
    det = np.cumsum(ev["modules_ddet"].astype(np.int64))
    midx = np.searchsorted(module_table, det)
    if not np.array_equal(module_table[np.minimum(midx, module_table.size - 1)], det):
        raise ValueError("a detId outside the module table")
    mask = ev["escapes_mask"].astype(np.int64)
    return {
        "modules (index gap)": (midx - np.concatenate([[-1], midx[:-1]]) - 1, None, 1),
        "patches/module": (npatch - 1, None, 1),
        "shape": (shape, place, 3),
        "dcol": (dcol, first.astype(np.int64), 2),
        "row": (np.where(same, zz(row - prow), row), place, 3),
        "charge": (ev["charge"].astype(np.int64), np.minimum(shape, 15), 16),
        "codes_c0": (ev["codes_c0"].astype(np.int64), None, 1),
        "escapes_mask (2x16 bits)": (np.stack([mask & 0xFFFF, mask >> 16], 1).ravel(),
                                     np.tile([0, 1], mask.size), 2),
        "farcols_dcol": (ev["farcols_dcol"].astype(np.int64), None, 1),
    }


def _check_pixel_vq_branches(names):
    expected = {"shape", "dcol", "row", "charge", "modules_ddet", "modules_npatch", "codes_c0", "escapes_mask",
                "farcols_dcol"}
    missing = expected - set(names)
    extra = {n for n in names if n not in expected and n != "crc"}
    if missing or extra:
        raise SystemExit(f"entropy_streams: pixel_vq branches changed (missing {sorted(missing)}, "
                         f"new {sorted(extra)}); update pixel_vq_streams")


# ---------------------------------------------------------------------------------------------------------------

def main(argv=None):
    import uproot
    import zstandard

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--input", default=str(ROOT / "data/pixel_pu200_sample.root"))
    ap.add_argument("--out", default=str(ROOT / "bench_out/entropy"))
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--update-docs", action="store_true", help="rewrite the table in docs/pixel.md")
    args = ap.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    tree = uproot.open(args.input)["Events"]
    a = tree.arrays(["PixelDigi_detId", "PixelDigi_row", "PixelDigi_col", "PixelDigi_adc"], library="np")
    n_ev = len(a["PixelDigi_detId"])
    if n_ev < 2:
        raise SystemExit("entropy_streams: need at least 2 events (half to fit, half to measure)")
    half = n_ev // 2
    train_ev, test_ev = range(half), range(half, n_ev)
    module_table = np.unique(np.concatenate(a["PixelDigi_detId"]).astype(np.int64))
    hits = [a["PixelDigi_detId"][e].size for e in range(n_ev)]
    n_test = sum(hits[e] for e in test_ev)

    # --- sparse baseline
    ev_streams = [sparse_streams(a["PixelDigi_detId"][e].astype(np.int64), a["PixelDigi_row"][e],
                                 a["PixelDigi_col"][e], a["PixelDigi_adc"][e], module_table) for e in range(n_ev)]
    split = lambda evs, idx: {k: [evs[e][k] for e in idx] for k in evs[0]}  # noqa: E731
    sparse_rows = cost_streams(split(ev_streams, train_ev), split(ev_streams, test_ev), n_test)
    from hepvq.pixel.codec import PixelSparseCodec
    import awkward as ak
    codec = PixelSparseCodec()
    sel = {k.split("_")[1]: ak.Array([a[k][e] for e in test_ev]) for k in a}
    hits_ak = ak.zip({"detId": sel["detId"], "row": sel["row"], "col": sel["col"], "adc": sel["adc"]})
    stored_sparse = 8 * int(ak.sum(ak.num(codec.encode(hits_ak)[""], axis=1))) / n_test
    from hepvq.baselines.sparse import encode_sparse
    stored_sparse_pos = 8 * sum(len(encode_sparse([a["PixelDigi_detId"][e].astype(np.uint32), a["PixelDigi_col"][e],
                                                   a["PixelDigi_row"][e]], None, value_bits=None))
                                for e in test_ev) / n_test

    # --- pixel_vq: compress with the framework, read the index branches
    # two jobs (training half, test half) so that the stored figure is that of the test events alone
    vq_ev = []
    for part, sel_args in (("train", [f"maxEvents={half}"]), ("test", [f"skipEvents={half}"])):
        root_file = out / f"pixel_vq_{part}.root"
        cmd = ["hepvq-run", str(ROOT / "python_cfg/premix_compress_cfg.py"), f"inputFiles={args.input}",
               f"outputFile={root_file}", "--no-progress", *sel_args]
        subprocess.run(cmd, check=True, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        vt = uproot.open(root_file)["Events"]
        names = [b.name[len("pixelVQ_"):] for b in vt.branches if b.name.startswith("pixelVQ_")]
        _check_pixel_vq_branches(names)
        br = vt.arrays([f"pixelVQ_{n}" for n in names if n != "crc"], library="np")
        vq_ev += [pixel_vq_streams({n: br[f"pixelVQ_{n}"][e] for n in names if n != "crc"}, module_table)
                  for e in range(vt.num_entries)]
        stored_vq = 8 * sum(b.compressed_bytes for b in vt.branches if "pixelVQ" in b.name) / n_test
    if len(vq_ev) != n_ev:
        raise SystemExit(f"entropy_streams: the pixel_vq jobs wrote {len(vq_ev)} events, expected {n_ev}")
    vq_rows = cost_streams(split(vq_ev, train_ev), split(vq_ev, test_ev), n_test)

    # --- timing: the coder on all the baseline's streams of the test half vs zstd-5 of the raw DIGI columns
    tables = {}
    tr = split(ev_streams, train_ev)
    for k, evs in tr.items():
        s = np.concatenate([e[0] for e in evs])
        c = None if evs[0][1] is None else np.concatenate([e[1] for e in evs])
        alphabet = 16 if k == "adc code" else ALPHABET
        tables[k] = entropy.fit_tables(s, c, alphabet=alphabet, n_contexts=evs[0][2])
    jobs = [(k, e[k][0].astype(np.uint32), None if e[k][1] is None else e[k][1].astype(np.uint32))
            for e in (ev_streams[i] for i in test_ev) for k in e]
    raw = b"".join(a[k][e].tobytes() for e in test_ev for k in a)  # 10 bytes/hit
    enc_t, dec_t, z_enc_t, z_dec_t = [], [], [], []
    zc, zd = zstandard.ZstdCompressor(level=5), zstandard.ZstdDecompressor()
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        blobs = [entropy.encode(s, c, tables[k]) for k, s, c in jobs]
        t1 = time.perf_counter()
        for (k, s, c), b in zip(jobs, blobs):
            entropy.decode(b, s.size, c, tables[k])
        t2 = time.perf_counter()
        z = zc.compress(raw)
        t3 = time.perf_counter()
        zd.decompress(z)
        t4 = time.perf_counter()
        enc_t.append(t1 - t0), dec_t.append(t2 - t1), z_enc_t.append(t3 - t2), z_dec_t.append(t4 - t3)
    mb = len(raw) / 1e6
    timing = {"raw_MB": mb, "rans_encode_MBps": mb / statistics.median(enc_t),
              "rans_decode_MBps": mb / statistics.median(dec_t), "zstd5_compress_MBps": mb / statistics.median(z_enc_t),
              "zstd5_decompress_MBps": mb / statistics.median(z_dec_t), "repeat": args.repeat,
              "zstd5_bits_per_hit": 8 * len(z) / n_test}

    result = {"input": args.input, "events": n_ev, "train_events": half, "test_hits": n_test,
              "sparse": {"stored_bits_per_hit": stored_sparse, "stored_positions_bits_per_hit": stored_sparse_pos,
                         "streams": sparse_rows},
              "pixel_vq": {"stored_bits_per_hit": stored_vq, "streams": vq_rows}, "timing": timing}
    (out / "entropy_streams.json").write_text(json.dumps(result, indent=1))
    md = render(result)
    (out / "entropy_streams.md").write_text(md)
    print(md)
    if args.update_docs:
        update_docs(md)


def render(r) -> str:
    lines = [f"{r['events']} events of {Path(r['input']).name}: tables fitted on the first {r['train_events']}, "
             f"measured on the other {r['events'] - r['train_events']} ({r['test_hits']} hits). Bits per hit.", ""]
    for key, title, stored in (("sparse", "sparse baseline (pixel_sparse, 4-bit log ADC)",
                                "per-event zstd-19/LZMA blob"),
                               ("pixel_vq", "pixel_vq index branches (shipped model)", "ROOT ZSTD-5 baskets of the test events' file")):
        pos = r[key].get("stored_positions_bits_per_hit")
        pos = f" (positions alone: {pos:.3f})" if pos is not None else ""
        lines += [f"**{title}** -- stored today ({stored}): **{r[key]['stored_bits_per_hit']:.3f}**{pos}", "",
                  "| stream | contexts | ideal order-0 (plug-in) | held-out order-0 | held-out context | "
                  "rANS bytes | rANS adaptive |", "|---|---|---|---|---|---|---|"]
        for row in r[key]["streams"]:
            b = "**" if row["stream"] == "total" else ""
            lines.append(f"| {b}{row['stream']}{b} | {row['contexts']} | {row['ideal_order0']:.3f} | "
                         f"{row['heldout_order0']:.3f} | {row['heldout_context']:.3f} | {b}{row['coded']:.3f}{b} | "
                         f"{row['coded_adaptive']:.3f} |")
        lines.append("")
    t = r["timing"]
    lines.append(f"Speed (median of {t['repeat']}, raw DIGI MB/s, 10 bytes/hit, one thread on a busy 2-core "
                 f"machine): rANS encode {t['rans_encode_MBps']:.0f}, decode {t['rans_decode_MBps']:.0f}; zstd-5 "
                 f"of the raw columns compress {t['zstd5_compress_MBps']:.0f}, decompress "
                 f"{t['zstd5_decompress_MBps']:.0f} ({t['zstd5_bits_per_hit']:.2f} bits/hit).")
    return "\n".join(lines) + "\n"


BEGIN, END = "<!-- entropy_streams begin -->", "<!-- entropy_streams end -->"


def update_docs(md: str):
    p = ROOT / "docs/pixel.md"
    s = p.read_text()
    if BEGIN not in s or END not in s:
        raise SystemExit(f"entropy_streams: {p} has no '{BEGIN}' ... '{END}' block to update")
    i, j = s.index(BEGIN) + len(BEGIN), s.index(END)
    p.write_text(s[:i] + "\n" + md + s[j:])


if __name__ == "__main__":
    main()
