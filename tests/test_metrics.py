"""Tests for leadattn.metrics: hand-worked cases, a loop-by-loop reference of the challenge's
definitions, agreement with sklearn where the definitions coincide, and input checks."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics as skm

from leadattn import metrics
from leadattn.labels import NUM_CLASSES, SINUS_RHYTHM_INDEX, weights

# ---------------------------------------------------------------------------------------------------
# A slow reference that follows the challenge's definitions one record and one threshold at a time.


def _safe(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator else float("nan")


def _macro(values: list[float]) -> float:
    finite = [v for v in values if np.isfinite(v)]
    return sum(finite) / len(finite) if finite else float("nan")


def reference_auc(labels: np.ndarray, scores: np.ndarray) -> tuple[list[float], list[float]]:
    aurocs, auprcs = [], []
    for k in range(labels.shape[1]):
        column = [float(v) for v in scores[:, k]]
        truth = [bool(v) for v in labels[:, k]]
        distinct = sorted(set(column), reverse=True)
        tpr, tnr, ppv = [], [], []
        for threshold in [distinct[0] + 1.0, *distinct]:
            tp = sum(1 for s, y in zip(column, truth) if s >= threshold and y)
            fp = sum(1 for s, y in zip(column, truth) if s >= threshold and not y)
            fn = sum(1 for s, y in zip(column, truth) if s < threshold and y)
            tn = sum(1 for s, y in zip(column, truth) if s < threshold and not y)
            tpr.append(_safe(tp, tp + fn))
            tnr.append(_safe(tn, tn + fp))
            ppv.append(_safe(tp, tp + fp))
        auroc = auprc = 0.0
        for j in range(len(tpr) - 1):
            auroc += 0.5 * (tpr[j + 1] - tpr[j]) * (tnr[j + 1] + tnr[j])
            auprc += (tpr[j + 1] - tpr[j]) * ppv[j + 1]
        aurocs.append(auroc)
        auprcs.append(auprc)
    return aurocs, auprcs


def reference_f(labels: np.ndarray, outputs: np.ndarray) -> list[float]:
    values = []
    for k in range(labels.shape[1]):
        tp = fp = fn = 0
        for i in range(labels.shape[0]):
            tp += bool(labels[i, k] and outputs[i, k])
            fp += bool(outputs[i, k] and not labels[i, k])
            fn += bool(labels[i, k] and not outputs[i, k])
        values.append(_safe(2 * tp, 2 * tp + fp + fn))
    return values


def reference_accuracy(labels: np.ndarray, outputs: np.ndarray) -> float:
    right = 0
    for i in range(labels.shape[0]):
        right += all(labels[i, k] == outputs[i, k] for k in range(labels.shape[1]))
    return right / labels.shape[0]


def reference_challenge(labels: np.ndarray, outputs: np.ndarray, w: np.ndarray, normal: int) -> float:
    def total(out: np.ndarray) -> float:
        matrix = np.zeros(w.shape)
        for i in range(labels.shape[0]):
            involved = sum(1 for k in range(labels.shape[1]) if labels[i, k] or out[i, k])
            share = 1.0 / max(involved, 1)
            for j in range(labels.shape[1]):
                for k in range(labels.shape[1]):
                    if labels[i, j] and out[i, k]:
                        matrix[j, k] += share
        return float(np.nansum(w * matrix))

    inactive = np.zeros_like(outputs)
    inactive[:, normal] = True
    observed, correct, baseline = total(outputs), total(labels), total(inactive)
    return (observed - baseline) / (correct - baseline) if correct != baseline else 0.0


def random_case(seed: int, records: int = 120) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Labels, scores (rounded: many ties) and outputs with an all-negative and an all-positive class."""
    rng = np.random.default_rng(seed)
    prevalence = rng.uniform(0.02, 0.5, NUM_CLASSES)
    labels = rng.random((records, NUM_CLASSES)) < prevalence
    labels[:, 3] = False
    labels[:, 7] = True
    scores = np.clip(labels * 0.3 + rng.random((records, NUM_CLASSES)) * 0.8, 0, 1).round(1)
    outputs = scores >= 0.5
    outputs[:, 11] = False
    return labels, scores, outputs


# ---------------------------------------------------------------------------------------------------
# Hand-worked cases


def test_auroc_auprc_hand_worked():
    labels = np.array([[1], [0], [1], [0]], dtype=bool)
    scores = np.array([[0.9], [0.8], [0.4], [0.1]])
    # thresholds inf, .9, .8, .4, .1 -> TPR 0, .5, .5, 1, 1; TNR 1, 1, .5, .5, 0; PPV -, 1, .5, 2/3, .5
    auroc, auprc, per_auroc, per_auprc = metrics.auroc_auprc(labels, scores)
    assert auroc == pytest.approx(0.5 * 0.5 * 2 + 0.5 * 0.5 * 1.0)
    assert auprc == pytest.approx(0.5 * 1.0 + 0.5 * 2 / 3)
    assert per_auroc.shape == per_auprc.shape == (1,)


def test_auroc_auprc_ties_share_one_threshold():
    labels = np.array([[1], [0], [1], [0]], dtype=bool)
    scores = np.array([[0.5], [0.5], [0.5], [0.2]])
    # thresholds inf, .5, .2 -> TPR 0, 1, 1; TNR 1, .5, 0; PPV at .5 is 2/3
    auroc, auprc, _, _ = metrics.auroc_auprc(labels, scores)
    assert auroc == pytest.approx(0.75)
    assert auprc == pytest.approx(2 / 3)


def test_auc_nan_for_missing_positives_or_negatives():
    labels = np.array([[0, 1, 1], [0, 1, 0], [0, 1, 1]], dtype=bool)
    scores = np.array([[0.1, 0.2, 0.9], [0.5, 0.7, 0.3], [0.3, 0.1, 0.8]])
    auroc, auprc, per_auroc, per_auprc = metrics.auroc_auprc(labels, scores)
    assert np.isnan(per_auroc[0]) and np.isnan(per_auprc[0])  # no positives
    assert np.isnan(per_auroc[1]) and per_auprc[1] == 1.0  # no negatives: precision is always 1
    assert per_auroc[2] == 1.0 and per_auprc[2] == 1.0
    assert auroc == 1.0 and auprc == 1.0  # macro values skip NaN classes
    all_nan = metrics.auroc_auprc(np.zeros((2, 2), bool), np.ones((2, 2)))
    assert np.isnan(all_nan[0]) and np.isnan(all_nan[1])


def test_curve_counts_and_rates():
    c = metrics.curve(np.array([1, 0, 1, 0], bool), np.array([0.9, 0.8, 0.4, 0.1]))
    np.testing.assert_array_equal(c.thresholds, [np.inf, 0.9, 0.8, 0.4, 0.1])
    np.testing.assert_array_equal(c.tp, [0, 1, 1, 2, 2])
    np.testing.assert_array_equal(c.fp, [0, 0, 1, 1, 2])
    np.testing.assert_allclose(c.tnr, [1, 1, 0.5, 0.5, 0])
    assert np.isnan(c.ppv[0]) and c.ppv[3] == pytest.approx(2 / 3)
    assert c.positives == 2 and c.negatives == 2


def test_f_measure_and_confusion_hand_worked():
    labels = np.array([[1, 0, 0], [1, 1, 0], [0, 1, 0], [0, 0, 0]], dtype=bool)
    outputs = np.array([[1, 1, 0], [0, 1, 0], [0, 0, 0], [1, 0, 0]], dtype=bool)
    matrices = metrics.confusion(labels, outputs)
    np.testing.assert_array_equal(matrices[0], [[1, 1], [1, 1]])  # [[TN, FP], [FN, TP]]
    np.testing.assert_array_equal(matrices[1], [[1, 1], [1, 1]])
    np.testing.assert_array_equal(matrices[2], [[4, 0], [0, 0]])
    macro, per_class = metrics.f_measure(labels, outputs)
    assert per_class[0] == pytest.approx(2 / 4) and per_class[1] == pytest.approx(2 / 4)
    assert np.isnan(per_class[2])  # never labelled, never output
    assert macro == pytest.approx(0.5)


def test_accuracy_counts_whole_records():
    labels = np.array([[1, 0], [1, 1], [0, 0]], dtype=bool)
    outputs = np.array([[1, 0], [1, 0], [0, 0]], dtype=bool)
    assert metrics.accuracy(labels, outputs) == pytest.approx(2 / 3)


def test_challenge_metric_hand_worked():
    w = np.array([[1.0, 0.5, 0.0], [0.5, 1.0, 0.0], [0.0, 0.0, 1.0]])
    labels = np.array([[1, 0, 0], [1, 1, 0], [0, 0, 1]], dtype=bool)
    outputs = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 0]], dtype=bool)
    # observed: 1 + (0.5 * 0.5 + 0.5 * 1) + 0 = 1.75; correct: 1 + 1.5 + 1 = 3.5; sinus alone: 0 + 0 + 1
    a = metrics.modified_confusion(labels, outputs)
    np.testing.assert_allclose(a, [[1, 0.5, 0], [0, 0.5, 0], [0, 0, 0]])
    value = metrics.challenge_metric(labels, outputs, weights=w, normal_index=2)
    assert value == pytest.approx((1.75 - 1.0) / (3.5 - 1.0))


def test_challenge_metric_reference_points():
    labels, _, outputs = random_case(1)
    assert metrics.challenge_metric(labels, labels) == pytest.approx(1.0)
    sinus = np.zeros_like(labels)
    sinus[:, SINUS_RHYTHM_INDEX] = True
    assert metrics.challenge_metric(labels, sinus) == pytest.approx(0.0, abs=1e-12)
    only_sinus = sinus.copy()  # labels equal to the inactive outputs: correct == inactive -> 0
    assert metrics.challenge_metric(only_sinus, outputs) == 0.0


# ---------------------------------------------------------------------------------------------------
# Agreement with the reference and with sklearn


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_score_matches_reference(seed):
    labels, scores, outputs = random_case(seed)
    result = metrics.score(labels, scores, outputs)
    ref_auroc, ref_auprc = reference_auc(labels, scores)
    ref_f = reference_f(labels, outputs)
    np.testing.assert_allclose(result["auroc_classes"], ref_auroc, atol=1e-9, equal_nan=True)
    np.testing.assert_allclose(result["auprc_classes"], ref_auprc, atol=1e-9, equal_nan=True)
    np.testing.assert_allclose(result["f_measure_classes"], ref_f, atol=1e-9, equal_nan=True)
    assert np.isnan(result["auroc_classes"][3]) and np.isnan(result["auroc_classes"][7])
    assert result["auprc_classes"][7] == pytest.approx(1.0)
    assert result["auroc"] == pytest.approx(_macro(ref_auroc), abs=1e-9)
    assert result["auprc"] == pytest.approx(_macro(ref_auprc), abs=1e-9)
    assert result["f_measure"] == pytest.approx(_macro(ref_f), abs=1e-9)
    assert result["accuracy"] == pytest.approx(reference_accuracy(labels, outputs), abs=1e-12)
    expected = reference_challenge(labels, outputs, weights(), SINUS_RHYTHM_INDEX)
    assert result["challenge_metric"] == pytest.approx(expected, abs=1e-9)


def test_agrees_with_sklearn_where_definitions_coincide():
    labels, scores, outputs = random_case(5, records=400)
    result = metrics.score(labels, scores, outputs)
    for k in range(NUM_CLASSES):
        if 0 < labels[:, k].sum() < len(labels):
            assert result["auroc_classes"][k] == pytest.approx(skm.roc_auc_score(labels[:, k], scores[:, k]))
            ap = skm.average_precision_score(labels[:, k], scores[:, k])
            assert result["auprc_classes"][k] == pytest.approx(ap)
        if labels[:, k].any() or outputs[:, k].any():
            assert result["f_measure_classes"][k] == pytest.approx(skm.f1_score(labels[:, k], outputs[:, k]))
    assert result["accuracy"] == pytest.approx(skm.accuracy_score(labels, outputs))
    np.testing.assert_array_equal(
        metrics.confusion(labels, outputs), skm.multilabel_confusion_matrix(labels, outputs)
    )


def test_accepts_zero_one_integers_and_float32_scores():
    labels, scores, outputs = random_case(3)
    as_bool = metrics.score(labels, scores, outputs)
    as_int = metrics.score(labels.astype(int), scores.astype(np.float32), outputs.astype(np.uint8))
    for name in metrics.HEADLINE:
        assert as_int[name] == pytest.approx(as_bool[name], abs=1e-6)


# ---------------------------------------------------------------------------------------------------
# Bootstrap


def test_bootstrap_intervals_cover_the_estimate_and_are_seeded():
    labels, scores, outputs = random_case(4, records=300)
    point = metrics.score(labels, scores, outputs)
    first = metrics.bootstrap(labels, scores, outputs, resamples=200, seed=3)
    again = metrics.bootstrap(labels, scores, outputs, resamples=200, seed=3)
    assert first == again
    for name in metrics.HEADLINE:
        low, high = first[name]
        assert low <= point[name] <= high
        if 0 < point[name] < 1:
            assert high - low > 0


@pytest.mark.parametrize("seed", [11, 12, 13, 14])
def test_bootstrap_resample_equals_scoring_the_resampled_records(seed):
    """With one resample, the multiplicity shortcut must give the same numbers as scoring the copy
    (small data: some resamples miss every positive of a rare class)."""
    labels, scores, outputs = random_case(6, records=40)
    intervals = metrics.bootstrap(labels, scores, outputs, resamples=1, seed=seed, chunk=1)
    rng = np.random.default_rng(seed)
    index = rng.integers(0, len(labels), len(labels))
    direct = metrics.score(labels[index], scores[index], outputs[index])
    for name in metrics.HEADLINE:
        assert intervals[name][0] == pytest.approx(direct[name], abs=1e-9)


# ---------------------------------------------------------------------------------------------------
# Input checks


def test_rejects_bad_input_with_clear_messages():
    labels, scores, outputs = random_case(0, records=10)
    with pytest.raises(ValueError, match=r"scores has shape \(9, 26\) but labels have shape \(10, 26\)"):
        metrics.score(labels, scores[:9], outputs)
    bad = scores.copy()
    bad[2, 5] = np.nan
    with pytest.raises(ValueError, match="NaN or infinite value.*record 2, class 5"):
        metrics.score(labels, bad, outputs)
    with pytest.raises(ValueError, match="labels must be boolean"):
        metrics.score(labels * 2, scores, outputs)
    with pytest.raises(ValueError, match="predictions must be boolean"):
        metrics.score(labels, scores, scores)
    with pytest.raises(ValueError, match="2-D array"):
        metrics.score(labels[0], scores[0], outputs[0])
    with pytest.raises(ValueError, match="no records"):
        metrics.score(labels[:0], scores[:0], outputs[:0])
    with pytest.raises(ValueError, match="the challenge weights need 26"):
        metrics.score(labels[:, :5], scores[:, :5], outputs[:, :5])
    with pytest.raises(ValueError, match=r"weights have shape \(3, 3\), expected \(26, 26\)"):
        metrics.score(labels, scores, outputs, weights=np.eye(3))
    with pytest.raises(ValueError, match="resamples must be at least 1"):
        metrics.bootstrap(labels, scores, outputs, resamples=0)
