"""Codecs: the one place that knows how a detector collection is encoded and decoded.

The same Codec object serves the encoder module, the decoder module and hepvq.open(), so that
decoding in analysis is exactly what decompress_cfg.py does. A codec is rebuilt from nothing but the
metadata blobs that travel in the compressed file. See base.py for the contract."""
from hepvq.codecs.base import Codec, EncodeResult, codec_class, register_codec, registered_codecs

__all__ = ["Codec", "EncodeResult", "codec_class", "register_codec", "registered_codecs"]
