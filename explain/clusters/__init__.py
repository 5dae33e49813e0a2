"""Time-localized clusters of the network's token representations, per lead or per timestamp.

Token vectors of chosen blocks are collected over many records (forward hooks, bounded memory),
clustered softly (diagonal Gaussian mixture or soft k-means), and every record is segmented into a
sequence of clusters with the assignment entropy as its uncertainty.

* :class:`SignalSet` - records of a manifest split or a list, preprocessed for the network.
* :func:`fit_clusters` (or :func:`collect_vectors` + :func:`fit_sample`), :func:`sweep_k` - fitting.
* :class:`ClusterModel` - the fitted clustering; ``save`` / ``load`` as plain arrays + JSON, bound
  to the network's weights (:func:`model_digest`).
* :func:`record_clusters` - one record's cluster and entropy frames and proportions;
  :func:`summarise_signals` - proportions, entropy and network outputs of many records.
* :func:`surrogate` - a random forest on proportions against the network;
  :func:`class_table` - proportions and entropy per class.
* :func:`composition`, :func:`landmark_nmi`, :func:`landmark_names` - alignment with known waves.
* :func:`plot_clusters`, :func:`plot_class_table`, :func:`plot_sweep` - figures.
"""

from explain.clusters.assign import (
    POOLED_COLUMN,
    ClusterSummary,
    RecordClusters,
    record_clusters,
    summarise_signals,
)
from explain.clusters.figures import cluster_colours, plot_class_table, plot_clusters, plot_sweep
from explain.clusters.fit import (
    DEFAULT_MAX_VECTORS,
    Reservoir,
    TokenSample,
    best_k,
    collect_vectors,
    fit_clusters,
    fit_sample,
    sweep_k,
)
from explain.clusters.landmarks import (
    LANDMARKS,
    composition,
    landmark_labels,
    landmark_names,
    landmark_nmi,
    landmark_table,
)
from explain.clusters.model import ClusterFileError, ClusterModel, model_digest
from explain.clusters.per_class import class_table
from explain.clusters.signals import Signal, SignalSet
from explain.clusters.surrogate import SurrogateResult, surrogate
from explain.clusters.tokens import VIEWS, block_geometries, resolve_blocks, token_batch

__all__ = [
    "DEFAULT_MAX_VECTORS",
    "LANDMARKS",
    "POOLED_COLUMN",
    "VIEWS",
    "ClusterFileError",
    "ClusterModel",
    "ClusterSummary",
    "RecordClusters",
    "Reservoir",
    "Signal",
    "SignalSet",
    "SurrogateResult",
    "TokenSample",
    "best_k",
    "block_geometries",
    "class_table",
    "cluster_colours",
    "collect_vectors",
    "composition",
    "fit_clusters",
    "fit_sample",
    "landmark_labels",
    "landmark_names",
    "landmark_nmi",
    "landmark_table",
    "model_digest",
    "plot_class_table",
    "plot_clusters",
    "plot_sweep",
    "record_clusters",
    "resolve_blocks",
    "summarise_signals",
    "surrogate",
    "sweep_k",
    "token_batch",
]
