"""Metrics shared by the detector-specific ones in hepvq.pixel.metrics and hepvq.tpc.metrics."""
from hepvq.metrics.size import products_zstd_bytes

__all__ = ["products_zstd_bytes"]
