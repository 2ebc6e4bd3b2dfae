"""hepvq-train / hepvq-export subcommand dispatch and the pixel-vq subcommands."""
import json

import awkward as ak
import numpy as np
import pytest
import uproot

pytest.importorskip("torch")

from hepvq.cli import export as export_cli  # noqa: E402
from hepvq.cli import train as train_cli  # noqa: E402
from hepvq.pixel.codec import PixelVQCodec  # noqa: E402
from pixel_toydata import toy_events  # noqa: E402


def test_dispatch_tables_are_lazy_and_complete():
    assert train_cli.SUBCOMMANDS["tpc-inr"] == "hepvq.tpc.train:main"
    assert export_cli.SUBCOMMANDS["tpc-inr"] == "hepvq.tpc.export:main"
    assert {"pixel-vq", "pixel-vqvae"} <= set(train_cli.SUBCOMMANDS)


def test_unknown_subcommand_suggests(capsys):
    assert train_cli.main(["pixel-vqq"]) == 2
    assert "did you mean: pixel-vq" in capsys.readouterr().err


def test_train_then_export_pixel_vq(tmp_path):
    hits = toy_events(4, seed=2)
    n = len(hits)
    src = tmp_path / "toy.root"
    with uproot.recreate(src) as f:
        f.mktree("Events", {"event": np.uint64, "PixelDigi": hits.type.content})
        f["Events"].extend({"event": np.arange(n, dtype=np.uint64), "PixelDigi": hits})
    ckpt = tmp_path / "m.pt"
    rc = train_cli.main(["pixel-vq", "--input", str(src), "--codebook-size", "8,4", "--iters", "2",
                         "--threads", "1", "-o", str(ckpt)])
    assert rc == 0 and ckpt.exists()
    out = tmp_path / "model"
    assert export_cli.main(["pixel-vq", "--checkpoint", str(ckpt), "--output", str(out)]) == 0
    settings = json.loads((out / "codec.json").read_text())
    assert settings["model"]["codebook_sizes"] == [8, 4] and settings["model"]["kind"] == "rvq"
    codec = PixelVQCodec.from_directory(out)
    prod = codec.encode(hits).products
    assert set(ak.fields(prod["codes"])) == {"c0", "c1"}
    dec = PixelVQCodec.from_metadata(codec.metadata()).decode(prod)
    assert int(ak.sum(ak.num(dec, axis=1))) == int(ak.sum(ak.num(hits, axis=1)))
