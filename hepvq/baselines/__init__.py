"""The peers every hepvq compressor is measured against, and the evaluation suite of ``hepvq-bench``.

- ``sparse``:   lossless sparse coordinates (sorted, delta-coded, entropy-coded) + ADC requantised to a few bits:
                ``encode_sparse`` / ``decode_sparse``, ``requantize`` / ``dequantize``;
- ``dense``:    SZ3 (pysz) and ZFP (zfpy) round trips on dense arrays, ``apply_threshold`` (re-apply zero
                suppression before scoring);
- ``lossless``: ROOT file size with uproot (ZSTD/LZMA/...), zstd / lzma sizes of raw bytes;
- ``suite``:    every method on the same samples + metrics (``hepvq-bench``); ``plots``: its figures.

``sparse`` and ``lossless`` need only numpy/awkward/uproot/zstandard; ``dense``, ``suite`` and ``plots`` need the
``bench`` extra (pysz, zfpy, scipy, matplotlib)."""
