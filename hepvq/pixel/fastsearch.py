"""A numpy fast path for the single-stage classical-VQ encoder graph (``encoder.onnx`` of kind ``vq``), giving
the same indices as onnxruntime.

The ONNX encoder computes, per patch and in float64, the masked distance to every code (two matmuls), the
``topk`` nearest codes, each candidate's decoded fractions (masked, clipped, normalised) and the
centroid-aware objective, then the argmin.  With one stage, everything that depends on the code and the mask
only -- masked squared norms, clipped charge totals, clipped centroid numerators, squared fraction norms -- is
a table per (distinct mask, code), computed once per chunk for the few thousand distinct masks; a patch then
costs one float64 GEMM against the codebook (distances) plus a gather of its 8 candidates.  No (patch, code,
pixel) tensor is ever built.

Exactness: the algebra is rearranged, so the float64 rounding differs from onnxruntime's by a few ulp.  Every
patch whose decision is within ``TOL`` of a tie (8th vs 9th distance, best vs second-best objective, a
candidate's clipped total near the 1e-6 switch to uniform fractions) is *re-run through the ONNX encoder*, so
the result equals onnxruntime's whenever the ulp-level differences are below ``TOL`` (they are ~1e-15 here;
TOL = 1e-9).  A self-check against onnxruntime on random patches at construction disables the fast path if
the graph does not behave as assumed.

The codebook is read from the encoder's ONNX initializer ``book0`` with a minimal protobuf reader (the
``onnx`` package is not a run-time dependency).
"""
from __future__ import annotations

import os

import numpy as np

TOL = 1e-9
TOT_EPS = 1e-6  # the encoder's threshold below which the candidate's fractions become uniform over the mask


def _varint(buf: bytes, i: int):
    shift = result = 0
    while True:
        b = buf[i]
        i += 1
        result |= (b & 0x7F) << shift
        if b < 0x80:
            return result, i
        shift += 7


def _fields(buf: bytes):
    """(field number, wire type, value) of a protobuf message (value: int or bytes)."""
    i, n = 0, len(buf)
    while i < n:
        key, i = _varint(buf, i)
        f, wt = key >> 3, key & 7
        if wt == 0:
            v, i = _varint(buf, i)
        elif wt == 1:
            v, i = buf[i:i + 8], i + 8
        elif wt == 2:
            ln, i = _varint(buf, i)
            v, i = buf[i:i + ln], i + ln
        elif wt == 5:
            v, i = buf[i:i + 4], i + 4
        else:
            raise ValueError(f"unsupported protobuf wire type {wt}")
        yield f, wt, v


def onnx_initializer(model_bytes: bytes, name: str) -> np.ndarray | None:
    """A float32/float64 initializer of an ONNX model (ModelProto.graph.initializer), or None."""
    for f, wt, graph in _fields(model_bytes):
        if f != 7 or wt != 2:
            continue
        for g, gwt, tensor in _fields(graph):
            if g != 5 or gwt != 2:
                continue
            dims, dtype, tname, raw, dbl, flt = [], None, None, None, [], []
            for t, twt, v in _fields(tensor):
                if t == 1:
                    if twt == 2:
                        j = 0
                        while j < len(v):
                            d, j = _varint(v, j)
                            dims.append(d)
                    else:
                        dims.append(v)
                elif t == 2:
                    dtype = v
                elif t == 8:
                    tname = v.decode()
                elif t == 9:
                    raw = v
                elif t == 10:
                    dbl.append(v)
                elif t == 4:
                    flt.append(v)
            if tname != name:
                continue
            np_dt = {1: "<f4", 11: "<f8"}.get(dtype)
            if np_dt is None:
                return None
            if raw is not None:
                arr = np.frombuffer(raw, dtype=np_dt)
            elif dbl and dtype == 11:
                arr = np.concatenate([np.frombuffer(v, "<f8") if isinstance(v, bytes) else
                                      np.frombuffer(np.uint64(v).tobytes(), "<f8") for v in dbl])
            elif flt and dtype == 1:
                arr = np.concatenate([np.frombuffer(v, "<f4") if isinstance(v, bytes) else
                                      np.frombuffer(np.uint32(v).tobytes(), "<f4") for v in flt])
            else:
                return None
            return arr.astype(np.float64).reshape(dims)
    return None


class FastVQSearch:
    """Centroid-aware nearest-code search of a one-stage VQ encoder in numpy; ``None`` rows go to onnxruntime."""

    def __init__(self, codebook: np.ndarray, topk: int, lam: float, cols: int, threads: int | None = None):
        self.threads = int(threads) if threads else min(2, os.cpu_count() or 1)
        self.cb = np.ascontiguousarray(codebook, dtype=np.float64)  # (K, D)
        k, d = self.cb.shape
        self.k = min(int(topk), k)
        self.lam = float(lam)
        slot = np.arange(d, dtype=np.float64)
        self.pos_r, self.pos_c = np.floor(slot / cols), np.remainder(slot, cols)
        self.cbT = np.ascontiguousarray(self.cb.T)
        self.cbT32 = self.cbT.astype(np.float32)
        self.c2T = np.ascontiguousarray((self.cb * self.cb).T)
        p = np.maximum(self.cb, 0.0)
        self.p = p
        self.pT = np.ascontiguousarray(p.T)
        self.prT = np.ascontiguousarray((p * self.pos_r).T)
        self.pcT = np.ascontiguousarray((p * self.pos_c).T)
        self.p2T = np.ascontiguousarray((p * p).T)
        import hepvq_core

        self._core = hepvq_core.VQSearch(self.cb, self.k, self.lam, cols, TOL)

    def search(self, x: np.ndarray, m: np.ndarray, mask_id: np.ndarray, chunk: int = 8192):
        """(indices int64 (B,), ambiguous bool (B,)) for fractions x (B, D) float32 (zero outside the mask), mask
        m (B, D) and its bit mask (mask_id, uint64): the compiled core's search (same decisions and the same
        tolerance as search_reference, the numpy version kept as its test oracle)."""
        self._core.tol = TOL
        return self._core.search(np.ascontiguousarray(x, dtype=np.float32), np.asarray(mask_id, dtype=np.uint64),
                                 self.threads)

    def search_reference(self, x: np.ndarray, m: np.ndarray, mask_id: np.ndarray, chunk: int = 8192, rate=None):
        """The numpy search: (indices, ambiguous) for fractions x, mask m and an integer id per distinct mask.

        rate = (bits (n_contexts, K), context per row (B,), mu) adds mu * bits[context, code] to the objective
        (pixel_vq format 2's rate-aware choice; its decisions are not the encoder graph's)."""
        n = len(x)
        out = np.zeros(n, dtype=np.int64)
        amb = np.zeros(n, dtype=bool)
        if n == 0:
            return out, amb
        umask, first, inv = np.unique(mask_id, return_index=True, return_inverse=True)
        mu = m[first].astype(np.float64)  # (U, D)
        ta = mu @ self.c2T  # masked squared norms of the codes
        ta32 = ta.astype(np.float32)
        # per (mask, code): clipped total, clipped centroid numerators (row, col), clipped squared norm
        tab = np.stack([mu @ self.pT, mu @ self.prT, mu @ self.pcT, mu @ self.p2T], axis=2).reshape(-1, 4)  # (U*K, 4)
        nm = mu.sum(1)
        uni = np.stack([(mu @ self.pos_r) / nm, (mu @ self.pos_c) / nm, 1.0 / nm], axis=1)  # uniform fractions
        # float32 screening of the k nearest codes is exact unless the k-th and (k+1)-th float32 distances are
        # closer than twice the float32 error bound; such rows are searched again in float64
        tol32 = 1e-5 * (float(np.abs(ta).max(initial=0.0)) + 2.0 * float(np.abs(self.cb).max()) + 1.0)
        def one(s):
            xs32 = x[s:s + chunk]
            iv = inv[s:s + chunk]
            d = xs32 @ self.cbT32
            d *= np.float32(-2.0)
            d += ta32[iv]
            cand, dk = self._topk(d)
            redo = (dk[:, -1] - dk[:, -2]) < tol32 if dk.shape[1] > self.k else np.zeros(len(d), dtype=bool)
            cand = cand[:, :self.k]
            xs = xs32.astype(np.float64)
            amb_s = np.zeros(len(xs), dtype=bool)
            if redo.any():
                r = np.flatnonzero(redo)
                d64 = xs[r] @ self.cbT
                d64 *= -2.0
                d64 += ta[iv[r]]
                c64, dk64 = self._topk(d64)
                cand[r] = c64[:, :self.k]
                if dk64.shape[1] > self.k:
                    amb_s[r] = (dk64[:, -1] - dk64[:, -2]) < TOL
            bias = None if rate is None else rate[2] * rate[0][np.asarray(rate[1])[s:s + chunk, None], cand]
            out[s:s + chunk], amb_s2 = self._choose(xs, iv, cand, tab, len(self.cb), uni, bias)
            amb[s:s + chunk] = amb_s | amb_s2

        starts = range(0, n, chunk)
        if self.threads > 1 and len(starts) > 1:
            # numpy releases the GIL in these kernels: chunks run in parallel (as onnxruntime's intra-op threads)
            from concurrent.futures import ThreadPoolExecutor

            with ThreadPoolExecutor(min(self.threads, len(starts))) as pool:
                list(pool.map(one, starts))
        else:
            for s in starts:
                one(s)
        return out, amb

    def _topk(self, d):
        """(the k+1 nearest codes ascending, lowest index first on ties -- as TopK -- and their distances); d is
        overwritten."""
        return self._topk_flat(d, min(self.k + 1, d.shape[1]))

    @staticmethod
    def _topk_flat(d, kk):
        """kk vectorised argmin passes (beats argpartition for kk ~ 9 of 256); d is overwritten."""
        r0 = np.arange(len(d))
        cand = np.empty((len(d), kk), dtype=np.int64)
        dk = np.empty((len(d), kk), dtype=d.dtype)
        for i in range(kk):
            jj = d.argmin(1)
            cand[:, i] = jj
            dk[:, i] = d[r0, jj]
            d[r0, jj] = np.inf
        return cand, dk

    def _choose(self, xs, iv, cand, tab, ncode, uni, bias=None):
        """(chosen code, ambiguous) among the candidates: the centroid-aware objective of the encoder graph."""
        r0 = np.arange(len(xs))
        t = np.take(tab, iv[:, None] * ncode + cand, axis=0)  # (B, k, 4) from the (U * K, 4) table
        tot = t[..., 0]
        valid = tot > TOT_EPS
        amb = (np.abs(tot - TOT_EPS) < TOL).any(1)
        tots = np.where(valid, tot, 1.0)
        # f . x over the mask = (clip(cb) . x) / tot (x is zero outside the mask)
        fx_num = np.einsum("bd,bkd->bk", xs, self.p[cand], optimize=False)
        u = uni[iv]
        fr = np.where(valid, t[..., 1] / tots, u[:, 0:1])
        fc = np.where(valid, t[..., 2] / tots, u[:, 1:2])
        ff = np.where(valid, t[..., 3] / (tots * tots), u[:, 2:3])
        fx = np.where(valid, fx_num / tots, (xs.sum(1) * u[:, 2])[:, None])
        xr = (xs @ self.pos_r)[:, None]
        xc = (xs @ self.pos_c)[:, None]
        xx = np.einsum("bd,bd->b", xs, xs)[:, None]
        er, ec = fr - xr, fc - xc
        obj = er * er + ec * ec + self.lam * (ff - 2.0 * fx + xx)
        if bias is not None:
            obj = obj + bias
        j = obj.argmin(1)
        if cand.shape[1] > 1:
            best = obj[r0, j]
            obj[r0, j] = np.inf
            amb |= (obj.min(1) - best) < TOL
        return cand[r0, j], amb


def from_onnx(encoder_bytes: bytes, props: dict, cols: int) -> FastVQSearch | None:
    """The fast search for a one-stage ``vq`` encoder graph, None for any other model."""
    try:
        if props.get("kind") != "vq" or int(props.get("stages", 0)) != 1:
            return None
        cb = onnx_initializer(encoder_bytes, "book0")
        if cb is None or cb.ndim != 2 or int(props.get("codebook_size", -1)) != cb.shape[0]:
            return None
        return FastVQSearch(cb, int(props.get("centroid_topk", 1)), float(props.get("centroid_lambda", 0.3)), cols)
    except (ValueError, IndexError, KeyError, TypeError):
        return None
