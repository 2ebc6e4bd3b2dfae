"""Run-time side of the amortised INR codec: encoder and shared decoder as ONNX (onnxruntime, no torch).

The encoder maps sector volumes (B, 192, 249, 16) ADC -> latents (B, C, 24, 32); the decoder evaluates one
sector's latent at any coordinates (n, 3) in [-1, 1]^3 (hepvq.tpc.grid convention) -> ADC / 1023.
The config (hepvq.tpc.amortised.default_config) is read from the ONNX metadata (key hepvq_config)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from hepvq.errors import ModelError
from hepvq.runtime.session import load_model

DEFAULT_DIR = Path(__file__).resolve().parents[2] / "data" / "models"
ENCODER_FILE = "tpc_amortised_encoder.onnx"
DECODER_FILE = "tpc_amortised_decoder.onnx"


class AmortisedRuntime:
    def __init__(self, config: dict | None = None, *, decoder_bytes: bytes, encoder_bytes: bytes | None = None,
                 providers=None, source: str = "<metadata>"):
        self.source = source
        self.decoder_bytes = bytes(decoder_bytes)
        self.encoder_bytes = encoder_bytes
        self.providers = providers
        self._dec = load_model(self.decoder_bytes, providers=providers, name=f"{source} (decoder)")
        if config is None:
            if "hepvq_config" not in self._dec.metadata:
                raise ModelError("amortised decoder ONNX lacks metadata 'hepvq_config'")
            config = json.loads(self._dec.metadata["hepvq_config"])
        self.config = dict(config)
        C, cell, P, zp = config["latent_channels"], config["cell"], config["shape"][0], config["z_pad"]
        self.latent_shape = (C, P // cell, zp // cell)
        self._enc = None

    @classmethod
    def load(cls, directory=None, *, encoder=None, decoder=None, providers=None) -> "AmortisedRuntime":
        d = Path(directory) if directory else DEFAULT_DIR
        enc = Path(encoder) if encoder else d / ENCODER_FILE
        dec = Path(decoder) if decoder else d / DECODER_FILE
        for p in (enc, dec):
            if not p.is_file():
                raise ModelError(f"amortised TPC model file {p} does not exist (train it: hepvq-train tpc-inr --amortised)")
        return cls(None, decoder_bytes=dec.read_bytes(), encoder_bytes=enc.read_bytes(), providers=providers,
                   source=f"{dec} / {enc}")

    def encode(self, volumes: np.ndarray, batch: int = 8) -> np.ndarray:
        """(B, phi, z, layer) ADC -> (B, C, gh, gw) float32 latents."""
        if self.encoder_bytes is None:
            raise ModelError("this amortised model was loaded for decoding only (no encoder ONNX)")
        if self._enc is None:
            self._enc = load_model(self.encoder_bytes, providers=self.providers, name=f"{self.source} (encoder)")
        v = np.asarray(volumes, dtype=np.float32)
        return self._enc.run({"volume": v}, batch_size=batch)["latent"]

    def needed_cells(self, volumes: np.ndarray) -> np.ndarray:
        """(B, phi, z, layer) -> (B, gh, gw) float mask of the latent cells that a hit's bilinear interpolation
        can reach (cells within one cell of a cell holding a hit); the others never change a decoded hit."""
        v = np.asarray(volumes) > 0
        B, P, Z, L = v.shape
        c, zp = self.config["cell"], self.config["z_pad"]
        occ = np.zeros((B, P, zp), dtype=bool)
        occ[:, :, :Z] = v.any(axis=3)
        occ = occ.reshape(B, P // c, c, zp // c, c).any(axis=(2, 4))
        pad = np.pad(occ, ((0, 0), (1, 1), (1, 1)))
        out = np.zeros_like(occ)
        for dp in range(3):
            for dz in range(3):
                out |= pad[:, dp:dp + occ.shape[1], dz:dz + occ.shape[2]]
        return out.astype(np.float32)

    @property
    def uses_context(self) -> bool:
        return bool(self.config.get("context"))

    def decode(self, latent: np.ndarray, coords: np.ndarray, context: np.ndarray | None = None,
               batch: int = 262144) -> np.ndarray:
        """One sector: latent (C, gh, gw), coords (n, 3)[, context (n, 3)] -> (n,) values (ADC / 1023)."""
        if self.uses_context and context is None:
            raise ModelError("this amortised decoder needs the hit-mask context (hybrid mode)")
        lat = np.ascontiguousarray(np.asarray(latent, np.float32).reshape(self.latent_shape))
        x = np.asarray(coords, np.float32)
        out = np.empty(len(x), np.float32)
        sess = self._dec.session
        for s in range(0, len(x), batch):
            feed = {"latent": lat, "coords": np.ascontiguousarray(x[s:s + batch])}
            if self.uses_context:
                feed["context"] = np.ascontiguousarray(np.asarray(context, np.float32)[s:s + batch])
            out[s:s + batch] = sess.run(["value"], feed)[0]
        return out
