"""hepvq-train: train a compression model (needs torch: pip install -e ".[train]").

    hepvq-train pixel-vq --simulate 12 --codebook-size 256 -o vq.pt --export my_vq
    hepvq-train pixel-vqvae --simulate 12 --steps 3000 -o vqvae.pt
    hepvq-train pixel-vq-tables --input data/pixel_pu200_sample.root --model data/models/pixel_vq
    hepvq-train tpc-inr --amortised --mode hybrid --out-dir my_tpc_models"""
from __future__ import annotations

from hepvq.cli._dispatch import dispatch

SUBCOMMANDS = {
    "pixel-vq": "hepvq.pixel.train:main",          # classical VQ (--stages 1) / residual VQ (--stages N)
    "pixel-vqvae": "hepvq.pixel.train:main_vqvae",  # VQ-VAE charge model
    "pixel-vq-tables": "hepvq.pixel.train:main_tables",  # format-2 rANS tables of a model directory
    "tpc-inr": "hepvq.tpc.train:main",
}


# what `hepvq-train --help` says of each subcommand
SUMMARIES = {
    "pixel-vq": "pixel_vq charge model by (residual) VQ k-means on pixel DIGI patches -> checkpoint (.pt)",
    "pixel-vqvae": "pixel_vq charge model as a VQ-VAE (torch optimiser steps) -> checkpoint (.pt)",
    "pixel-vq-tables": "pixel_vq format-2 rANS tables per operating point, fitted on DIGIs -> model directory",
    "tpc-inr": "TPC INRs: the amortised encoder + shared decoder (--amortised) or per-sector fits (--fit)",
}


def main(argv=None) -> int:
    return dispatch("hepvq-train", SUBCOMMANDS, argv, __doc__, SUMMARIES)


if __name__ == "__main__":
    raise SystemExit(main())
