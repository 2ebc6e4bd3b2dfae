"""The core's rANS entropy coder (hepvq.codecs.entropy): round trips on random and adversarial streams, refusal of
truncated and corrupt blobs, code length against the ideal under the same tables, determinism, and the byte
format against an independent pure-Python rANS encoder."""
import struct

import numpy as np
import pytest

from hepvq.codecs import entropy
from hepvq.errors import DataError

L = 1 << 31


def _ideal_bits_under(tables, symbols, contexts=None) -> float:
    """Code length of static tables computed here from tables.freqs (not by the core)."""
    s = np.asarray(symbols, np.int64)
    c = np.zeros(s.size, np.int64) if contexts is None else np.asarray(contexts, np.int64)
    e = np.minimum(s, tables.direct)
    f = tables.freqs[c, e].astype(np.float64)
    bits = np.sum(tables.scale_bits - np.log2(f))
    return float(bits + tables.escape_bits * np.count_nonzero(s >= tables.direct))


def _round_trip(symbols, contexts, tables):
    blob = entropy.encode(symbols, contexts, tables)
    back = entropy.decode(blob, len(symbols), contexts, tables)
    assert back.dtype == np.int64
    np.testing.assert_array_equal(back, np.asarray(symbols, np.int64))
    return blob


@pytest.mark.parametrize("adapt", [0, 64])
def test_random_streams_round_trip(adapt):
    rng = np.random.default_rng(1)
    for alphabet, n_ctx, n in [(2, 1, 1000), (16, 4, 20000), (300, 7, 5000), (5000, 3, 3000)]:
        train = rng.zipf(1.3, 4 * n) % alphabet
        tctx = rng.integers(0, n_ctx, train.size)
        t = entropy.fit_tables(train, tctx, alphabet=alphabet, n_contexts=n_ctx, adapt_period=adapt,
                               adapt_strength=256)
        s = rng.zipf(1.3, n) % alphabet
        _round_trip(s, rng.integers(0, n_ctx, n), t)
        _round_trip(rng.integers(0, alphabet, n), rng.integers(0, n_ctx, n), t)  # not what was fitted


def test_empty_stream():
    t = entropy.fit_tables(np.array([0, 1, 1, 2]), alphabet=3)
    assert entropy.encode(np.array([], np.int64), None, t) == b""
    assert entropy.decode(b"", 0, None, t).size == 0
    with pytest.raises(DataError, match="empty stream"):
        entropy.decode(b"\0" * 8, 0, None, t)
    with pytest.raises(DataError, match="truncated"):
        entropy.decode(b"", 5, None, t)
    # tables fitted on nothing still code every symbol
    t0 = entropy.fit_tables(np.array([], np.int64), alphabet=1000)
    _round_trip(np.array([0, 999, 500]), None, t0)


def test_one_symbol_and_repeated_symbol():
    t = entropy.fit_tables(np.array([3, 3, 3, 1]), alphabet=10)
    for s in range(10):
        _round_trip(np.array([s]), None, t)
    # a single repeated symbol under a table that expects it costs almost nothing
    t1 = entropy.fit_tables(np.full(1000, 7), alphabet=8, scale_bits=20)
    blob = _round_trip(np.full(200_000, 7), None, t1)
    assert len(blob) <= 8 + 4 * 2, len(blob)


def test_alphabet_of_size_one():
    t = entropy.fit_tables(np.zeros(5, np.int64), alphabet=1)
    assert t.entries == 1 and t.escape_bits == 0
    blob = _round_trip(np.zeros(100_000, np.int64), None, t)
    assert len(blob) == 8  # zero bits of information: only the state
    with pytest.raises(ValueError, match="outside the alphabet"):
        entropy.encode(np.array([1]), None, t)


def test_alphabet_65536_all_direct():
    rng = np.random.default_rng(2)
    train = np.concatenate([np.arange(65536), rng.integers(0, 100, 50000)])
    t = entropy.fit_tables(train, alphabet=65536)
    assert t.direct == 65536 and t.entries == 65536 and t.escape_bits == 0
    s = np.concatenate([[0, 65535], rng.integers(0, 65536, 3000), rng.integers(0, 100, 3000)])
    blob = _round_trip(s, None, t)
    assert len(blob) * 8 <= _ideal_bits_under(t, s) * 1.01 + 64
    restored = entropy.Tables.from_bytes(t.to_bytes())
    assert entropy.encode(s, None, restored) == blob


def test_all_escapes_and_maximal_values():
    alphabet = 1 << 31
    t = entropy.fit_tables(np.array([0, 1, 2, 3, 3, 3]), alphabet=alphabet)
    assert t.direct == 4 and t.escape_bits == 31
    rng = np.random.default_rng(3)
    s = np.concatenate([[alphabet - 1, 4, alphabet - 1], rng.integers(4, alphabet, 2000)])  # every one escapes
    blob = _round_trip(s, None, t)
    assert abs(len(blob) * 8 - _ideal_bits_under(t, s)) <= 0.01 * _ideal_bits_under(t, s) + 96
    # small alphabet, value right at the top, direct chosen below it
    t2 = entropy.fit_tables(np.array([0, 0, 1]), alphabet=70000, direct=2)
    _round_trip(np.array([69999, 2, 69998, 0, 1]), None, t2)
    with pytest.raises(ValueError, match="negative"):
        entropy.encode(np.array([-1]), None, t2)


def test_many_contexts_and_skewed_tables():
    rng = np.random.default_rng(4)
    n_ctx = 2000
    ctx = rng.integers(0, n_ctx, 100_000)
    s = (ctx * 7 + rng.integers(0, 3, ctx.size)) % 64  # strongly context-dependent
    t = entropy.fit_tables(s, ctx, alphabet=64, n_contexts=n_ctx)
    blob = _round_trip(s, ctx, t)
    assert len(blob) * 8 < 0.5 * entropy.ideal_bits(s)  # contexts pay: far below the order-0 entropy
    # very skewed: p(0) = 0.9999
    skew = (rng.random(300_000) < 1e-4).astype(np.int64) * rng.integers(1, 50, 300_000)
    ts = entropy.fit_tables(skew, alphabet=50, scale_bits=24)
    blob = _round_trip(skew, None, ts)
    ideal = _ideal_bits_under(ts, skew)
    assert len(blob) * 8 <= ideal * 1.01 + 64, (len(blob) * 8, ideal)
    with pytest.raises(ValueError, match="context 2000 outside"):
        entropy.encode(s[:3], np.array([0, 1, n_ctx]), t)


@pytest.mark.parametrize("adapt", [0, 128])
def test_code_length_close_to_ideal(adapt):
    rng = np.random.default_rng(5)
    p = np.array([0.5, 0.2, 0.1, 0.08, 0.05, 0.03, 0.02, 0.01, 0.005, 0.005])
    ctx = rng.integers(0, 3, 200_000)
    s = np.where(ctx == 0, rng.choice(10, ctx.size, p=p), rng.choice(10, ctx.size, p=p[::-1]))
    t = entropy.fit_tables(s[:100_000], ctx[:100_000], alphabet=10, n_contexts=3, adapt_period=adapt,
                           adapt_strength=4096)
    test_s, test_c = s[100_000:], ctx[100_000:]
    blob = _round_trip(test_s, test_c, t)
    model_bits = entropy.code_length_bits(test_s, test_c, t)
    assert len(blob) * 8 <= model_bits * 1.01 + 64
    assert len(blob) * 8 >= model_bits - 64  # no code beats its model's ideal length by more than the flush
    if not adapt:
        assert model_bits == pytest.approx(_ideal_bits_under(t, test_s, test_c), rel=1e-9)
    # and the fitted tables are close to the plug-in conditional entropy of what they were fitted on
    assert entropy.code_length_bits(s[:100_000], ctx[:100_000], t) <= \
        entropy.ideal_bits(s[:100_000], ctx[:100_000]) * 1.01 + 64


def test_adaptation_follows_a_drifting_stream():
    rng = np.random.default_rng(6)
    train = rng.integers(0, 16, 50_000)  # uniform
    drift = rng.choice(16, 50_000, p=np.r_[0.85, np.full(15, 0.01)])  # the event is very different
    static = entropy.fit_tables(train, alphabet=16)
    adaptive = entropy.fit_tables(train, alphabet=16, adapt_period=256, adapt_strength=512)
    b_static = _round_trip(drift, None, static)
    b_adapt = _round_trip(drift, None, adaptive)
    assert len(b_adapt) < 0.5 * len(b_static)


def test_truncated_blobs_refused():
    rng = np.random.default_rng(7)
    s = rng.integers(0, 40, 400)
    t = entropy.fit_tables(s, alphabet=40)
    blob = entropy.encode(s, None, t)
    for cut in range(len(blob)):
        with pytest.raises(DataError, match="rans decode: (truncated|corrupt)"):
            entropy.decode(blob[:cut], s.size, None, t)
    with pytest.raises(DataError, match="corrupt"):
        entropy.decode(blob + b"\0\0\0\0", s.size, None, t)
    with pytest.raises(DataError):  # fewer symbols asked than coded: bytes left over
        entropy.decode(blob, s.size - 1, None, t)


def test_corrupt_blobs_refused():
    rng = np.random.default_rng(8)
    s = rng.integers(0, 40, 400)
    ctx = rng.integers(0, 2, s.size)
    t = entropy.fit_tables(s, ctx, alphabet=40, n_contexts=2)
    blob = entropy.encode(s, ctx, t)
    for pos in range(len(blob)):
        for bit in (0, 5):
            bad = bytearray(blob)
            bad[pos] ^= 1 << bit
            with pytest.raises(DataError, match="rans decode: (truncated|corrupt)"):
                entropy.decode(bytes(bad), s.size, ctx, t)
    with pytest.raises(DataError):  # decoding with other contexts than encoded
        entropy.decode(blob, s.size, 1 - ctx, t)


def test_deterministic_bytes_and_tables():
    rng = np.random.default_rng(9)
    s = rng.integers(0, 1000, 10_000)
    t1 = entropy.fit_tables(s, alphabet=1 << 16)
    t2 = entropy.fit_tables(s.copy(), alphabet=1 << 16)
    assert t1.to_bytes() == t2.to_bytes()
    assert entropy.encode(s, None, t1) == entropy.encode(s, None, t1) == entropy.encode(s, None, t2)
    r = entropy.Tables.from_bytes(t1.to_bytes())
    assert r.to_bytes() == t1.to_bytes()
    np.testing.assert_array_equal(r.freqs, t1.freqs)
    assert (r.freqs.sum(axis=1) == 1 << r.scale_bits).all() and r.freqs.min() >= 1


def test_corrupt_tables_refused():
    t = entropy.fit_tables(np.array([0, 1, 2, 2]), alphabet=3, n_contexts=2)
    raw = t.to_bytes()
    with pytest.raises(DataError, match="rans tables: truncated"):
        entropy.Tables.from_bytes(raw[:-1])
    with pytest.raises(DataError, match="magic"):
        entropy.Tables.from_bytes(b"XXXX" + raw[4:])
    with pytest.raises(DataError, match="trailing"):
        entropy.Tables.from_bytes(raw + b"\0")
    bad = bytearray(raw)
    bad[-1] += 1  # the last frequency no longer sums to 2^scale_bits
    with pytest.raises(DataError, match="do not sum"):
        entropy.Tables.from_bytes(bytes(bad))


def _reference_encode(symbols, freqs, scale_bits, direct, escape_bits) -> bytes:
    """rANS (64-bit state, 32-bit words) in plain Python integers, written from the format description."""
    cum = np.concatenate([[0], np.cumsum(freqs)])
    ops = []
    for s in symbols:
        e = min(s, direct)
        ops.append((int(cum[e]), int(freqs[e]), scale_bits))
        if e == direct:
            v, left = s - direct, escape_bits
            while left:
                b = min(left, 16)
                ops.append((v & ((1 << b) - 1), 1, b))
                v, left = v >> b, left - b
    x, words = L, []
    for start, f, sc in reversed(ops):
        if x >= ((L >> sc) << 32) * f:
            words.append(x & 0xFFFFFFFF)
            x >>= 32
        x = ((x // f) << sc) + x % f + start
    return struct.pack("<Q", x) + b"".join(struct.pack("<I", w) for w in reversed(words))


def test_bytes_match_an_independent_reference_encoder():
    # tables written by hand in the documented blob format: 'HRNS', version 1, six u32, varint frequencies
    freqs = [9000, 3000, 3000, 1000, 384]  # 4 direct symbols + escape, total 2^14
    header = b"HRNS\x01" + struct.pack("<6I", 100, 4, 14, 1, 0, 0)
    varints = b"".join(bytes([(f & 0x7F) | 0x80, f >> 7]) if f >= 0x80 else bytes([f]) for f in freqs)
    t = entropy.Tables.from_bytes(header + varints)
    assert (t.direct, t.entries, t.escape_bits) == (4, 5, 7)
    assert t.to_bytes() == header + varints
    rng = np.random.default_rng(10)
    s = np.concatenate([rng.choice(4, 3000, p=[0.55, 0.18, 0.18, 0.09]), rng.integers(4, 100, 50)])
    rng.shuffle(s)
    blob = entropy.encode(s, None, t)
    assert blob == _reference_encode([int(v) for v in s], freqs, 14, 4, 7)
    np.testing.assert_array_equal(entropy.decode(blob, s.size, None, t), s)


def test_threads_give_the_serial_bytes():
    # the bindings release the GIL: streams coded on several threads must equal the serial results
    from concurrent.futures import ThreadPoolExecutor

    rng = np.random.default_rng(11)
    t = entropy.fit_tables(rng.integers(0, 200, 20_000), alphabet=1000, adapt_period=32, adapt_strength=64)
    streams = [rng.integers(0, 1000, int(rng.integers(0, 30_000))) for _ in range(12)]
    serial = [entropy.encode(s, None, t) for s in streams]
    with ThreadPoolExecutor(4) as pool:
        threaded = list(pool.map(lambda s: entropy.encode(s, None, t), streams))
        decoded = list(pool.map(lambda sb: entropy.decode(sb[1], sb[0].size, None, t), zip(streams, serial)))
    assert threaded == serial
    for s, d in zip(streams, decoded):
        np.testing.assert_array_equal(d, s)


def test_bad_arguments_refused_in_one_line():
    t = entropy.fit_tables(np.array([0, 1, 2]), alphabet=3)
    for call, msg in [(lambda: entropy.encode(np.array([0.5]), None, t), "must be integers"),
                      (lambda: entropy.encode(np.zeros((2, 2), np.int64), None, t), "1-D"),
                      (lambda: entropy.encode(np.array([0, 1]), np.array([0]), t), "1 contexts for 2 symbols"),
                      (lambda: entropy.decode(b"", -1, None, t), "negative symbol count"),
                      (lambda: entropy.fit_tables(np.array([], np.int64), alphabet=0), "alphabet 0 not in"),
                      (lambda: entropy.fit_tables(np.array([0, 5]), alphabet=70000, direct=2, scale_bits=1),
                       "cannot hold")]:
        with pytest.raises(ValueError, match=msg) as err:
            call()
        assert "\n" not in str(err.value)


@pytest.mark.parametrize("threads", [1, 3])
def test_events_one_blob_each(threads):
    rng = np.random.default_rng(12)
    counts = np.array([0, 5, 1, 0, 20_000, 3, 7000, 0])
    s = rng.integers(0, 300, counts.sum())
    ctx = rng.integers(0, 3, s.size)
    t = entropy.fit_tables(s, ctx, alphabet=1 << 12, n_contexts=3)
    data, byte_counts = entropy.encode_events(s, ctx, counts, t, threads=threads)
    assert data.dtype == np.uint8 and byte_counts.size == counts.size
    offs, boffs = np.r_[0, np.cumsum(counts)], np.r_[0, np.cumsum(byte_counts)]
    for e in range(counts.size):  # each event's bytes are encode() of that event alone
        assert data[boffs[e]:boffs[e + 1]].tobytes() == entropy.encode(s[offs[e]:offs[e + 1]],
                                                                        ctx[offs[e]:offs[e + 1]], t)
    np.testing.assert_array_equal(entropy.decode_events(data, byte_counts, counts, ctx, t, threads=threads), s)
    bad = data.copy()
    bad[boffs[4] + 20] ^= 4
    with pytest.raises(DataError, match="event 4: rans decode"):
        entropy.decode_events(bad, byte_counts, counts, ctx, t, threads=threads)
    with pytest.raises(ValueError, match="byte counts sum to"):
        entropy.decode_events(data[:-1], byte_counts, counts, ctx, t)
