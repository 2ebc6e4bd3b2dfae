"""Vector quantisation in torch: masked k-means codebooks, residual (multi-stage) VQ, a trainable VQ layer with
EMA updates, k-means initialisation, dead-code restarts and perplexity, and the export-only modules that ONNX
sees (nearest-code search and lookup as plain tensor ops, integer indices out).

Masks: pixel patches have an exact occupancy pattern known to both encoder and decoder, so distances only
count the occupied pixels (``mask`` 1) and decoded vectors are masked.  Pass ``mask=None`` for plain VQ.

Training code imports this module; the run-time path never does (it runs the exported ONNX graphs).
"""
from __future__ import annotations

import math

from hepvq.extras import require

torch = require("torch")
nn = torch.nn
F = torch.nn.functional


def masked_sqdist(x, codebook, mask=None):
    """Squared distances (B, K) between rows of x (B, D) and codes (K, D), counting only mask==1 entries.

    Written as matmuls (no (B, K, D) temporary) so that it exports to ONNX and runs on big batches."""
    if mask is None:
        mask = torch.ones_like(x)
    xm = x * mask
    return (xm * x).sum(1, keepdim=True) - 2.0 * xm @ codebook.t() + mask @ (codebook * codebook).t()


def nearest(x, codebook, mask=None):
    """argmin over codes of the masked squared distance, without the per-row constant sum(m x^2): two matmuls
    and an argmin -- exactly what the exported ONNX encoder computes (in float64)."""
    if mask is None:
        mask = torch.ones_like(x)
    return (mask @ (codebook * codebook).t() - 2.0 * (x * mask) @ codebook.t()).argmin(1)


def perplexity(indices, k: int) -> float:
    """exp(entropy) of the code usage: k when all codes are used equally, 1 when one code takes everything."""
    counts = torch.bincount(indices.reshape(-1), minlength=k).double()
    p = counts / counts.sum().clamp(min=1)
    ent = -(p[p > 0] * p[p > 0].log()).sum()
    return float(ent.exp())


def kmeans(x, k: int, mask=None, iters: int = 25, seed: int = 0, weight=None, verbose=False, bar=None):
    """Masked Lloyd k-means (k-means++-lite init: random distinct rows).  Returns codebook (k, D) float32.

    With a mask the centroid of each dimension is the mean over the members that occupy it (a member that
    does not occupy a dimension says nothing about it); codes that end up empty are re-seeded from the rows
    farthest from their code (dead-code restart).  ``bar``: a progress bar advanced once per iteration."""
    g = torch.Generator().manual_seed(seed)
    x = x.double()
    n, d = x.shape
    m = torch.ones_like(x) if mask is None else mask.double()
    w = torch.ones(n, dtype=torch.float64) if weight is None else weight.double()
    k = min(k, n)
    c = x[torch.randperm(n, generator=g)[:k]].clone()
    for it in range(iters):
        idx, err = _nearest_chunked(x, c, m)
        num = torch.zeros(k, d, dtype=torch.float64).index_add_(0, idx, x * m * w[:, None])
        den = torch.zeros(k, d, dtype=torch.float64).index_add_(0, idx, m * w[:, None])
        newc = torch.where(den > 0, num / den.clamp(min=1e-12), c)
        used = torch.bincount(idx, minlength=k) > 0
        if (~used).any():  # dead codes: restart at the worst-fitted rows
            far = err.argsort(descending=True)[: int((~used).sum())]
            newc[~used] = x[far]
        shift = (newc - c).abs().max()
        c = newc
        if verbose:
            print(f"  kmeans iter {it}: mean dist {float(err.mean()):.5f}")
        if bar is not None:
            bar.update(1 if shift >= 1e-7 else iters - it)  # converged: the stage's remaining iterations
            bar.set_postfix_str(f"mean dist {float(err.mean()):.4g}")
        if shift < 1e-7:
            break
    return c.float()


def _nearest_chunked(x, c, m, chunk: int = 16384):
    idx, err = [], []
    for a in range(0, len(x), chunk):
        dist = masked_sqdist(x[a:a + chunk], c, m[a:a + chunk])
        e, i = dist.min(1)
        idx.append(i)
        err.append(e)
    return torch.cat(idx), torch.cat(err)


def assign(x, codebook, mask=None):
    """Nearest code index (B,) in float64 (the precision the exported encoder uses)."""
    x = x.double()
    m = torch.ones_like(x) if mask is None else mask.double()
    cb = codebook.double()
    return torch.cat([nearest(x[a:a + 16384], cb, m[a:a + 16384]) for a in range(0, len(x), 16384)]) \
        if len(x) else torch.zeros(0, dtype=torch.int64)


def residual_kmeans(x, k, stages: int | None = None, mask=None, iters: int = 25, seed: int = 0, quiet=True):
    """Classical residual VQ: stage s is k-means on the residual left by stages < s.  ``k`` is one codebook
    size for every stage or a list of sizes (one per stage).  Returns [codebooks].  quiet=False: a progress
    bar over all stages' iterations (on a terminal only)."""
    from hepvq.progress import bar as progress_bar

    sizes = list(k) if isinstance(k, (list, tuple)) else [int(k)] * int(stages or 1)
    books = []
    r = x.clone()
    m = torch.ones_like(x) if mask is None else mask
    with progress_bar(total=len(sizes) * iters, desc="k-means", unit="iter", quiet=quiet) as bar:
        for s, ks in enumerate(sizes):
            cb = kmeans(r, ks, m, iters=iters, seed=seed + s, bar=bar)
            idx = assign(r, cb, m)
            r = r - cb[idx] * m
            books.append(cb)
    return books


class VectorQuantizer(nn.Module):
    """A trainable VQ layer (VQ-VAE bottleneck): straight-through gradients, codebook + commitment losses or
    EMA codebook updates, k-means initialisation on the first batch, dead-code restarts.

    forward(z) -> (z_q, indices, loss); ``self.last_perplexity`` holds the batch's code-usage perplexity."""

    def __init__(self, num_codes: int = 512, dim: int = 8, commitment: float = 0.25, ema: bool = False,
                 decay: float = 0.99, kmeans_init: bool = False, dead_code_threshold: float = 0.0, seed: int = 0):
        super().__init__()
        self.num_codes, self.dim = num_codes, dim
        self.commitment, self.ema, self.decay = commitment, ema, decay
        self.kmeans_init, self.dead_code_threshold = kmeans_init, dead_code_threshold
        g = torch.Generator().manual_seed(seed)
        init = torch.randn(num_codes, dim, generator=g) * (1.0 / num_codes)
        self.codebook = nn.Parameter(init, requires_grad=not ema)
        self.register_buffer("initted", torch.tensor(not kmeans_init))
        self.register_buffer("ema_count", torch.ones(num_codes))
        self.register_buffer("ema_sum", init.clone())
        self.last_perplexity = float("nan")
        self.last_dead = 0

    @torch.no_grad()
    def _init(self, z):
        cb = kmeans(z.detach(), self.num_codes, iters=10)
        if len(cb) < self.num_codes:  # fewer rows than codes: pad with jittered copies
            reps = cb[torch.randint(len(cb), (self.num_codes - len(cb),))]
            cb = torch.cat([cb, reps + 1e-3 * torch.randn_like(reps)])
        self.codebook.data.copy_(cb)
        self.ema_sum.copy_(cb)
        self.ema_count.fill_(1.0)
        self.initted.fill_(True)

    def forward(self, z):
        if self.training and not bool(self.initted):
            self._init(z)
        dist = masked_sqdist(z, self.codebook)
        idx = dist.argmin(1)
        zq = self.codebook[idx]
        if self.training:
            self.last_perplexity = perplexity(idx, self.num_codes)
            if self.ema:
                with torch.no_grad():
                    onehot = F.one_hot(idx, self.num_codes).type(z.dtype)
                    self.ema_count.mul_(self.decay).add_(onehot.sum(0), alpha=1 - self.decay)
                    self.ema_sum.mul_(self.decay).add_(onehot.t() @ z.detach(), alpha=1 - self.decay)
                    n = self.ema_count.sum()
                    count = (self.ema_count + 1e-5) / (n + self.num_codes * 1e-5) * n
                    self.codebook.data.copy_(self.ema_sum / count[:, None])
                loss = self.commitment * F.mse_loss(z, zq.detach())
            else:
                loss = F.mse_loss(zq, z.detach()) + self.commitment * F.mse_loss(z, zq.detach())
                if self.dead_code_threshold > 0:
                    with torch.no_grad():
                        onehot = F.one_hot(idx, self.num_codes).type(z.dtype)
                        self.ema_count.mul_(self.decay).add_(onehot.sum(0), alpha=1 - self.decay)
            if self.dead_code_threshold > 0:
                self._restart_dead(z)
        else:
            loss = z.new_zeros(())
        zq = z + (zq - z).detach()  # straight-through
        return zq, idx, loss

    @torch.no_grad()
    def _restart_dead(self, z):
        dead = self.ema_count < self.dead_code_threshold
        nd = int(dead.sum())
        self.last_dead = nd
        if nd == 0:
            return
        pick = z.detach()[torch.randint(len(z), (nd,))]
        self.codebook.data[dead] = pick
        self.ema_sum[dead] = pick
        self.ema_count[dead] = 1.0


# ---------------------------------------------------------------------------------------------------------
# export-only modules: what the ONNX graphs contain


class RVQEncoder(nn.Module):
    """(x (B, D) float32, mask (B, D) float32) -> indices (B, S) int64: residual nearest-code search in float64
    with plain tensor ops (stages may have different codebook sizes).

    Centroid-aware choice (``topk`` > 1): at each stage the ``topk`` nearest codes (masked squared distance)
    are decoded exactly as the decoder will (cumulative sum, mask, clip, normalise) and the one minimising
    (centroid error of the decoded fractions)^2 + ``lam`` * squared fraction error wins.  The decoder is
    unchanged; the cluster centroid -- what tracking uses -- improves ~2x at the same rate."""

    def __init__(self, codebooks, topk: int = 1, lam: float = 0.3, cols: int = 8):
        super().__init__()
        self.stages = len(codebooks)
        self.topk = [min(int(topk), int(cb.shape[0])) for cb in codebooks]
        self.lam = float(lam)
        for s, cb in enumerate(codebooks):
            self.register_buffer(f"book{s}", cb.double())
        d = int(codebooks[0].shape[1])
        slot = torch.arange(d, dtype=torch.float64)
        self.register_buffer("pos_r", torch.div(slot, cols, rounding_mode="floor"))
        self.register_buffer("pos_c", torch.remainder(slot, cols))

    def forward(self, x, mask):
        xd = x.double()
        r = xd
        m = mask.double()
        recon = torch.zeros_like(xd)
        xr = (xd * self.pos_r).sum(1, keepdim=True)
        xc = (xd * self.pos_c).sum(1, keepdim=True)
        uniform = m / m.sum(1, keepdim=True).clamp(min=1.0)
        out = []
        for s in range(self.stages):
            cb = getattr(self, f"book{s}")
            if self.topk[s] > 1:
                d = m @ (cb * cb).t() - 2.0 * (r * m) @ cb.t()
                cand = torch.topk(d, self.topk[s], dim=1, largest=False).indices  # (B, k)
                y = torch.clamp((recon.unsqueeze(1) + cb[cand]) * m.unsqueeze(1), min=0.0)  # (B, k, D)
                tot = y.sum(2, keepdim=True)
                f = torch.where(tot > 1e-6, y / tot.clamp(min=1e-6), uniform.unsqueeze(1))
                er = (f * self.pos_r).sum(2) - xr
                ec = (f * self.pos_c).sum(2) - xc
                obj = er * er + ec * ec + self.lam * ((f - xd.unsqueeze(1)) ** 2).sum(2)
                j = obj.argmin(1, keepdim=True)
                idx = torch.gather(cand, 1, j).squeeze(1)
            else:
                idx = nearest(r, cb, m)
            recon = recon + cb[idx] * m
            r = r - cb[idx] * m
            out.append(idx)
        return torch.stack(out, 1)


class RVQDecoder(nn.Module):
    """(indices (B, S) int64, mask (B, D) float32) -> charge fractions (B, D) float32: sum of the stages' codes,
    masked, clipped at 0 and normalised to 1 (uniform over the mask if everything clipped)."""

    def __init__(self, codebooks):
        super().__init__()
        self.stages = len(codebooks)
        for s, cb in enumerate(codebooks):
            self.register_buffer(f"book{s}", cb.float())

    def forward(self, indices, mask):
        y = torch.zeros_like(mask)
        for s in range(self.stages):
            y = y + getattr(self, f"book{s}")[indices[:, s]]
        return normalise_fractions(y, mask)


def normalise_fractions(y, mask):
    y = torch.clamp(y * mask, min=0.0)
    tot = y.sum(1, keepdim=True)
    uniform = mask / mask.sum(1, keepdim=True).clamp(min=1.0)
    return torch.where(tot > 1e-6, y / tot.clamp(min=1e-6), uniform)


def rvq_decode_torch(codebooks, indices, mask):
    return RVQDecoder(codebooks)(indices, mask)


def bits(k: int) -> float:
    return math.log2(k)
