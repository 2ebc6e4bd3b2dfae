"""Measurement in one home: the one clusterer and point matcher (``clusters``), the cluster position estimate
(``cpe``), the one hit matcher and set of fidelity figures (``fidelity``), the byte-size estimators (``size``)
and bootstrap statistics (``stats``); used by the encoders' end-of-job reports, ``hepvq-bench``, the
simulator validation, ``hepvq-validate`` and the benchmarks."""
from hepvq.metrics.size import products_zstd_bytes

__all__ = ["products_zstd_bytes"]
