"""Pixel clustering for the simulator validation: the clusterer lives in hepvq.metrics.clusters (one home for
measurement); this module keeps the historical import path."""
from hepvq.metrics.clusters import (  # noqa: F401
    cluster_centroid, cluster_charge, cluster_events, cluster_size, cluster_table, find_clusters,
    find_clusters_events, match_points, module_key,
)

__all__ = ["cluster_centroid", "cluster_charge", "cluster_events", "cluster_size", "cluster_table", "find_clusters",
           "find_clusters_events", "match_points", "module_key"]
