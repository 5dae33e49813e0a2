"""Cluster proportions and entropy averaged per class: how each class is carved, how stably."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from leadattn.labels import ABBREVIATIONS


def class_table(
    proportions: np.ndarray, entropy: np.ndarray, membership: np.ndarray, names: Sequence[str]
) -> pd.DataFrame:
    """One row per class: ``records`` (members), mean ``entropy`` and mean proportion of each cluster.

    ``proportions`` ``[records, K]`` (e.g. :attr:`ClusterSummary.record_proportions`), ``entropy``
    ``[records]``, ``membership`` bool ``[records, classes]`` (true labels, or the network's
    predictions). Classes without members have NaN means.
    """
    proportions = np.asarray(proportions, dtype=np.float64)
    entropy = np.asarray(entropy, dtype=np.float64)
    membership = np.asarray(membership, dtype=bool)
    n = len(entropy)
    if proportions.shape != (n, len(names)) or membership.shape != (n, len(ABBREVIATIONS)):
        raise ValueError(
            f"proportions {proportions.shape}, entropy {entropy.shape} and membership {membership.shape} "
            f"do not fit {len(names)} clusters and {len(ABBREVIATIONS)} classes"
        )
    counts = membership.sum(axis=0)
    weights = membership / np.maximum(counts, 1)
    mean_props = weights.T @ proportions
    mean_entropy = weights.T @ entropy
    table = pd.DataFrame(mean_props, index=pd.Index(ABBREVIATIONS, name="class"), columns=list(names))
    table.insert(0, "entropy", np.where(counts > 0, mean_entropy, np.nan))
    table.insert(0, "records", counts)
    table.loc[counts == 0, list(names)] = np.nan
    return table
