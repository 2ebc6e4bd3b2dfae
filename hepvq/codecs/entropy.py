"""Entropy coding of integer symbol streams: the rANS coder of the compiled core (core/src/rans.cpp).

The foundation of pixel_vq format 2 (issue 14); no codec uses it yet.

    tables = fit_tables(train_symbols, train_contexts, alphabet=16, n_contexts=4)
    blob = encode(symbols, contexts, tables)          # bytes, one blob per event and stream
    symbols = decode(blob, len(symbols), contexts, tables)
    meta = tables.to_bytes(); tables = Tables.from_bytes(meta)   # for model / file metadata
    data, byte_counts = encode_events(symbols, contexts, counts, tables, threads=2)   # one blob per event

Tables are static frequencies (one table per context id), normalised to 2^scale_bits with every entry >= 1;
symbols >= `direct` are coded as an escape entry plus raw bits, so any symbol of the alphabet is codable even
if training never saw it. With adapt_period > 0 each context's table is rebuilt within the stream every
adapt_period symbols of that context from (adapt_strength * p_static + counts so far). Decoding a truncated or
corrupt blob raises hepvq.errors.DataError (the blob ends with a state check and must be consumed exactly)."""
from __future__ import annotations

import numpy as np

import hepvq_core

Tables = hepvq_core.RansTables

__all__ = ["Tables", "fit_tables", "encode", "decode", "encode_events", "decode_events", "code_length_bits",
           "ideal_bits"]


def _narrow_unsigned(a: np.ndarray) -> bool:
    """uint8-32 (the encoders' own streams): never negative and already uint32-sized, so no int64 copy is needed"""
    return a.dtype.kind == "u" and a.dtype.itemsize <= 4


def _below(a: np.ndarray, limit: int | None, message) -> np.ndarray:
    """a narrow unsigned array as uint32 (no copy when it is one), after checking its maximum against limit"""
    if limit is not None and a.size and int(a.max()) >= limit:
        raise ValueError(message(int(a.max())))
    return a.astype(np.uint32, copy=False)


def _symbols(symbols, alphabet: int | None, what: str) -> np.ndarray:
    a = np.asarray(symbols)
    if a.ndim != 1:
        raise ValueError(f"{what}: symbols must be a 1-D array, got shape {a.shape}")
    if a.size and not np.issubdtype(a.dtype, np.integer):
        raise ValueError(f"{what}: symbols must be integers, got {a.dtype}")
    if _narrow_unsigned(a):
        return _below(a, alphabet, lambda top: f"{what}: symbol {top} outside the alphabet [0, {alphabet})")
    a = a.astype(np.int64, copy=False)
    if a.size:
        lo, hi = int(a.min()), int(a.max())
        if lo < 0:
            raise ValueError(f"{what}: negative symbol {lo}")
        if alphabet is not None and hi >= alphabet:
            raise ValueError(f"{what}: symbol {hi} outside the alphabet [0, {alphabet})")
        if hi >= 1 << 31:
            raise ValueError(f"{what}: symbol {hi} beyond 2^31")
    return a.astype(np.uint32)


def _contexts(contexts, n: int, n_contexts: int, what: str):
    if contexts is None:
        return None
    c = np.asarray(contexts)
    if c.ndim == 0:
        c = np.full(n, int(c), np.int64)
    if c.shape != (n,):
        raise ValueError(f"{what}: {c.size} contexts for {n} symbols")
    if c.size and not np.issubdtype(c.dtype, np.integer):
        raise ValueError(f"{what}: contexts must be integers, got {c.dtype}")
    if _narrow_unsigned(c):
        return _below(c, n_contexts, lambda top: f"{what}: context {top} outside [0, {n_contexts})")
    c = c.astype(np.int64, copy=False)
    if c.size and (int(c.min()) < 0 or int(c.max()) >= n_contexts):
        bad = int(c.min()) if int(c.min()) < 0 else int(c.max())
        raise ValueError(f"{what}: context {bad} outside [0, {n_contexts})")
    return c.astype(np.uint32)


def fit_tables(symbols, contexts=None, alphabet: int | None = None, n_contexts: int | None = None, *,
               direct: int = 0, scale_bits: int = 0, adapt_period: int = 0, adapt_strength: int = 0) -> Tables:
    """Frequency tables fitted to training symbols (and their context ids, default one context).

    alphabet: symbols are in [0, alphabet) (default: max symbol + 1); n_contexts: default max context + 1.
    direct: symbols below it get their own entry, the others are escapes (0: min(alphabet, max trained
    symbol + 1, 65536)). scale_bits: frequency total 2^scale_bits (0: automatic, 15..24).
    adapt_period / adapt_strength: adaptation within a stream (0: static tables)."""
    s = _symbols(symbols, alphabet, "fit_tables")
    if alphabet is None:
        alphabet = int(s.max()) + 1 if s.size else 1
    if not 1 <= int(alphabet) <= 1 << 31:
        raise ValueError(f"fit_tables: alphabet {alphabet} not in [1, 2^31]")
    if n_contexts is None:
        n_contexts = int(np.max(contexts)) + 1 if contexts is not None and np.size(contexts) else 1
    c = _contexts(contexts, s.size, int(n_contexts), "fit_tables")
    for name, v in (("direct", direct), ("scale_bits", scale_bits), ("adapt_period", adapt_period),
                    ("adapt_strength", adapt_strength)):
        if not 0 <= int(v) < 1 << 32:
            raise ValueError(f"fit_tables: {name} {v} not a 32-bit unsigned integer")
    return hepvq_core.rans_fit(s, c, int(alphabet), int(n_contexts), int(direct), int(scale_bits),
                               int(adapt_period), int(adapt_strength))


def encode(symbols, contexts, tables: Tables) -> bytes:
    """One byte blob of the symbols (contexts: None for context 0)."""
    s = _symbols(symbols, tables.alphabet, "entropy.encode")
    return hepvq_core.rans_encode(s, _contexts(contexts, s.size, tables.n_contexts, "entropy.encode"), tables)


def decode(blob, n: int, contexts, tables: Tables) -> np.ndarray:
    """The n symbols (int64) of a blob made by encode with the same contexts and tables."""
    n = int(n)
    if n < 0:
        raise ValueError(f"entropy.decode: negative symbol count {n}")
    c = _contexts(contexts, n, tables.n_contexts, "entropy.decode")
    return hepvq_core.rans_decode(bytes(blob) if not isinstance(blob, (bytes, bytearray)) else blob,
                                  n, c, tables).astype(np.int64)


def _offsets(counts, what: str) -> np.ndarray:
    c = np.asarray(counts)
    if c.ndim != 1 or (c.size and not np.issubdtype(c.dtype, np.integer)):
        raise ValueError(f"{what}: counts must be a 1-D integer array")
    c = c.astype(np.int64)
    if c.size and int(c.min()) < 0:
        raise ValueError(f"{what}: negative count {int(c.min())}")
    return np.concatenate([[0], np.cumsum(c)]).astype(np.int64)


def encode_events(symbols, contexts, counts, tables: Tables, threads: int = 1):
    """One blob per event (event e = the next counts[e] symbols), coded on `threads` threads.

    Returns (bytes as a uint8 array, byte counts per event): ak.unflatten(bytes, byte_counts) is a jagged uint8
    branch. Each event's bytes equal encode() of that event alone."""
    s = _symbols(symbols, tables.alphabet, "entropy.encode_events")
    off = _offsets(counts, "entropy.encode_events")
    if off[-1] != s.size:
        raise ValueError(f"entropy.encode_events: counts sum to {off[-1]} for {s.size} symbols")
    c = _contexts(contexts, s.size, tables.n_contexts, "entropy.encode_events")
    data, boff = hepvq_core.rans_encode_events(s, c, off, tables, int(threads))
    return data, np.diff(boff)


def decode_events(data, byte_counts, counts, contexts, tables: Tables, threads: int = 1) -> np.ndarray:
    """Inverse of encode_events: the flat int64 symbols of all events."""
    boff = _offsets(byte_counts, "entropy.decode_events")
    off = _offsets(counts, "entropy.decode_events")
    if boff.size != off.size:
        raise ValueError(f"entropy.decode_events: {boff.size - 1} byte counts for {off.size - 1} events")
    d = np.frombuffer(data, np.uint8) if isinstance(data, (bytes, bytearray)) else np.asarray(data, np.uint8)
    if boff[-1] != d.size:
        raise ValueError(f"entropy.decode_events: byte counts sum to {boff[-1]} for {d.size} bytes")
    c = _contexts(contexts, int(off[-1]), tables.n_contexts, "entropy.decode_events")
    return hepvq_core.rans_decode_events(d, boff, off, c, tables, int(threads)).astype(np.int64)


def code_length_bits(symbols, contexts, tables: Tables) -> float:
    """Ideal code length (bits) of the symbols under the coder's model (static or adaptive), escapes included."""
    s = _symbols(symbols, tables.alphabet, "code_length_bits")
    return float(hepvq_core.rans_code_length(s, _contexts(contexts, s.size, tables.n_contexts,
                                                          "code_length_bits"), tables))


def ideal_bits(symbols, contexts=None) -> float:
    """Empirical (plug-in) conditional entropy in bits of the symbols given the contexts: the order-0 ideal
    when contexts is None. A code length no static table fitted elsewhere can beat on these symbols."""
    s = np.asarray(symbols, np.int64)
    if s.size == 0:
        return 0.0
    c = np.zeros(s.size, np.int64) if contexts is None else np.asarray(contexts, np.int64)
    _, pair_counts = np.unique(np.stack([c, s]), axis=1, return_counts=True)
    _, ctx_counts = np.unique(c, return_counts=True)
    return float(-(pair_counts * np.log2(pair_counts)).sum() + (ctx_counts * np.log2(ctx_counts)).sum())
