"""hepvq-export: turn a trained checkpoint into the ONNX model files hepvq-run and C++ use (needs torch).

    hepvq-export pixel-vq --checkpoint vq.pt --output my_vq
    hepvq-export tpc-inr --weights fit.npz --out sector0.onnx"""
from __future__ import annotations

from hepvq.cli._dispatch import dispatch

SUBCOMMANDS = {
    "pixel-vq": "hepvq.pixel.export:main",      # checkpoints of pixel-vq and pixel-vqvae alike
    "pixel-vqvae": "hepvq.pixel.export:main_vqvae",
    "tpc-inr": "hepvq.tpc.export:main",
}


# what `hepvq-export --help` says of each subcommand
SUMMARIES = {
    "pixel-vq": "checkpoint of hepvq-train pixel-vq -> model directory (encoder.onnx, decoder.onnx, codec.json)",
    "pixel-vqvae": "checkpoint of hepvq-train pixel-vqvae -> model directory (same files)",
    "tpc-inr": "fitted sector INR (npz) -> ONNX evaluable at any (phi, z, layer); or an amortised checkpoint",
}


#: options that name an input file of a subcommand, checked before torch is imported
_INPUT_OPTIONS = ("--checkpoint", "-c", "--weights", "--amortised")


def missing_input(argv) -> str | None:
    """One-line error for an input file option that names no readable file (else None)."""
    import os

    args = list(argv)
    for i, a in enumerate(args):
        opt, eq, value = a.partition("=")
        if opt not in _INPUT_OPTIONS or opt == "-c" and eq:
            continue
        if not eq:
            if i + 1 >= len(args):
                continue  # argparse reports the missing value
            value = args[i + 1]
        if not os.path.isfile(value):
            what = "is a directory" if os.path.isdir(value) else "does not exist"
            return f"{opt} {value}: file {what}"
        if not os.access(value, os.R_OK):
            return f"{opt} {value}: file is not readable"
    return None


def main(argv=None) -> int:
    import sys

    args = list(sys.argv[1:] if argv is None else argv)
    problem = missing_input(args[1:]) if args and not args[0].startswith("-") else None
    if problem:
        print(f"hepvq-export {args[0]}: error: {problem}", file=sys.stderr)
        return 1
    return dispatch("hepvq-export", SUBCOMMANDS, argv, __doc__, SUMMARIES)


if __name__ == "__main__":
    raise SystemExit(main())
