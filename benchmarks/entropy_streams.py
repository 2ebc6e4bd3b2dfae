"""What the core's rANS coder (hepvq.codecs.entropy) does to the symbol streams of the pixel and TPC codecs, and
the peer on the same coder (issue 14 items 4, 6).

Tables are fitted on the events of --input (default data/pixel_pu200_sample.root) and measured on the events
of --heldout (a file of another generator seed, e.g. ``hepvq-simulate pixel --events 10 --seed 11``); without
--heldout, fitted on the first half of --input's events and measured on the second. Reported, bits/hit:
* the sparse baseline (pixel_sparse, 4-bit log ADC) stored as format 1 (per-event zstd-19/LZMA blob of
  hepvq.baselines.sparse) and as format 2 (the core's rANS coder, hepvq.baselines.sparse_streams, tables fitted
  on the training events), the format-2 blobs with and without the file's metadata (settings + tables);
  per stream, for both layouts of sparse_streams (``columns``: hits as column runs; ``clusters``: what format 2
  ships, 8-connected clusters as anchor + shape): the ideal order-0 code length (plug-in, optimistic),
  held-out order-0 and context cross-entropy, and the bytes the coder writes, static and adaptive;
* pixel_vq's index branches as written by ``hepvq-run python_cfg/premix_compress_cfg.py`` (the job runs on the
  training and on the test events; branches read back with uproot), one stream per branch, costed the same
  way, and as stored (ROOT ZSTD-5 baskets of the test events' file);
* TPC (--tpc-input, default data/tpc_sample.root; --tpc-heldout): tpc_inr's coordinate stream as format 1
  (key gaps, varints, zstd-19) and format 2 (the cluster layout on the rANS coder, tables fitted on
  --tpc-input), the sparse baseline's key coder (hepvq.baselines.sparse, positions only), and the residual
  stream against the threshold prediction (what a sector without INR code stores) at ADC error bounds 0 / 2 / 8,
  format 1 (zigzag varints, zstd/LZMA) and format 2 (rANS, adaptive);
* the peer at other ADC precisions (--peer-bits): format 1 and 2 bits/hit with the cluster charge and centroid
  RMS of its requantised ADC (hepvq.pixel.metrics.compare), to compare codecs at equal cluster fidelity;
* speed: pixel_sparse format 1 and 2 encode / decode of the test events vs zstd-5 of the raw DIGI columns, as
  raw-DIGI MB/s (10 bytes/hit), median of --repeat.

    python benchmarks/entropy_streams.py [--input data/pixel_pu200_sample.root] [--heldout FILE]
        [--tpc-input data/tpc_sample.root] [--tpc-heldout FILE] [--out bench_out/entropy] [--repeat 3]
        [--peer-bits 4,5,6] [--update-docs]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import awkward as ak  # noqa: E402

from hepvq.baselines import sparse_streams as SS  # noqa: E402
from hepvq.baselines.sparse import requantize  # noqa: E402
from hepvq.codecs import entropy  # noqa: E402

ALPHABET = 1 << 16


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
        alphabet = max(alphabet, ALPHABET) if name not in ("adc code", "value") else 16
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


def zz(a):
    a = np.asarray(a, np.int64)
    return np.where(a >= 0, 2 * a, -2 * a - 1)


# ---------------------------------------------------------------------------------------------------------------
# the sparse baseline

def layout_streams(tables, events):
    """{stream: [(symbols, contexts, n_contexts) per event]} of the events in the tables' layout."""
    nctx = SS.n_contexts(tables.n_classes, tables.layout)
    out = {s: [] for s in tables.streams}
    for det, col, row, code, *_ in events:
        syms, _ = SS._event_symbols(tables, det, col, row, code)
        for s in tables.streams:
            a, c = syms[s]
            out[s].append((a, c, nctx[s]))
    return out


def sparse_section(train, test, n_test, repeat):
    from hepvq.pixel.codec import PixelSparseCodec

    res = {"layouts": {}}
    for layout in ("columns", "clusters"):
        t = SS.fit(train, n_cols=SS.PIXEL_PLANE, n_rows=SS.PIXEL_PLANE, value_alphabet=16, kind="pixel_sparse",
                   layout=layout)
        rows = cost_streams(layout_streams(t, train), layout_streams(t, test), n_test)
        blobs = sum(len(SS.encode_event(*e[:4], t)) for e in test)
        res["layouts"][layout] = {"streams": rows, "blob_bits_per_hit": 8 * blobs / n_test,
                                  "table_bytes": len(t.to_bytes())}
        if layout == "clusters":
            tables = t
    counts = np.array([e[0].size for e in test], np.int64)
    hits = ak.zip({f: ak.unflatten(np.concatenate([e[i] for e in test]), counts)
                   for f, i in (("detId", 0), ("col", 1), ("row", 2), ("adc", 4))})
    stored, timing = {}, {}
    for fmt in (1, 2):
        codec = PixelSparseCodec(format=fmt, tables=tables if fmt == 2 else None)
        enc_t, dec_t = [], []
        for _ in range(repeat):
            t0 = time.perf_counter()
            prod = codec.encode(hits).products
            t1 = time.perf_counter()
            codec.decode(prod)
            enc_t.append(t1 - t0), dec_t.append(time.perf_counter() - t1)
        nbytes = int(ak.sum(ak.num(prod[""], axis=1)))
        meta = sum(len(v) for v in codec.metadata().values())
        stored[fmt] = {"bits_per_hit": 8 * nbytes / n_test, "with_metadata": 8 * (nbytes + meta) / n_test,
                       "metadata_bytes": meta}
        timing[fmt] = (statistics.median(enc_t), statistics.median(dec_t))
    res["stored"] = stored
    return res, timing, hits


def peer_sweep(train_raw, hits, n_test, bits_list):
    """The peer at each ADC precision: format 1 and format 2 (tables fitted on the training events for that
    precision) bits/hit, and the cluster fidelity of its ADC (hepvq.pixel.metrics.compare)."""
    from hepvq.pixel import metrics as M
    from hepvq.pixel import patches as P
    from hepvq.pixel.codec import PixelSparseCodec

    rows = []
    for bits in bits_list:
        ev = [(d, c, r, requantize(a, bits, 1.0, 255.0, "log").astype(np.int64)) for d, c, r, a in train_raw]
        t = SS.fit(ev, n_cols=SS.PIXEL_PLANE, n_rows=SS.PIXEL_PLANE, value_alphabet=1 << bits, kind="pixel_sparse",
                   layout="clusters")
        row = {"adc_bits": bits}
        for fmt in (1, 2):
            codec = PixelSparseCodec(bits, format=fmt, tables=t if fmt == 2 else None)
            prod = codec.encode(hits).products
            row[f"format{fmt}"] = 8 * int(ak.sum(ak.num(prod[""], axis=1))) / n_test
        m = M.compare(P.flatten(hits), P.flatten(codec.decode(prod)))
        row.update(charge_rms_rel=m["charge_rms_rel"], centroid_rms_px=m["centroid_rms_px"])
        rows.append(row)
    return rows


# ---------------------------------------------------------------------------------------------------------------
# TPC

def tpc_events(path):
    import uproot

    with uproot.open(path) as f:
        a = f["Events"].arrays(["TpcHit_sector", "TpcHit_layer", "TpcHit_phi", "TpcHit_z", "TpcHit_adc"],
                               library="np")
    return [tuple(a[f"TpcHit_{k}"][e].astype(np.int64) for k in ("sector", "layer", "phi", "z", "adc"))
            for e in range(len(a["TpcHit_adc"]))]


def tpc_section(train_path, test_path):
    from hepvq.baselines.sparse import encode_sparse
    from hepvq.codecs import residual
    from hepvq.tpc import coords as C
    from hepvq.tpc.grid import THRESHOLD

    tables = C.fit_tables(train_path)
    out = {"train": Path(train_path).name, "test": Path(test_path).name, "table_bytes": len(tables.to_bytes())}
    nh = b1 = b2 = bs = 0
    res = {b: [0, 0] for b in (0, 2, 8)}
    for s, l, p, z, adc in tpc_events(test_path):
        nh += s.size
        b1 += len(C.encode(s, l, p, z)[0])
        blob, o = C.encode_rans(s, l, p, z, tables)
        b2 += len(blob)
        bs += len(encode_sparse([s.astype(np.uint8), l.astype(np.uint8), p.astype(np.uint16), z.astype(np.uint16)],
                                None, value_bits=None))
        pk = C.plane_keys(s[o], l[o])
        for b in res:
            q = residual.quantise(adc[o] - THRESHOLD, b)
            res[b][0] += len(residual.pack(q))
            res[b][1] += len(residual.pack_rans(q, pk, p[o], z[o], tables))
    out.update(hits=nh, coords_format1=8 * b1 / nh, coords_format2=8 * b2 / nh, sparse_keys=8 * bs / nh,
               residuals={b: {"format1": 8 * v[0] / nh, "format2": 8 * v[1] / nh} for b, v in res.items()})
    return out


# ---------------------------------------------------------------------------------------------------------------

def main(argv=None):
    import uproot
    import zstandard

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--input", default=str(ROOT / "data/pixel_pu200_sample.root"), help="training events (pixel)")
    ap.add_argument("--heldout", default=None, help="test events (pixel; default: the second half of --input)")
    ap.add_argument("--tpc-input", default=str(ROOT / "data/tpc_sample.root"), help="training events (TPC)")
    ap.add_argument("--tpc-heldout", default=None, help="test events (TPC; default: --tpc-input itself)")
    ap.add_argument("--out", default=str(ROOT / "bench_out/entropy"))
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--peer-bits", default="4,5,6", help="ADC bits of the peer's precision sweep (fidelity vs size)")
    ap.add_argument("--update-docs", action="store_true",
                    help="rewrite the tables in docs/pixel.md and docs/tpc.md")
    args = ap.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    def read(path):
        with uproot.open(path) as f:
            return f["Events"].arrays(["PixelDigi_detId", "PixelDigi_row", "PixelDigi_col", "PixelDigi_adc"],
                                      library="np")

    a = read(args.input)
    n_in = len(a["PixelDigi_detId"])
    if args.heldout:
        b = read(args.heldout)
        parts = [(args.input, a, range(n_in)), (args.heldout, b, range(len(b["PixelDigi_detId"])))]
    else:
        if n_in < 2:
            raise SystemExit("entropy_streams: need at least 2 events (half to fit, half to measure)")
        half = n_in // 2
        parts = [(args.input, a, range(half)), (args.input, a, range(half, n_in))]

    def events(arr, idx):
        return [(arr["PixelDigi_detId"][e].astype(np.int64), arr["PixelDigi_col"][e].astype(np.int64),
                 arr["PixelDigi_row"][e].astype(np.int64),
                 requantize(arr["PixelDigi_adc"][e], 4, 1.0, 255.0, "log").astype(np.int64),
                 arr["PixelDigi_adc"][e]) for e in idx]

    train, test = events(parts[0][1], parts[0][2]), events(parts[1][1], parts[1][2])
    n_test = sum(e[0].size for e in test)

    # --- sparse baseline
    sparse, sp_timing, test_hits = sparse_section([e[:4] for e in train], test, n_test, args.repeat)
    bits_list = [int(b) for b in args.peer_bits.split(",") if b]
    sparse["sweep"] = peer_sweep([(e[0], e[1], e[2], e[4]) for e in train], test_hits, n_test, bits_list)
    test = [e[:4] for e in test]

    # --- pixel_vq: compress with the framework (training events, test events), read the index branches
    module_table = np.unique(np.concatenate([e[0] for e in train + test]))
    vq = {}
    for part, (path, _, idx) in zip(("train", "test"), parts):
        root_file = out / f"pixel_vq_{part}.root"
        sel = [f"skipEvents={idx.start}", f"maxEvents={len(idx)}"]
        cmd = ["hepvq-run", str(ROOT / "python_cfg/premix_compress_cfg.py"), f"inputFiles={path}",
               f"outputFile={root_file}", "pixelVQ.format=1", "--no-progress", *sel]  # its index branches
        subprocess.run(cmd, check=True, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        vt = uproot.open(root_file)["Events"]
        names = [br.name[len("pixelVQ_"):] for br in vt.branches if br.name.startswith("pixelVQ_")]
        _check_pixel_vq_branches(names)
        br = vt.arrays([f"pixelVQ_{n}" for n in names if n != "crc"], library="np")
        vq[part] = [pixel_vq_streams({n: br[f"pixelVQ_{n}"][e] for n in names if n != "crc"}, module_table)
                    for e in range(vt.num_entries)]
        stored_vq = 8 * sum(b.compressed_bytes for b in vt.branches if "pixelVQ" in b.name) / n_test
    split = lambda evs: {k: [e[k] for e in evs] for k in evs[0]}  # noqa: E731
    vq_rows = cost_streams(split(vq["train"]), split(vq["test"]), n_test)

    # --- TPC
    tpc = tpc_section(args.tpc_input, args.tpc_heldout or args.tpc_input)

    # --- timing: zstd-5 of the raw DIGI columns of the test events, next to pixel_sparse format 1 / 2
    raw = b"".join(parts[1][1][k][e].tobytes() for e in parts[1][2] for k in parts[1][1])  # 10 bytes/hit
    zc, zd = zstandard.ZstdCompressor(level=5), zstandard.ZstdDecompressor()
    z_enc_t, z_dec_t = [], []
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        z = zc.compress(raw)
        t1 = time.perf_counter()
        zd.decompress(z)
        z_enc_t.append(t1 - t0), z_dec_t.append(time.perf_counter() - t1)
    mb = len(raw) / 1e6
    timing = {"raw_MB": mb, "repeat": args.repeat, "zstd5_compress_MBps": mb / statistics.median(z_enc_t),
              "zstd5_decompress_MBps": mb / statistics.median(z_dec_t), "zstd5_bits_per_hit": 8 * len(z) / n_test,
              **{f"sparse{f}_{k}_MBps": mb / v[i] for f, v in sp_timing.items()
                 for i, k in enumerate(("encode", "decode"))}}

    result = {"input": args.input, "heldout": args.heldout, "train_events": len(parts[0][2]),
              "test_events": len(parts[1][2]), "test_hits": n_test, "sparse": sparse,
              "pixel_vq": {"stored_bits_per_hit": stored_vq, "streams": vq_rows}, "tpc": tpc, "timing": timing,
              "load": os.getloadavg()[0]}
    (out / "entropy_streams.json").write_text(json.dumps(result, indent=1))
    md, md_tpc = render(result), render_tpc(tpc)
    (out / "entropy_streams.md").write_text(md + "\n" + md_tpc)
    print(md + "\n" + md_tpc)
    if args.update_docs:
        update_docs(ROOT / "docs/pixel.md", BEGIN, END, md)
        update_docs(ROOT / "docs/tpc.md", TPC_BEGIN, TPC_END, md_tpc)


def _stream_table(rows):
    lines = ["| stream | contexts | ideal order-0 (plug-in) | held-out order-0 | held-out context | "
             "rANS bytes | rANS adaptive |", "|---|---|---|---|---|---|---|"]
    for row in rows:
        b = "**" if row["stream"] == "total" else ""
        lines.append(f"| {b}{row['stream']}{b} | {row['contexts']} | {row['ideal_order0']:.3f} | "
                     f"{row['heldout_order0']:.3f} | {row['heldout_context']:.3f} | {b}{row['coded']:.3f}{b} | "
                     f"{row['coded_adaptive']:.3f} |")
    return lines


def render(r) -> str:
    src = Path(r["input"]).name
    if r["heldout"]:
        what = (f"Tables fitted on the {r['train_events']} events of {src}, measured on the {r['test_events']} "
                f"events of {Path(r['heldout']).name} ({r['test_hits']} hits, another generator seed).")
    else:
        what = (f"{r['train_events'] + r['test_events']} events of {src}: tables fitted on the first "
                f"{r['train_events']}, measured on the other {r['test_events']} ({r['test_hits']} hits).")
    sp = r["sparse"]
    st = sp["stored"]
    lines = [what + f" Bits per hit (machine load {r['load']:.1f} on 2 cores).", "",
             "**The peer (pixel_sparse, 4-bit log ADC), stored**", "",
             "| format | bits/hit | with the file's metadata | metadata bytes |", "|---|---|---|---|",
             f"| 1: per-event zstd-19/LZMA blob (before) | {st[1]['bits_per_hit']:.3f} | "
             f"{st[1]['with_metadata']:.3f} | {st[1]['metadata_bytes']} |",
             f"| 2: rANS, cluster layout, fitted tables (after) | **{st[2]['bits_per_hit']:.3f}** | "
             f"{st[2]['with_metadata']:.3f} | {st[2]['metadata_bytes']} |", ""]
    if sp.get("sweep"):
        lines += ["**The peer at other ADC precisions** (log bins over 1..255; format-2 tables fitted for each)", "",
                  "| ADC bits | format 1 | format 2 | cluster charge RMS | centroid RMS (px) |", "|---|---|---|---|---|"]
        lines += [f"| {w['adc_bits']} | {w['format1']:.3f} | **{w['format2']:.3f}** | {100 * w['charge_rms_rel']:.2f} % | "
                  f"{w['centroid_rms_px']:.4f} |" for w in sp["sweep"]] + [""]
    for layout, title in (("clusters", "cluster layout (format 2)"), ("columns", "per-hit column layout (not shipped)")):
        lay = sp["layouts"][layout]
        lines += [f"**sparse streams, {title}** -- blobs {lay['blob_bits_per_hit']:.3f} bits/hit, tables "
                  f"{lay['table_bytes']} bytes", ""] + _stream_table(lay["streams"]) + [""]
    lines += [f"**pixel_vq index branches (shipped model)** -- stored (ROOT ZSTD-5 baskets of the test events' "
              f"file): **{r['pixel_vq']['stored_bits_per_hit']:.3f}**", ""] + _stream_table(r["pixel_vq"]["streams"])
    t = r["timing"]
    lines += ["", f"Speed (median of {t['repeat']}, raw DIGI MB/s, 10 bytes/hit, one thread): pixel_sparse format 1 "
              f"encode {t['sparse1_encode_MBps']:.1f} / decode {t['sparse1_decode_MBps']:.1f}, format 2 encode "
              f"{t['sparse2_encode_MBps']:.1f} / decode {t['sparse2_decode_MBps']:.1f}; zstd-5 of the raw columns "
              f"compress {t['zstd5_compress_MBps']:.0f}, decompress {t['zstd5_decompress_MBps']:.0f} "
              f"({t['zstd5_bits_per_hit']:.2f} bits/hit)."]
    return "\n".join(lines) + "\n"


def render_tpc(t) -> str:
    same = t["train"] == t["test"]
    lines = [f"Tables fitted on {t['train']}, measured on {t['test']} ({t['hits']} hits"
             f"{', the training events themselves' if same else ''}). Bits per hit.", "",
             "| stream | format 1 (before) | format 2 (rANS, after) | sparse baseline's key coder |", "|---|---|---|---|",
             f"| coords | {t['coords_format1']:.3f} | **{t['coords_format2']:.3f}** | {t['sparse_keys']:.3f} |"]
    for b, v in t["residuals"].items():
        lines.append(f"| residuals vs the threshold, bound {b} | {v['format1']:.3f} | **{v['format2']:.3f}** | |")
    lines += ["", f"Tables: {t['table_bytes']} bytes per file (metadata)."]
    return "\n".join(lines) + "\n"


BEGIN, END = "<!-- entropy_streams begin -->", "<!-- entropy_streams end -->"
TPC_BEGIN, TPC_END = "<!-- entropy_streams tpc begin -->", "<!-- entropy_streams tpc end -->"


def update_docs(p: Path, begin: str, end: str, md: str):
    s = p.read_text()
    if begin not in s or end not in s:
        raise SystemExit(f"entropy_streams: {p} has no '{begin}' ... '{end}' block to update")
    i, j = s.index(begin) + len(begin), s.index(end)
    p.write_text(s[:i] + "\n" + md + s[j:])


if __name__ == "__main__":
    main()
