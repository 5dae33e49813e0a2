"""How clusters line up with the waves of the ECG, on records whose waves are known.

Generated demo records (:mod:`leadattn.synth`) come with a side file giving every P wave, PR segment,
QRS complex, T wave and premature ventricular beat. Each sample gets one landmark, in this order of
precedence: ``PVC`` (a premature beat from QRS onset to T end), ``QRS``, ``P``, ``PR`` (end of P to
QRS onset), ``ST-T`` (QRS end to T end) and ``TP`` (everything else: the baseline between beats,
fibrillatory waves). The landmarks are the same for every lead.

:func:`composition` tells, per cluster, the share of its samples in each landmark; the normalised
mutual information between cluster and landmark (:func:`landmark_nmi`, 0: unrelated, 1: one-to-one)
sums the alignment up in one number; :func:`landmark_names` names each cluster by its dominant
landmark (``"QRS 84 %"``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import normalized_mutual_info_score

from explain.clusters.assign import record_clusters
from explain.clusters.model import ClusterModel
from explain.inputs import ModelLike
from leadattn.synth import Annotations, read_annotations

LANDMARKS = ("P", "PR", "QRS", "ST-T", "TP", "PVC")


def landmark_labels(annotations: Annotations, samples: int | None = None) -> np.ndarray:
    """Landmark index (into :data:`LANDMARKS`) of every sample of the record ``[samples]``."""
    samples = annotations.samples if samples is None else samples
    out = np.full(samples, LANDMARKS.index("TP"), dtype=np.int64)

    def paint(ranges: np.ndarray, name: str) -> None:
        for start, stop in ranges:
            out[max(0, start) : min(samples, stop)] = LANDMARKS.index(name)

    st_t = [(b.qrs[1], b.t[1]) for b in annotations.beats if b.t is not None and b.kind != "pvc"]
    paint(np.array(st_t, dtype=np.int64).reshape(-1, 2), "ST-T")
    paint(annotations.ranges("pr_segment"), "PR")
    paint(annotations.ranges("p"), "P")
    paint(annotations.ranges("qrs"), "QRS")
    paint(annotations.ranges("pvc"), "PVC")
    return out


def _pairs(ids: Sequence[pd.DataFrame], annotations: Sequence[Annotations]) -> tuple[np.ndarray, np.ndarray]:
    clusters, landmarks = [], []
    for frame, notes in zip(ids, annotations, strict=True):
        values = frame.to_numpy(dtype=np.float64, na_value=np.nan)  # [samples, columns]
        if values.shape[0] != notes.samples:
            raise ValueError(
                f"{notes.name}: the cluster frame has {values.shape[0]} samples, the annotations "
                f"{notes.samples}"
            )
        marks = np.repeat(landmark_labels(notes)[:, None], values.shape[1], axis=1)
        seen = np.isfinite(values)
        clusters.append(values[seen].astype(np.int64))
        landmarks.append(marks[seen])
    if not clusters:
        raise ValueError("no records given")
    return np.concatenate(clusters), np.concatenate(landmarks)


def composition(
    ids: Sequence[pd.DataFrame], annotations: Sequence[Annotations], names: Sequence[str]
) -> pd.DataFrame:
    """Clusters x landmarks: the share of each cluster's samples in each landmark (rows sum to 1),
    plus ``samples`` (the cluster's share of all samples).

    ``ids`` are cluster-id frames (:attr:`RecordClusters.ids`) of the records ``annotations``
    describe; every lead's samples count.
    """
    clusters, landmarks = _pairs(ids, annotations)
    k = len(names)
    counts = np.zeros((k, len(LANDMARKS)))
    np.add.at(counts, (clusters, landmarks), 1.0)
    totals = counts.sum(axis=1, keepdims=True)
    shares = np.divide(counts, totals, out=np.zeros_like(counts), where=totals > 0)
    table = pd.DataFrame(shares, index=pd.Index(list(names), name="cluster"), columns=list(LANDMARKS))
    table["samples"] = totals[:, 0] / max(totals.sum(), 1.0)
    return table


def landmark_nmi(ids: Sequence[pd.DataFrame], annotations: Sequence[Annotations]) -> float:
    """Normalised mutual information between cluster and landmark over all samples and leads."""
    clusters, landmarks = _pairs(ids, annotations)
    return float(normalized_mutual_info_score(landmarks, clusters))


def landmark_names(table: pd.DataFrame, min_share: float = 0.0) -> list[str]:
    """A name per cluster of a :func:`composition` table: ``"QRS 84 %"`` (dominant landmark and its
    share); clusters with no samples, or whose dominant share is below ``min_share``, keep
    ``"cluster k"``. Two clusters with the same dominant landmark are told apart by a letter."""
    shares = table[list(LANDMARKS)]
    names = []
    for k, (_, row) in enumerate(shares.iterrows()):
        if row.sum() == 0 or row.max() < min_share:
            names.append(f"cluster {k}")
        else:
            names.append(f"{row.idxmax()} {100 * row.max():.0f} %")
    dominant = [n.split(" ")[0] for n in names]
    repeated = {d for d in dominant if dominant.count(d) > 1 and d != "cluster"}
    letters: dict[str, int] = {}
    for k, d in enumerate(dominant):
        if d in repeated:
            letter = chr(ord("a") + letters.get(d, 0))
            letters[d] = letters.get(d, 0) + 1
            names[k] = f"{d} {letter} {names[k].split(' ', 1)[1]}"
    return names


def landmark_table(
    model: ModelLike, clusters: ClusterModel, records: Sequence[str | Path]
) -> tuple[pd.DataFrame, float]:
    """:func:`composition` and :func:`landmark_nmi` of ``clusters`` on annotated ``records`` (paths
    of generated records with side files)."""
    ids, notes = [], []
    for path in records:
        notes.append(read_annotations(path))
        ids.append(record_clusters(model, clusters, path).ids)
    return composition(ids, notes, clusters.names), landmark_nmi(ids, notes)
