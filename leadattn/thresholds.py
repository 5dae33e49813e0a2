"""Per-class decision thresholds, tuned on validation scores to maximise a challenge metric.

A record is output positive for class k when its score is >= ``thresholds[k]``. Candidate thresholds
of a class sit between consecutive distinct validation scores (midpoints), so tuned thresholds do not
sit on a validation score; "never output" is a threshold just above ``max(1, highest score)`` and
"always output" is ``min(0, lowest score)``, both beyond the range of probabilities.

- ``objective="f_measure"``: the macro F-measure is a sum over classes, so each class is maximised
  exactly and independently.
- Classes with fewer than ``min_positives`` positive records are not tuned: a threshold chosen from
  one or two positives (or none) is noise, such as 0.0 that outputs the class for every record or a
  value just above the only positive's score. They get the ``fallback`` threshold (0.5) instead and
  are reported by :func:`sparse_classes`.
- ``objective="challenge"``: the challenge metric couples the classes (a record's reward is shared
  over the classes it has as a label or an output), so thresholds start at the F-measure optimum and
  are improved by coordinate ascent: one class at a time, every candidate threshold is scored at once
  from per-record reward changes and cumulative sums, until a sweep over all classes changes nothing.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from leadattn import metrics
from leadattn.labels import NUM_CLASSES, SINUS_RHYTHM_INDEX
from leadattn.leads import LEAD_SUBSETS

Objective = Literal["challenge", "f_measure"]
_TOLERANCE = 1e-12
MIN_POSITIVES = 5
"""Fewest validation positives from which a class's threshold is tuned."""
FALLBACK_THRESHOLD = 0.5
"""Threshold of classes with fewer positives than that."""


def sparse_classes(labels: np.ndarray, min_positives: int = MIN_POSITIVES) -> np.ndarray:
    """Bool ``[classes]``: classes with fewer than ``min_positives`` positive records in ``labels``."""
    return np.asarray(labels, dtype=bool).sum(axis=0) < min_positives


def apply_thresholds(scores: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """Binary outputs: ``scores >= thresholds`` for scores [classes] or [records, classes]."""
    scores = np.asarray(scores, dtype=np.float64)
    thresholds = np.asarray(thresholds, dtype=np.float64)
    if thresholds.ndim != 1 or scores.shape[-1:] != thresholds.shape:
        raise ValueError(f"thresholds of shape {thresholds.shape} do not fit scores of shape {scores.shape}")
    missing = np.flatnonzero(np.isnan(thresholds))
    if missing.size:
        raise ValueError(f"thresholds contain NaN at class(es) {missing.tolist()}")
    return scores >= thresholds


def _candidates(curve: metrics.Curve) -> np.ndarray:
    """One threshold per step of the curve: step j outputs exactly the records of its first j values."""
    values = curve.thresholds[1:]  # distinct scores, highest first
    never = np.nextafter(max(values[0], 1.0), np.inf)
    always = min(values[-1], 0.0)
    middle = values[1:] + (values[:-1] - values[1:]) / 2.0
    middle = np.where(middle > values[1:], middle, values[:-1])  # adjacent floats: take the upper one
    return np.concatenate(([never], middle, [always]))


def _best_f_step(curve: metrics.Curve) -> int:
    """Step that maximises the class's F-measure; a class without positives is never output (F NaN)."""
    if curve.positives == 0:
        return 0
    f = 2.0 * curve.tp / (curve.tp + curve.positives + curve.fp)
    return int(np.argmax(f))


def tune_thresholds(
    labels: np.ndarray,
    scores: np.ndarray,
    objective: Objective = "challenge",
    weights: np.ndarray | None = None,
    normal_index: int = SINUS_RHYTHM_INDEX,
    max_sweeps: int = 20,
    min_positives: int = MIN_POSITIVES,
    fallback: float = FALLBACK_THRESHOLD,
) -> np.ndarray:
    """Thresholds [classes] that maximise ``objective`` on (labels, scores); deterministic.

    ``weights`` and ``normal_index`` define the challenge metric (the challenge's own by default).
    Classes with fewer than ``min_positives`` positives keep ``fallback`` and are held fixed.
    Raises ``ValueError`` for an unknown objective or inputs that :func:`leadattn.metrics.score`
    would reject.
    """
    if objective not in ("challenge", "f_measure"):
        raise ValueError(f"unknown objective {objective!r}; choose 'challenge' or 'f_measure'")
    checked = metrics.check_arrays(labels, scores=scores)
    labels, scores = checked["labels"], checked["scores"]
    num_classes = labels.shape[1]

    curves = [metrics.curve(labels[:, k], scores[:, k]) for k in range(num_classes)]
    candidates = [_candidates(c) for c in curves]
    thresholds = np.array([candidates[k][_best_f_step(c)] for k, c in enumerate(curves)])
    frozen = sparse_classes(labels, min_positives)
    thresholds[frozen] = fallback
    if objective == "f_measure":
        return thresholds

    weights = metrics.check_weights(weights, num_classes, normal_index)
    _, correct, inactive = metrics.challenge_rewards(labels, labels, weights, normal_index)
    direction = np.sign(correct.sum() - inactive.sum())
    if direction == 0:  # the normalised metric is 0 whatever is output
        return thresholds
    return _coordinate_ascent(labels, scores, weights, thresholds, candidates, direction, max_sweeps, frozen)


def _coordinate_ascent(
    labels: np.ndarray,
    scores: np.ndarray,
    weights: np.ndarray,
    thresholds: np.ndarray,
    candidates: list[np.ndarray],
    direction: float,
    max_sweeps: int,
    frozen: np.ndarray,
) -> np.ndarray:
    """Improve one class's threshold at a time, holding the others and the frozen ones, until
    nothing changes."""
    thresholds = thresholds.copy()
    outputs = scores >= thresholds
    label_rewards = labels @ np.nan_to_num(weights)  # [records, classes]: reward of outputting k
    rewarded = np.sum(label_rewards * outputs, axis=1)
    involved = np.sum(labels | outputs, axis=1).astype(np.float64)
    sorted_groups = [metrics.score_order(scores[:, k]) for k in range(labels.shape[1])]

    for _ in range(max_sweeps):
        changed = False
        for k, (order, ends) in enumerate(sorted_groups):
            if frozen[k]:
                continue
            on = outputs[:, k]
            unlabelled = ~labels[:, k]
            rewarded_off = rewarded - label_rewards[:, k] * on
            involved_off = involved - (on & unlabelled)
            reward_on = (rewarded_off + label_rewards[:, k]) / (involved_off + unlabelled)
            reward_off = rewarded_off / np.maximum(involved_off, 1.0)
            gain = direction * (reward_on - reward_off)
            steps = np.concatenate(([0.0], np.cumsum(gain[order])[ends]))
            best = int(np.argmax(steps))
            if steps[best] > gain[on].sum() + _TOLERANCE:
                thresholds[k] = candidates[k][best]
                on = scores[:, k] >= thresholds[k]
                outputs[:, k] = on
                rewarded = rewarded_off + label_rewards[:, k] * on
                involved = involved_off + (on & unlabelled)
                changed = True
        if not changed:
            break
    return thresholds


def threshold_table(thresholds: np.ndarray | dict | None) -> dict[str, np.ndarray]:
    """Thresholds for every standard subset key from one vector or a per-subset mapping."""
    keys = [str(size) for size in LEAD_SUBSETS]
    if thresholds is None:
        return {key: np.full(NUM_CLASSES, 0.5) for key in keys}
    if isinstance(thresholds, dict):
        missing = [key for key in keys if key not in thresholds]
        if missing:
            raise ValueError(f"thresholds lack lead subset(s) {', '.join(missing)}")
        table = {key: np.asarray(thresholds[key], dtype=np.float64) for key in keys}
    else:
        vector = np.asarray(thresholds, dtype=np.float64)
        table = {key: vector for key in keys}
    for key, vector in table.items():
        if vector.shape != (NUM_CLASSES,) or np.isnan(vector).any():
            raise ValueError(f"thresholds of the {key}-lead subset must be {NUM_CLASSES} numbers")
    return table
