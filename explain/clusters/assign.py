"""Clusters of one record or many: sequences of cluster ids, entropy and proportions.

A record's tokens get soft assignments (:meth:`ClusterModel.responsibilities`) at their centres;
these are linearly interpolated to every sample, and each sample takes the argmax (its cluster) and
the entropy of the interpolated assignment divided by ``log K`` (0: certain, 1: uniform). So
segment boundaries fall between token centres rather than on the token grid.

Conventions of the frames (those of :mod:`explain.frames`): one row per sample of the record at its
own rate, a ``time_s`` index; per-lead frames have one column per explained lead of the record,
per-timestamp frames the single column ``"pooled"``. Cluster ids are pandas ``Int64``; samples the
network did not see (past the checkpoint's ``max_seconds``) are ``<NA>`` / NaN. A lead the record
lacks (or that is left out with ``leads``) gets no column, and NaN in the leads x K proportions.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from explain.clusters.model import ClusterModel
from explain.clusters.signals import Signal, batches
from explain.clusters.tokens import TokenBatch, token_batch
from explain.frames import TIME_INDEX, token_centres
from explain.inputs import LeadsSpec, ModelLike, prepare_input, unwrap
from leadattn.data import Record
from leadattn.leads import LEADS
from leadattn.models import TokenGeometry

POOLED_COLUMN = "pooled"


def check_clusters(clusters: ClusterModel, network, fs: float, source: str = "the cluster file") -> None:
    """Refuse a clustering fitted on another network or at another sampling rate."""
    clusters.check_network(network, source)
    if not np.isclose(clusters.fs, fs):
        raise ValueError(f"{source} was fitted at {clusters.fs:g} Hz; the network takes {fs:g} Hz")


def token_responsibilities(clusters: ClusterModel, batch: TokenBatch) -> np.ndarray:
    """Soft assignments per batch item, row and token: ``[B, rows, N, K]``.

    Rows are the 12 leads (absent leads NaN) for the ``"lead"`` view, one pooled row otherwise.
    """
    features, mask = batch.features, batch.mask
    b, leads, n, width = features.shape
    if clusters.view == "lead":
        out = np.full((b, leads, n, clusters.k), np.nan)
        slots = np.repeat(np.nonzero(mask)[1], n)
        resp = clusters.responsibilities(features[mask].reshape(-1, width), slots)
        out[mask] = resp.reshape(-1, n, clusters.k)
        return out
    pooled = np.stack([f[m].mean(axis=0) for f, m in zip(features, mask)])  # [B, N, F]
    return clusters.responsibilities(pooled.reshape(-1, width)).reshape(b, 1, n, clusters.k)


def at_samples(resp: np.ndarray, geometry: TokenGeometry, positions: np.ndarray) -> tuple[np.ndarray, ...]:
    """Interpolate token assignments ``[rows, N, K]`` to ``positions`` (in model samples).

    Returns cluster ids ``[rows, P]`` (-1 in NaN rows) and normalised entropy ``[rows, P]``.
    """
    rows, n, k = resp.shape
    centres = token_centres(geometry.stride, geometry.receptive_field, geometry.offset, n)
    step = (positions - centres[0]) / geometry.stride
    low = np.clip(np.floor(step).astype(np.int64), 0, n - 1)
    high = np.minimum(low + 1, n - 1)
    weight = np.clip(step - low, 0.0, 1.0)[None, :, None]
    mixed = (1 - weight) * resp[:, low] + weight * resp[:, high]  # [rows, P, K]
    present = ~np.isnan(mixed[..., 0])
    safe = np.where(present[..., None], mixed, 1.0 / k)
    ids = np.where(present, safe.argmax(axis=-1), -1)
    plogp = np.where(safe > 0, safe * np.log(np.where(safe > 0, safe, 1.0)), 0.0)
    entropy = np.where(present, -plogp.sum(axis=-1) / np.log(k), np.nan)
    return ids, entropy


def proportions_of(ids: np.ndarray, k: int) -> np.ndarray:
    """Share of each cluster among the samples of each row of ``ids`` ``[rows, P]``: ``[rows, K]``
    (NaN for rows without assigned samples)."""
    counts = np.stack([np.bincount(row[row >= 0], minlength=k) for row in ids]).astype(np.float64)
    totals = counts.sum(axis=1, keepdims=True)
    return np.divide(counts, totals, out=np.full_like(counts, np.nan), where=totals > 0)


@dataclass
class RecordClusters:
    """Clusters of one record (see the module docstring for the frames' conventions).

    Attributes:
        ids: Cluster id per sample, ``Int64`` frame.
        entropy: Normalised assignment entropy per sample, float frame.
        proportions: Share of each cluster per lead (rows :data:`LEADS` or ``"pooled"``, columns the
            cluster names); NaN rows for leads that were not explained.
        names: Cluster names, in id order.
        probabilities: The network's class probabilities on the explained input ``[classes]``.
    """

    ids: pd.DataFrame
    entropy: pd.DataFrame
    proportions: pd.DataFrame
    names: list[str]
    probabilities: np.ndarray


def record_clusters(
    model: ModelLike, clusters: ClusterModel, record: Record | str | Path, leads: LeadsSpec = None
) -> RecordClusters:
    """Clusters and entropy of ``record`` under ``clusters`` (fitted on this ``model``)."""
    network, config = unwrap(model)
    check_clusters(clusters, network, config.fs)
    inp = prepare_input(record, config, leads)
    batch = token_batch(network, inp.x[None], inp.mask[None], clusters.blocks)
    resp = token_responsibilities(clusters, batch)[0]
    record = inp.record
    positions = np.arange(inp.covered) * (inp.fs / record.fs)
    ids, entropy = at_samples(resp, batch.geometry, positions)
    rows = inp.rows if clusters.view == "lead" else [0]
    columns = list(inp.leads) if clusters.view == "lead" else [POOLED_COLUMN]
    samples = record.signal.shape[1]
    full_ids = np.full((len(rows), samples), -1)
    full_ids[:, : inp.covered] = ids[rows]
    full_entropy = np.full((len(rows), samples), np.nan)
    full_entropy[:, : inp.covered] = entropy[rows]
    index = pd.Index(np.arange(samples) / float(record.fs), name=TIME_INDEX)
    id_frame = pd.DataFrame(full_ids.T, index=index, columns=columns).astype("Int64")
    id_frame = id_frame.mask(id_frame < 0)
    entropy_frame = pd.DataFrame(full_entropy.T, index=index, columns=columns)
    attrs = {
        "record": record.name,
        "fs": float(record.fs),
        "leads": list(inp.leads),
        "view": clusters.view,
        "blocks": list(clusters.blocks),
        "clusters": list(clusters.names),
    }
    id_frame.attrs.update(attrs, method="clusters")
    entropy_frame.attrs.update(attrs, method="cluster entropy")
    shares = proportions_of(ids, clusters.k)
    row_names = list(LEADS) if clusters.view == "lead" else [POOLED_COLUMN]
    proportions = pd.DataFrame(shares, index=pd.Index(row_names, name="lead"), columns=clusters.names)
    probabilities = 1.0 / (1.0 + np.exp(-batch.logits[0].astype(np.float64)))
    return RecordClusters(id_frame, entropy_frame, proportions, list(clusters.names), probabilities)


@dataclass
class ClusterSummary:
    """Clusters of many records, for surrogates and per-class tables.

    Attributes:
        names: Record names, in order.
        proportions: ``[records, rows, K]``: share of each cluster per lead (``"lead"`` view, NaN for
            absent leads) or for the pooled row (``"timestamp"`` view, one row).
        entropy: Mean normalised entropy per record ``[records]`` (over present rows and samples).
        probabilities: The network's class probabilities ``[records, classes]``.
        labels: True labels ``[records, classes]`` (bool).
        skipped: Records that could not be read.
    """

    names: list[str]
    proportions: np.ndarray
    entropy: np.ndarray
    probabilities: np.ndarray
    labels: np.ndarray
    skipped: list[dict[str, str]]

    @property
    def record_proportions(self) -> np.ndarray:
        """``[records, K]``: the per-row proportions averaged over present rows."""
        return np.nanmean(self.proportions, axis=1)

    def features(self) -> np.ndarray:
        """Proportions flattened per record ``[records, rows * K]``, absent leads as -1 (for forests)."""
        flat = self.proportions.reshape(len(self.names), -1)
        return np.where(np.isnan(flat), -1.0, flat)


def summarise_signals(
    model: ModelLike,
    clusters: ClusterModel,
    signals: Iterable[Signal],
    batch_size: int = 32,
    progress: bool = False,
) -> ClusterSummary:
    """Cluster proportions, mean entropy and network outputs of every record of ``signals``."""
    from tqdm.auto import tqdm

    network, config = unwrap(model)
    check_clusters(clusters, network, config.fs)
    names, proportions, entropy, probabilities, labels = [], [], [], [], []
    total = len(signals) if hasattr(signals, "__len__") else None
    with tqdm(total=total, desc="clusters", unit="rec", disable=not progress) as bar:
        for batch in batches(signals, batch_size):
            tokens = token_batch(
                network, np.stack([s.x for s in batch]), np.stack([s.mask for s in batch]), clusters.blocks
            )
            resp = token_responsibilities(clusters, tokens)
            positions = np.arange(batch[0].x.shape[1], dtype=np.float64)
            for signal, r, logits in zip(batch, resp, tokens.logits):
                ids, ent = at_samples(r, tokens.geometry, positions)
                names.append(signal.name)
                proportions.append(proportions_of(ids, clusters.k))
                entropy.append(float(np.nanmean(ent)))
                probabilities.append(1.0 / (1.0 + np.exp(-logits.astype(np.float64))))
                labels.append(signal.labels)
            bar.update(len(batch))
    if not names:
        raise ValueError("no record could be read: nothing to describe")
    return ClusterSummary(
        names,
        np.stack(proportions),
        np.array(entropy),
        np.stack(probabilities),
        np.stack(labels).astype(bool),
        list(getattr(signals, "skipped", [])),
    )
