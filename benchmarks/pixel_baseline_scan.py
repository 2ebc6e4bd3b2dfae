"""Scan the strong simple baseline for pixel DIGIs: lossless sparse coordinates (sorted, delta-coded,
entropy-coded) + ADC requantised to N bits, with linear and log bins, scored with the same cluster-level
metrics as pixel_vq (hepvq.pixel.metrics.compare).

    python benchmarks/pixel_baseline_scan.py [file.root] [--bits 3,4,5]

Default input: data/pixel_pu200_sample.root (10 PU-200 events). Bins span [threshold, ADC max] = [8, 255].
"""
from __future__ import annotations

import argparse

import awkward as ak
import numpy as np
import uproot

from hepvq.baselines.sparse import dequantize, encode_sparse, requantize
from hepvq.pixel import metrics as M
from hepvq.pixel import patches as P


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("file", nargs="?", default="data/pixel_pu200_sample.root")
    ap.add_argument("--bits", default="3,4,5")
    ap.add_argument("--adc-min", type=float, default=8.0)
    ap.add_argument("--adc-max", type=float, default=255.0)
    args = ap.parse_args(argv)

    a = uproot.open(args.file)["Events"].arrays(filter_name="PixelDigi_*")
    counts = ak.to_numpy(ak.num(a.PixelDigi_adc))
    det = ak.to_numpy(ak.flatten(a.PixelDigi_detId)).astype(np.int64)
    row = ak.to_numpy(ak.flatten(a.PixelDigi_row)).astype(np.int64)
    col = ak.to_numpy(ak.flatten(a.PixelDigi_col)).astype(np.int64)
    adc = ak.to_numpy(ak.flatten(a.PixelDigi_adc)).astype(np.float64)
    event = np.repeat(np.arange(len(a)), counts)
    offsets = np.concatenate([[0], np.cumsum(counts)])
    ref = P.Hits(len(a), event, det, row, col, adc)

    print(f"{args.file}: {len(a)} events, {len(adc)} hits")
    print("| ADC bits | bins | bits/hit | cluster charge RMS | centroid RMS [px] | ADC MAE |")
    print("|---|---|---|---|---|---|")
    for bits in (int(b) for b in args.bits.split(",")):
        for mode in ("linear", "log"):
            q = requantize(adc, bits, args.adc_min, args.adc_max, mode=mode)
            dec = P.Hits(len(a), event, det, row, col, np.rint(dequantize(q, bits, args.adc_min, args.adc_max, mode=mode)))
            r = M.compare(ref, dec)
            blob = encode_sparse([det, col, row], adc, value_bits=bits, value_min=args.adc_min,
                                 value_max=args.adc_max, event_offsets=offsets, mode=mode)
            print(f"| {bits} | {mode} | {8 * len(blob) / len(adc):.2f} | {100 * r['charge_rms_rel']:.1f} % "
                  f"| {r['centroid_rms_px']:.3f} | {r['adc_mae']:.2f} |")


if __name__ == "__main__":
    main()
