"""Codecs are found through the entry-point group ``hepvq.codecs`` (pyproject.toml), no list of homes in hepvq;
a codec name that is unknown, or an entry point that is broken or not a Codec, is refused in one line."""
from importlib.metadata import EntryPoint

import pytest

from hepvq.codecs import base
from hepvq.errors import ModelError


def test_shipped_codecs_come_from_the_entry_point_group():
    eps = base._entry_points()
    assert {"pixel_vq", "pixel_sparse", "tpc_inr"} <= set(eps)
    assert eps["tpc_inr"].value == "hepvq.tpc.codec:TpcInrCodec"
    from hepvq.tpc.codec import TpcInrCodec

    assert base.codec_class("tpc_inr") is TpcInrCodec
    assert {"pixel_vq", "pixel_sparse", "tpc_inr"} <= set(base.registered_codecs())


def test_unknown_or_broken_codec_entry_points_are_refused(monkeypatch):
    fake = {"ghost": EntryPoint("ghost", "hepvq.no_such_module:Ghost", base.ENTRY_POINT_GROUP),
            "notacodec": EntryPoint("notacodec", "hepvq.errors:ModelError", base.ENTRY_POINT_GROUP)}
    monkeypatch.setattr(base, "_entry_points", lambda: fake)
    with pytest.raises(ModelError, match=r"codec 'ghost' \(hepvq.codecs entry point .*\) cannot be imported"):
        base.codec_class("ghost")
    with pytest.raises(ModelError, match="'notacodec' .* is not a Codec named 'notacodec'"):
        base.codec_class("notacodec")
    with pytest.raises(ModelError, match="unknown codec 'ghostt'.*ghost"):
        base.codec_class("ghostt")
    assert "ghost" not in base._REGISTRY and "notacodec" not in base._REGISTRY
