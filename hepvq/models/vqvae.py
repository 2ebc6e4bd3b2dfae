"""VQ-VAE for pixel-patch charge fractions (torch; training and export only).

Seed recipe (docs/SEEDS: LArTPC VQ-VAE): conv blocks (conv, ReLU, BatchNorm) with filters [16, 32], a VQ
bottleneck of 512 codes of dimension 8, Adam 3e-4, reconstruction + codebook + commitment losses,
straight-through gradients.  Against codebook collapse: EMA codebook updates, k-means initialisation on the
first batch, dead-code restarts (hepvq.models.vq.VectorQuantizer).

The patch is a 2-channel image (charge fractions x, occupancy mask m) of rows x cols pixels; one latent vector
per patch.  The decoder sees the code *and the mask* (the exact occupancy is coded separately, so the decoder
may use it) and outputs fractions with a masked softmax: non-negative, zero off the mask, summing to one.
"""
from __future__ import annotations

from hepvq.extras import require
from hepvq.models.vq import VectorQuantizer, nearest

torch = require("torch")
nn = torch.nn


def masked_softmax(logits, mask):
    logits = logits + (mask - 1.0) * 1e4
    y = torch.softmax(logits, dim=1) * mask
    return y / y.sum(1, keepdim=True).clamp(min=1e-12)


class PatchVQVAE(nn.Module):
    def __init__(self, rows: int = 4, cols: int = 8, num_codes: int = 512, dim: int = 8, filters=(16, 32),
                 ema: bool = False, kmeans_init: bool = False, dead_code_threshold: float = 0.0, commitment=0.25,
                 seed: int = 0):
        super().__init__()
        torch.manual_seed(seed)
        self.rows, self.cols, self.dim = rows, cols, dim
        f0, f1 = filters
        self.encoder = nn.Sequential(
            nn.Conv2d(2, f0, 3, padding=1), nn.ReLU(), nn.BatchNorm2d(f0),
            nn.Conv2d(f0, f1, 3, padding=1), nn.ReLU(), nn.BatchNorm2d(f1),
            nn.Flatten(), nn.Linear(f1 * rows * cols, dim),
        )
        self.vq = VectorQuantizer(num_codes, dim, commitment=commitment, ema=ema, kmeans_init=kmeans_init,
                                  dead_code_threshold=dead_code_threshold, seed=seed)
        self.expand = nn.Linear(dim, f1 * rows * cols)
        self.decoder = nn.Sequential(
            nn.Conv2d(f1 + 1, f0, 3, padding=1), nn.ReLU(), nn.BatchNorm2d(f0),
            nn.Conv2d(f0, 1, 3, padding=1),
        )
        self.f1 = f1

    def encode(self, x, mask):
        img = torch.stack([x * 4.0, mask], 1).reshape(-1, 2, self.rows, self.cols)
        return self.encoder(img)

    def decode_latent(self, zq, mask):
        h = self.expand(zq).reshape(-1, self.f1, self.rows, self.cols)
        h = torch.cat([h, mask.reshape(-1, 1, self.rows, self.cols)], 1)
        logits = self.decoder(h).reshape(-1, self.rows * self.cols)
        return masked_softmax(logits, mask)

    def forward(self, x, mask):
        z = self.encode(x, mask)
        zq, idx, vq_loss = self.vq(z)
        return self.decode_latent(zq, mask), idx, vq_loss


class VQVAEEncoderExport(nn.Module):
    """(x, mask) -> indices (B, 1) int64; nearest code in float64 with plain tensor ops."""

    def __init__(self, model: PatchVQVAE):
        super().__init__()
        self.model = model

    def forward(self, x, mask):
        z = self.model.encode(x, mask).double()
        cb = self.model.vq.codebook.double()
        return nearest(z, cb)[:, None]


class VQVAEDecoderExport(nn.Module):
    """(indices (B, 1) int64, mask) -> fractions (B, rows*cols)."""

    def __init__(self, model: PatchVQVAE):
        super().__init__()
        self.model = model

    def forward(self, indices, mask):
        zq = self.model.vq.codebook[indices[:, 0]]
        return self.model.decode_latent(zq, mask)
