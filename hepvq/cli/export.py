"""hepvq-export SUBCOMMAND [options]: export a trained checkpoint to ONNX model files for hepvq-run."""
from __future__ import annotations

from hepvq.cli._dispatch import dispatch

SUBCOMMANDS = {
    "pixel-vq": "hepvq.pixel.export:main",      # checkpoints of pixel-vq and pixel-vqvae alike
    "pixel-vqvae": "hepvq.pixel.export:main",
    "tpc-inr": "hepvq.tpc.export:main",
}


def main(argv=None) -> int:
    return dispatch("hepvq-export", SUBCOMMANDS, argv, __doc__)


if __name__ == "__main__":
    raise SystemExit(main())
