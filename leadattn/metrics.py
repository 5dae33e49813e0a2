"""The PhysioNet/CinC Challenge 2021 metrics, computed as the official scoring program computes them.

Inputs are arrays of shape [records, classes] in the column order of the challenge's ``weights.csv``
(``leadattn.labels``): boolean labels, boolean binary outputs ("predictions") and float scores.

- AUROC and AUPRC per class walk the distinct score values from one threshold above the maximum
  down to the minimum. AUROC is the trapezoid area under specificity against sensitivity, AUPRC the
  step area under precision against recall. A class without positives has NaN for both; a class
  without negatives has NaN AUROC and AUPRC 1.
- F-measure per class is ``2TP / (2TP + FP + FN)``, NaN when that denominator is 0.
- Accuracy is the fraction of records whose whole label vector is output exactly.
- The challenge metric rewards each (label, output) pair of a record by ``weights[label, output]``,
  shared out over the classes the record has as a label or an output, and is normalised so that
  always outputting sinus rhythm alone scores 0 and outputting the labels scores 1.

Macro values are means over classes that ignore NaN (NaN when every class is NaN). Instead of the
official per-record loops, everything is vectorised: one sort per class and cumulative counts at the
distinct thresholds for the curves, matrix products for the challenge metric. The same counts with
record multiplicities give fast bootstrap confidence intervals (:func:`bootstrap`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from leadattn.labels import NUM_CLASSES, SINUS_RHYTHM_INDEX
from leadattn.labels import weights as challenge_weights

HEADLINE = ("auroc", "auprc", "accuracy", "f_measure", "challenge_metric")
"""Names of the five scalar metrics the challenge reports, in its order."""


# ---------------------------------------------------------------------------------------------------
# Input checks


def _as_bool(name: str, values: np.ndarray) -> np.ndarray:
    array = np.asarray(values)
    if array.dtype == bool:
        return array
    if array.dtype.kind not in "iuf" or not np.isin(array, (0, 1)).all():
        raise ValueError(f"{name} must be boolean (True/False or 0/1); found other values")
    return array.astype(bool)


def _as_matrix(name: str, values: np.ndarray) -> np.ndarray:
    array = np.asarray(values)
    if array.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array [records, classes], got shape {array.shape}")
    if array.shape[0] == 0:
        raise ValueError(f"{name} has no records")
    return array


def check_arrays(labels: np.ndarray, **others: np.ndarray | None) -> dict[str, np.ndarray]:
    """Check ``labels`` and the arrays named ``scores`` or ``predictions`` against each other.

    Returns them converted (bool labels and predictions, float64 scores), keyed by name; raises
    ``ValueError`` naming the array and the problem.
    """
    out = {"labels": _as_bool("labels", _as_matrix("labels", labels))}
    for name, values in others.items():
        if values is None:
            continue
        array = _as_matrix(name, values)
        if array.shape != out["labels"].shape:
            raise ValueError(f"{name} has shape {array.shape} but labels have shape {out['labels'].shape}")
        if name == "scores":
            if array.dtype.kind not in "iuf":
                raise ValueError(f"scores must be numeric, got dtype {array.dtype}")
            array = array.astype(np.float64)
            if not np.isfinite(array).all():
                rows, cols = np.nonzero(~np.isfinite(array))
                raise ValueError(
                    f"scores contain {rows.size} NaN or infinite value(s), first at record {rows[0]}, "
                    f"class {cols[0]}"
                )
        else:
            array = _as_bool(name, array)
        out[name] = array
    return out


def check_weights(weights: np.ndarray | None, num_classes: int, normal_index: int) -> np.ndarray:
    """The challenge weights (``None``) or the given ones, checked against the number of classes."""
    if weights is None:
        if num_classes != NUM_CLASSES:
            raise ValueError(
                f"arrays have {num_classes} classes; the challenge weights need {NUM_CLASSES} "
                "(pass weights for other class sets)"
            )
        weights = challenge_weights()
    weights = np.asarray(weights, dtype=np.float64)
    if weights.shape != (num_classes, num_classes):
        raise ValueError(f"weights have shape {weights.shape}, expected ({num_classes}, {num_classes})")
    if not 0 <= normal_index < num_classes:
        raise ValueError(f"normal_index {normal_index} is outside 0..{num_classes - 1}")
    return weights


def nan_mean(values: np.ndarray) -> float:
    """Mean over the finite entries, NaN when there are none (the challenge's macro average)."""
    values = np.asarray(values, dtype=np.float64)
    finite = np.isfinite(values)
    return float(values[finite].mean()) if finite.any() else float("nan")


# ---------------------------------------------------------------------------------------------------
# AUROC and AUPRC


@dataclass(frozen=True)
class Curve:
    """Counts of one class at each distinct threshold, highest first; index 0 is above the maximum.

    ``thresholds[j]`` is the score value at which step j is taken (``inf`` for step 0): a record is
    output positive at step j when its score is >= ``thresholds[j]``.
    """

    thresholds: np.ndarray
    tp: np.ndarray
    fp: np.ndarray

    @property
    def positives(self) -> float:
        return float(self.tp[-1])

    @property
    def negatives(self) -> float:
        return float(self.fp[-1])

    @property
    def tpr(self) -> np.ndarray:
        """Sensitivity (recall) per step; NaN when the class has no positives."""
        return _ratio(self.tp, np.full_like(self.tp, self.positives))

    @property
    def tnr(self) -> np.ndarray:
        """Specificity per step; NaN when the class has no negatives."""
        return _ratio(self.negatives - self.fp, np.full_like(self.fp, self.negatives))

    @property
    def ppv(self) -> np.ndarray:
        """Precision per step; NaN at step 0 (nothing is output positive)."""
        return _ratio(self.tp, self.tp + self.fp)

    def areas(self) -> tuple[float, float]:
        """AUROC and AUPRC of the class, as the challenge computes them."""
        auroc, auprc = _areas(self.tp, self.fp)
        return float(auroc), float(auprc)


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    out = np.full(np.broadcast_shapes(numerator.shape, denominator.shape), np.nan)
    np.divide(numerator, denominator, out=out, where=denominator != 0)
    return out


def score_order(scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Order sorting one class's scores high to low, and the last sorted position of each distinct value.

    Cumulative sums over records in this order, taken at those positions, give counts at every
    threshold of :func:`curve`.
    """
    order = np.argsort(-scores, kind="stable")
    ordered = scores[order]
    ends = np.flatnonzero(np.append(ordered[1:] != ordered[:-1], True))
    return order, ends


def curve(labels: np.ndarray, scores: np.ndarray) -> Curve:
    """The challenge's threshold walk for one class (1-D labels and scores)."""
    labels = np.asarray(labels, dtype=bool)
    scores = np.asarray(scores, dtype=np.float64)
    order, ends = score_order(scores)
    tp = np.concatenate(([0.0], np.cumsum(labels[order], dtype=np.float64)[ends]))
    fp = np.concatenate(([0.0], ends + 1.0)) - tp
    thresholds = np.concatenate(([np.inf], scores[order][ends]))
    return Curve(thresholds, tp, fp)


def _areas(tp: np.ndarray, fp: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """AUROC and AUPRC from cumulative counts [..., steps] that start with a zero step.

    Algebraically the challenge's sums: with TPR = TP/P, TNR = (N - FP)/N and PPV = TP/(TP + FP),
    AUROC = sum 0.5 dTP/P (TN_j + TN_j+1)/N and AUPRC = sum dTP/P PPV_j+1. A step that adds no
    positives adds no area (with record multiplicities a step may add no records, where PPV is 0/0).
    """
    positives = tp[..., -1]
    negatives = fp[..., -1]
    gained = np.diff(tp, axis=-1)
    negatives_below = 2.0 * negatives[..., None] - fp[..., 1:] - fp[..., :-1]
    with np.errstate(divide="ignore", invalid="ignore"):
        auroc = 0.5 * np.sum(gained * negatives_below, axis=-1) / (positives * negatives)
        precision = tp[..., 1:] / (tp[..., 1:] + fp[..., 1:])
        auprc = np.sum(np.where(gained > 0, gained * precision, 0.0), axis=-1) / positives
    auroc = np.where((positives == 0) | (negatives == 0), np.nan, auroc)
    auprc = np.where(positives == 0, np.nan, auprc)
    return auroc, auprc


def auroc_auprc(labels: np.ndarray, scores: np.ndarray) -> tuple[float, float, np.ndarray, np.ndarray]:
    """Macro AUROC, macro AUPRC and the per-class arrays, as the challenge computes them."""
    checked = check_arrays(labels, scores=scores)
    return _auroc_auprc(checked["labels"], checked["scores"])


def _auroc_auprc(labels: np.ndarray, scores: np.ndarray) -> tuple[float, float, np.ndarray, np.ndarray]:
    auroc = np.empty(labels.shape[1])
    auprc = np.empty(labels.shape[1])
    for k in range(labels.shape[1]):
        auroc[k], auprc[k] = curve(labels[:, k], scores[:, k]).areas()
    return nan_mean(auroc), nan_mean(auprc), auroc, auprc


# ---------------------------------------------------------------------------------------------------
# Binary outputs


def confusion(labels: np.ndarray, predictions: np.ndarray) -> np.ndarray:
    """Per-class confusion matrices [classes, 2, 2]: ``[[TN, FP], [FN, TP]]`` (rows labels, as sklearn)."""
    checked = check_arrays(labels, predictions=predictions)
    return _confusion(checked["labels"], checked["predictions"])


def _confusion(labels: np.ndarray, predictions: np.ndarray) -> np.ndarray:
    tp = np.sum(labels & predictions, axis=0)
    fp = np.sum(~labels & predictions, axis=0)
    fn = np.sum(labels & ~predictions, axis=0)
    tn = labels.shape[0] - tp - fp - fn
    return np.stack([np.stack([tn, fp], axis=-1), np.stack([fn, tp], axis=-1)], axis=1)


def accuracy(labels: np.ndarray, predictions: np.ndarray) -> float:
    """Fraction of records whose binary outputs equal their labels in every class."""
    checked = check_arrays(labels, predictions=predictions)
    return _accuracy(checked["labels"], checked["predictions"])


def _accuracy(labels: np.ndarray, predictions: np.ndarray) -> float:
    return float(np.mean(np.all(labels == predictions, axis=1)))


def _f_from_counts(tp: np.ndarray, fp: np.ndarray, fn: np.ndarray) -> np.ndarray:
    return _ratio(2.0 * tp, 2.0 * tp + fp + fn)


def f_measure(labels: np.ndarray, predictions: np.ndarray) -> tuple[float, np.ndarray]:
    """Macro F-measure and the per-class F-measures (NaN for a class never labelled nor output)."""
    checked = check_arrays(labels, predictions=predictions)
    return _f_measure(checked["labels"], checked["predictions"])


def _f_measure(labels: np.ndarray, predictions: np.ndarray) -> tuple[float, np.ndarray]:
    matrices = _confusion(labels, predictions).astype(np.float64)
    per_class = _f_from_counts(matrices[:, 1, 1], matrices[:, 0, 1], matrices[:, 1, 0])
    return nan_mean(per_class), per_class


def _record_rewards(labels: np.ndarray, outputs: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Each record's contribution to ``sum(weights * A)`` of the modified confusion matrix A."""
    shared = np.maximum(np.sum(labels | outputs, axis=1), 1).astype(np.float64)
    rewarded = np.sum((labels @ np.nan_to_num(weights)) * outputs, axis=1)
    return rewarded / shared


def modified_confusion(labels: np.ndarray, predictions: np.ndarray) -> np.ndarray:
    """The challenge's multi-label confusion matrix [classes, classes] (rows labels, columns outputs).

    A record with labels L and outputs O adds ``1 / max(|L or O|, 1)`` to every entry (l, o) with l in
    L and o in O.
    """
    checked = check_arrays(labels, predictions=predictions)
    labels, predictions = checked["labels"], checked["predictions"]
    shared = np.maximum(np.sum(labels | predictions, axis=1), 1).astype(np.float64)
    return (labels / shared[:, None]).T @ predictions.astype(np.float64)


def challenge_metric(
    labels: np.ndarray,
    predictions: np.ndarray,
    weights: np.ndarray | None = None,
    normal_index: int = SINUS_RHYTHM_INDEX,
) -> float:
    """The normalised challenge score: 1 for the labels, 0 for sinus rhythm alone (0 if those tie)."""
    checked = check_arrays(labels, predictions=predictions)
    labels, predictions = checked["labels"], checked["predictions"]
    weights = check_weights(weights, labels.shape[1], normal_index)
    return _challenge_metric(labels, predictions, weights, normal_index)


def _challenge_metric(labels: np.ndarray, predictions: np.ndarray, weights: np.ndarray, normal_index: int):
    observed, correct, inactive = challenge_rewards(labels, predictions, weights, normal_index)
    return _normalise(observed.sum(), correct.sum(), inactive.sum())


def challenge_rewards(
    labels: np.ndarray, predictions: np.ndarray, weights: np.ndarray, normal_index: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-record rewards of the outputs, of the labels themselves and of sinus rhythm alone.

    Their sums are the challenge's observed, correct and inactive scores (inputs already checked).
    """
    inactive = np.zeros_like(labels)
    inactive[:, normal_index] = True
    return (
        _record_rewards(labels, predictions, weights),
        _record_rewards(labels, labels, weights),
        _record_rewards(labels, inactive, weights),
    )


def _normalise(observed: np.ndarray, correct: np.ndarray, inactive: np.ndarray) -> np.ndarray:
    observed, correct, inactive = np.broadcast_arrays(
        np.asarray(observed, np.float64), np.asarray(correct, np.float64), np.asarray(inactive, np.float64)
    )
    span = correct - inactive
    out = np.zeros(span.shape)
    np.divide(observed - inactive, span, out=out, where=span != 0)
    return out if out.ndim else float(out)


# ---------------------------------------------------------------------------------------------------
# Everything at once


def score(
    labels: np.ndarray,
    scores: np.ndarray,
    predictions: np.ndarray,
    weights: np.ndarray | None = None,
    normal_index: int = SINUS_RHYTHM_INDEX,
) -> dict:
    """All challenge metrics of one set of records.

    Returns a dict with the macro values ``auroc``, ``auprc``, ``accuracy``, ``f_measure``,
    ``challenge_metric`` (floats) and the per-class arrays ``auroc_classes``, ``auprc_classes``,
    ``f_measure_classes``. Raises ``ValueError`` for shapes that disagree, non-boolean labels or
    predictions, NaN or infinite scores, or a class count that does not fit the weights.
    """
    checked = check_arrays(labels, scores=scores, predictions=predictions)
    labels, scores, predictions = checked["labels"], checked["scores"], checked["predictions"]
    weights = check_weights(weights, labels.shape[1], normal_index)
    auroc, auprc, auroc_classes, auprc_classes = _auroc_auprc(labels, scores)
    f_macro, f_classes = _f_measure(labels, predictions)
    return {
        "auroc": auroc,
        "auprc": auprc,
        "accuracy": _accuracy(labels, predictions),
        "f_measure": f_macro,
        "challenge_metric": _challenge_metric(labels, predictions, weights, normal_index),
        "auroc_classes": auroc_classes,
        "auprc_classes": auprc_classes,
        "f_measure_classes": f_classes,
    }


def bootstrap(
    labels: np.ndarray,
    scores: np.ndarray,
    predictions: np.ndarray,
    resamples: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
    weights: np.ndarray | None = None,
    normal_index: int = SINUS_RHYTHM_INDEX,
    chunk: int = 50,
) -> dict[str, tuple[float, float]]:
    """Percentile bootstrap confidence intervals of the five headline metrics, resampling records.

    Each resample is scored exactly as :func:`score` would score the resampled records, but from record
    multiplicities, so the per-class sorts and per-record rewards are computed once. Resamples where
    a metric is NaN are left out of its interval. Deterministic for a given ``seed``.
    """
    if resamples < 1:
        raise ValueError(f"resamples must be at least 1, got {resamples}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be between 0 and 1, got {confidence}")
    checked = check_arrays(labels, scores=scores, predictions=predictions)
    labels, scores, predictions = checked["labels"], checked["scores"], checked["predictions"]
    weights = check_weights(weights, labels.shape[1], normal_index)
    n, num_classes = labels.shape
    rng = np.random.default_rng(seed)

    steps = [_PositiveSteps.of(labels[:, k], scores[:, k]) for k in range(num_classes)]
    exact = np.all(labels == predictions, axis=1).astype(np.float64)
    hits = np.stack([labels & predictions, ~labels & predictions, labels & ~predictions]).astype(np.float64)
    parts = np.stack(challenge_rewards(labels, predictions, weights, normal_index), axis=1)

    values = {name: [] for name in HEADLINE}
    for start in range(0, resamples, chunk):
        size = min(chunk, resamples - start)
        counts = np.stack([np.bincount(rng.integers(0, n, n), minlength=n) for _ in range(size)])
        counts = counts.astype(np.int32)
        areas = np.stack([s.areas(counts) for s in steps], axis=-1)  # [2, size, classes]
        counts = counts.astype(np.float64)
        tp, fp, fn = (counts @ h for h in hits)
        rewards = counts @ parts
        values["auroc"].append(_row_nan_mean(areas[0]))
        values["auprc"].append(_row_nan_mean(areas[1]))
        values["accuracy"].append(counts @ exact / n)
        values["f_measure"].append(_row_nan_mean(_f_from_counts(tp, fp, fn)))
        values["challenge_metric"].append(_normalise(rewards[:, 0], rewards[:, 1], rewards[:, 2]))

    tail = 50.0 * (1.0 - confidence)
    intervals = {}
    for name, chunks in values.items():
        sample = np.concatenate(chunks)
        sample = sample[np.isfinite(sample)]
        if sample.size:
            low, high = np.percentile(sample, [tail, 100.0 - tail])
            intervals[name] = (float(low), float(high))
        else:
            intervals[name] = (float("nan"), float("nan"))
    return intervals


@dataclass(frozen=True)
class _PositiveSteps:
    """Where one class's positives sit in its score order, to score many resamples at once.

    Only steps that gain positives add area, so besides one cumulative sum of record multiplicities
    in score order, the work per resample is proportional to the number of positives.
    """

    order: np.ndarray  # records, highest score first
    ends: np.ndarray  # sorted position of the last record of each step that holds positives
    previous: np.ndarray  # sorted position of the last record of the step before it (-1: none)
    positives: np.ndarray  # positive records in score order
    starts: np.ndarray  # where each such step's run starts in ``positives``

    @classmethod
    def of(cls, labels: np.ndarray, scores: np.ndarray) -> _PositiveSteps:
        order, ends = score_order(scores)
        step_of = np.repeat(np.arange(ends.size), np.diff(np.concatenate(([-1], ends))))
        sorted_positives = np.flatnonzero(labels[order])
        steps, starts = np.unique(step_of[sorted_positives], return_index=True)
        previous = np.where(steps > 0, ends[np.maximum(steps - 1, 0)], -1)
        return cls(order, ends[steps], previous, order[sorted_positives], starts)

    def areas(self, counts: np.ndarray) -> np.ndarray:
        """AUROC and AUPRC [2, resamples] for integer record multiplicities [resamples, records].

        The trapezoid sum of :func:`_areas`, kept to the steps that gain positives:
        AUROC = sum gained (N - FP + 0.5 negatives of the step) / (P N).
        """
        if self.positives.size == 0:
            return np.full((2, counts.shape[0]), np.nan)
        cumulative = np.cumsum(counts[:, self.order], axis=1, dtype=np.int32)
        at_end = cumulative[:, self.ends].astype(np.float64)
        before = np.where(self.previous >= 0, cumulative[:, np.maximum(self.previous, 0)], 0)
        gained = np.add.reduceat(counts[:, self.positives], self.starts, axis=1).astype(np.float64)
        tp = np.cumsum(gained, axis=1)
        fp = at_end - tp
        positives = tp[:, -1]
        negatives = counts.shape[1] - positives  # multiplicities of a resample sum to the records
        with np.errstate(divide="ignore", invalid="ignore"):
            auroc = np.sum(gained * (negatives[:, None] - fp + 0.5 * (at_end - before - gained)), axis=1)
            auroc /= positives * negatives
            auprc = np.sum(np.where(gained > 0, gained * tp / at_end, 0.0), axis=1) / positives
        auroc = np.where((positives == 0) | (negatives == 0), np.nan, auroc)
        auprc = np.where(positives == 0, np.nan, auprc)
        return np.stack([auroc, auprc])


def _row_nan_mean(values: np.ndarray) -> np.ndarray:
    finite = np.isfinite(values)
    total = np.where(finite, values, 0.0).sum(axis=1)
    count = finite.sum(axis=1)
    return _ratio(total, count.astype(np.float64))
