"""Tests for leadattn.thresholds: exact per-class F optimum, coordinate-wise optimal challenge metric."""

from __future__ import annotations

import numpy as np
import pytest

from leadattn import metrics
from leadattn.labels import NUM_CLASSES
from leadattn.thresholds import apply_thresholds, sparse_classes, tune_thresholds


def _case(seed: int, records: int = 80) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = rng.random((records, NUM_CLASSES)) < rng.uniform(0.05, 0.4, NUM_CLASSES)
    labels[:, 2] = False  # a class without positives
    scores = np.clip(0.35 * labels + 0.65 * rng.random((records, NUM_CLASSES)), 0, 1).round(2)
    return labels, scores


def test_apply_thresholds_is_greater_or_equal():
    scores = np.array([[0.2, 0.5], [0.7, 0.49]])
    expected = [[False, True], [True, False]]
    np.testing.assert_array_equal(apply_thresholds(scores, np.array([0.5, 0.5])), expected)
    np.testing.assert_array_equal(apply_thresholds(scores[0], np.array([0.1, 0.9])), [True, False])


def test_apply_thresholds_rejects_bad_shapes_and_nan():
    with pytest.raises(ValueError, match=r"thresholds of shape \(3,\) do not fit scores of shape \(2, 2\)"):
        apply_thresholds(np.zeros((2, 2)), np.zeros(3))
    with pytest.raises(ValueError, match=r"NaN at class\(es\) \[1\]"):
        apply_thresholds(np.zeros((2, 2)), np.array([0.5, np.nan]))


def test_f_measure_thresholds_reach_the_exhaustive_optimum_per_class():
    labels, scores = _case(0)
    thresholds = tune_thresholds(labels, scores, objective="f_measure", min_positives=0)
    _, tuned = metrics.f_measure(labels, apply_thresholds(scores, thresholds))
    for k in range(NUM_CLASSES):
        if not labels[:, k].any():
            assert thresholds[k] > 1.0 and np.isnan(tuned[k])  # never output: F stays undefined
            continue
        best = max(metrics.f_measure(labels[:, [k]], scores[:, [k]] >= t)[0] for t in np.unique(scores[:, k]))
        assert tuned[k] == pytest.approx(best)
        assert thresholds[k] not in scores[:, k]  # a midpoint, not a validation score


def test_f_measure_thresholds_separate_separable_classes():
    labels = np.array([[1, 0], [1, 1], [0, 1], [0, 0]], dtype=bool)
    scores = np.array([[0.9, 0.1], [0.8, 0.7], [0.3, 0.6], [0.1, 0.2]])
    thresholds = tune_thresholds(labels, scores, objective="f_measure", min_positives=0)
    np.testing.assert_allclose(thresholds, [0.55, 0.4])


def test_challenge_thresholds_are_coordinatewise_optimal_and_beat_the_defaults():
    labels, scores = _case(1, records=60)
    thresholds = tune_thresholds(labels, scores, objective="challenge", min_positives=0)
    tuned = metrics.challenge_metric(labels, apply_thresholds(scores, thresholds))
    f_thresholds = tune_thresholds(labels, scores, objective="f_measure", min_positives=0)
    start = metrics.challenge_metric(labels, apply_thresholds(scores, f_thresholds))
    assert tuned >= start
    assert tuned > metrics.challenge_metric(labels, scores >= 0.5)
    for k in range(NUM_CLASSES):  # no single class can do better with any other threshold
        for value in np.append(np.unique(scores[:, k]), 1.1):
            trial = thresholds.copy()
            trial[k] = value
            assert metrics.challenge_metric(labels, apply_thresholds(scores, trial)) <= tuned + 1e-12


def test_tuning_is_deterministic():
    labels, scores = _case(2)
    np.testing.assert_array_equal(tune_thresholds(labels, scores), tune_thresholds(labels, scores))


def test_rejects_unknown_objective_and_bad_arrays():
    labels, scores = _case(3, records=10)
    with pytest.raises(ValueError, match="unknown objective 'auc'"):
        tune_thresholds(labels, scores, objective="auc")
    with pytest.raises(ValueError, match="scores has shape"):
        tune_thresholds(labels, scores[:5])
    scores[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN or infinite"):
        tune_thresholds(labels, scores)


def test_classes_with_too_few_positives_fall_back_and_stay_fixed():
    rng = np.random.default_rng(4)
    labels = rng.random((80, 26)) < 0.3
    labels[:, 3] = False
    labels[:2, 3] = True  # two positives: a threshold tuned on them would be noise
    labels[:, 7] = False  # none
    scores = np.clip(labels * 0.4 + rng.random((80, 26)) * 0.6, 0, 1)
    for objective in ("f_measure", "challenge"):
        thresholds = tune_thresholds(labels, scores, objective=objective, min_positives=5, fallback=0.5)
        assert thresholds[3] == thresholds[7] == 0.5
        assert (thresholds[sparse_classes(labels, 5)] == 0.5).all()
        assert not np.isclose(thresholds[~sparse_classes(labels, 5)], 0.5).all()
    np.testing.assert_array_equal(np.flatnonzero(sparse_classes(labels, 5)), [3, 7])
