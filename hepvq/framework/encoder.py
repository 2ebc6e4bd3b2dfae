"""CodecEncoder: the one base of the encoder modules (pixel_vq, pixel_sparse, tpc_inr, a plugin's codec).

What every encoder module does is here, once: build the codec in beginJob (``make_codec``), store its
``metadata()`` blobs under ``"<label>/<key>"`` and declare it (``context.declare_codec``) so that the output
is decodable; per chunk read ``src``, call ``codec.encode(hits, first_entry=...)`` (an EncodeResult: products
and the call's report), put the products with their per-event checksum (hepvq.codecs.guard), time the call and
sum the report's numbers; with ``validate`` add the zstd size estimates of input (compressed in a background
thread while the job writes the chunk and reads the next: zstandard releases the GIL) and products; at the end put
``summary(totals)`` in the TimeReport.  A subclass declares its parameters (fillDescriptions) and says only
what differs: how its codec is built, and optionally encode options, extra (debug) products, per-chunk
scoring and its report lines.  Nothing of one call is kept on the codec: it comes back in the EncodeResult."""
from __future__ import annotations

import time
from abc import abstractmethod
from concurrent.futures import ThreadPoolExecutor

from hepvq.framework.module import EDProducer


class CodecEncoder(EDProducer):
    """Base of the encoder modules (not a module itself): subclasses implement make_codec and summary."""

    #: zstd level of the bits-per-hit estimates of validate (products_zstd_bytes)
    estimate_level = 1

    # ---- what a subclass says ---------------------------------------------------------------------------
    @abstractmethod
    def make_codec(self):
        """The codec of this job (a hepvq.codecs.Codec), built from self.params and self.context."""

    def encode_options(self) -> dict:
        """Keyword arguments of codec.encode besides first_entry (e.g. pixel_vq's validate)."""
        return {}

    def extra_products(self, result) -> dict:
        """{instance: array} written beside the codec's products (covered by the checksum, not decoded)."""
        return {}

    def products_bytes(self, products: dict) -> int:
        """Size estimate of one chunk's products (validate): their zstd size unless the codec knows better."""
        from hepvq.metrics import products_zstd_bytes

        return products_zstd_bytes(products, self.estimate_level)

    def score(self, hits, result) -> None:
        """With validate: accumulate fidelity figures of one chunk (the subclass's own sums)."""

    @abstractmethod
    def summary(self, totals: dict) -> dict:
        """End-of-job report lines from totals: the report numbers summed over chunks, plus encode_s (seconds
        in codec.encode) and, with validate, bytes_in / bytes_out (zstd estimates)."""

    # ---- the common part ----------------------------------------------------------------------------------
    @property
    def validating(self) -> bool:
        return bool(getattr(self.params, "validate", False))

    def beginJob(self):  # noqa: N802
        self.codec = self.make_codec()
        batch = self.context.run_options.batch_size  # process.options.batchSize: every codec's onnxruntime runs
        if batch is not None and hasattr(self.codec, "batch_size"):
            self.codec.batch_size = batch
        for key, blob in self.codec.metadata().items():
            self.context.add_metadata(f"{self.label}/{key}", blob)
        self.context.declare_codec(self.label, self.codec.name, self.codec.collection)
        self.totals: dict = {"encode_s": 0.0, "bytes_in": 0, "bytes_out": 0}
        # validate: a chunk's input size estimate runs while the job writes the chunk and reads the next one
        # (single-threaded work), joined before the next encode, whose compiled loops want both cores
        self.estimator = ThreadPoolExecutor(1, thread_name_prefix=f"{self.label}-estimate") if self.validating else None
        self.input_estimate = None  # the pending estimate (a Future)

    def produce(self, chunk):
        from hepvq.codecs.guard import with_checksum

        hits = chunk.get(self.params.src)
        self.add_input_estimate()
        t0 = time.perf_counter()
        result = self.codec.encode(hits, first_entry=chunk.entry_start, **self.encode_options())
        self.totals["encode_s"] += time.perf_counter() - t0
        written = {**result.products, **self.extra_products(result)}
        for instance, arr in with_checksum(written).items():  # + per-event CRC-32 that decoding verifies
            chunk.put(arr, instance)
        for key, value in result.report.items():  # numbers add up over chunks; the rest is score()'s
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                self.totals[key] = self.totals.get(key, 0) + value
        if self.validating:
            self.totals["bytes_out"] += self.products_bytes(result.products)
            self.score(hits, result)
            self.input_estimate = self.estimator.submit(self.input_bytes, hits)

    def input_bytes(self, hits) -> int:
        """Size estimate of one chunk's input collection (validate): zstd as ROOT stores its columns."""
        from hepvq.metrics import products_zstd_bytes

        return products_zstd_bytes({"": hits}, self.estimate_level)

    def add_input_estimate(self) -> None:
        """Add the pending input size estimate (the previous chunk's) to the totals."""
        if self.input_estimate is not None:
            self.totals["bytes_in"] += self.input_estimate.result()
            self.input_estimate = None

    def endJob(self):  # noqa: N802
        if self.estimator is not None:
            self.add_input_estimate()
            self.estimator.shutdown()
        self.context.report(self.label, self.summary(self.totals))


__all__ = ["CodecEncoder"]
