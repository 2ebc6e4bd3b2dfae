"""The peers every hepvq compressor is measured against (the harness that measures them is hepvq.bench).

- ``sparse``:   lossless sparse coordinates (sorted, delta-coded, entropy-coded) + ADC requantised to a few bits:
                ``encode_sparse`` / ``decode_sparse``, ``requantize`` / ``dequantize``;
- ``dense``:    SZ3 (pysz) and ZFP (zfpy) round trips on dense arrays, ``apply_threshold`` (re-apply zero
                suppression before scoring);
- ``lossless``: ROOT file size with uproot (ZSTD/LZMA/...), zstd / lzma sizes of raw bytes;
- ``sparse_streams`` / ``sparse_clusters``: sparse positions and values as rANS streams (pixel_sparse, tpc_inr
                format 2).

``sparse`` and ``lossless`` need only numpy/awkward/uproot/zstandard; ``dense`` needs the ``bench`` extra
(pysz, zfpy)."""
