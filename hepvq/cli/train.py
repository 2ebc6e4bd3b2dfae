"""hepvq-train SUBCOMMAND [options]: train a model (torch).  Subcommands are resolved lazily from SUBCOMMANDS."""
from __future__ import annotations

from hepvq.cli._dispatch import dispatch

SUBCOMMANDS = {
    "pixel-vq": "hepvq.pixel.train:main",          # classical VQ (--stages 1) / residual VQ (--stages N)
    "pixel-vqvae": "hepvq.pixel.train:main_vqvae",  # VQ-VAE charge model
    "tpc-inr": "hepvq.tpc.train:main",
}


def main(argv=None) -> int:
    return dispatch("hepvq-train", SUBCOMMANDS, argv, __doc__)


if __name__ == "__main__":
    raise SystemExit(main())
