"""Tests for explain.normalise: ranges, polarity, scope, smoothing and empty maps."""

from __future__ import annotations

import numpy as np
import pytest

from explain.frames import make_frame
from explain.normalise import EmptyMapError, infer_polarity, normalise, smooth


def _frame(values, fs=100.0):
    frame = make_frame(np.asarray(values, dtype=float), ["I", "II"], fs)
    frame.attrs.update(record="R1", method="saliency", fs=fs)
    return frame


def test_signed_map_scales_into_minus_one_to_one_keeping_lead_ratios():
    frame = _frame([[0.0, -4.0, 2.0, 1.0], [0.5, 1.0, 0.0, 0.0]])
    out = normalise(frame)
    assert out.attrs["polarity"] == "signed"
    np.testing.assert_allclose(out["I"], [0.0, -1.0, 0.5, 0.25])
    np.testing.assert_allclose(out["II"], [0.125, 0.25, 0.0, 0.0])
    assert out.attrs["record"] == "R1"


def test_positive_map_and_per_lead_scope():
    frame = _frame([[0.0, 4.0, 2.0, 1.0], [0.5, 1.0, 0.0, 0.0]])
    assert infer_polarity(frame) == "positive"
    out = normalise(frame, scope="lead")
    assert out.attrs["polarity"] == "positive"
    np.testing.assert_allclose(out.max().to_numpy(), [1.0, 1.0])
    assert out.to_numpy().min() == 0.0


def test_absolute_values_and_explicit_polarity():
    frame = _frame([[0.0, -4.0, 2.0, 1.0], [0.5, 1.0, 0.0, 0.0]])
    out = normalise(frame, absolute=True)
    assert out.attrs["polarity"] == "positive"
    np.testing.assert_allclose(out["I"], [0.0, 1.0, 0.5, 0.25])
    with pytest.raises(ValueError, match="negative values; use polarity='signed' or absolute=True"):
        normalise(frame, polarity="positive")
    assert normalise(frame.abs(), polarity="signed").attrs["polarity"] == "signed"


def test_all_zero_or_missing_map_raises_empty_map_error_naming_it():
    with pytest.raises(EmptyMapError, match="R1 saliency: the map is zero everywhere"):
        normalise(_frame(np.zeros((2, 4))))
    with pytest.raises(EmptyMapError):
        normalise(_frame(np.full((2, 4), np.nan)))


def test_nan_samples_stay_nan_and_do_not_set_the_scale():
    out = normalise(_frame([[1.0, np.nan, 2.0, 0.0], [0.0, 0.0, 0.0, 0.0]]))
    assert np.isnan(out["I"].iloc[1])
    assert out["I"].max() == 1.0


def test_smoothing_is_a_centred_moving_average_over_seconds():
    values = np.zeros((2, 11))
    values[0, 5] = 3.0
    out = smooth(_frame(values), seconds=0.03)  # 3 samples at 100 Hz
    np.testing.assert_allclose(out["I"].iloc[4:7], [1.0, 1.0, 1.0])
    assert out["I"].sum() == pytest.approx(3.0)
    with pytest.raises(ValueError, match="must be positive"):
        smooth(_frame(values), seconds=0)


def test_bad_arguments_are_named():
    frame = _frame([[1.0, 2.0], [0.0, 1.0]])
    with pytest.raises(ValueError, match="scope must be one of"):
        normalise(frame, scope="beat")
    with pytest.raises(ValueError, match="polarity must be one of"):
        normalise(frame, polarity="negative")


def test_a_quantile_scale_clips_one_extreme_sample():
    values = np.zeros((2, 100))
    values[0, :50] = 1.0
    values[0, 99] = 50.0
    out = normalise(_frame(values), quantile=0.9)
    assert out["I"].iloc[0] == 1.0 and out["I"].iloc[99] == 1.0  # 50 is clipped to the scale of 1
    assert normalise(_frame(values))["I"].iloc[0] == pytest.approx(1 / 50)
    sparse = np.zeros((2, 100))
    sparse[1, 3] = 2.0
    assert normalise(_frame(sparse), quantile=0.5)["II"].iloc[3] == 1.0  # quantile 0 falls back to max
    with pytest.raises(ValueError, match="quantile must lie in"):
        normalise(_frame(values), quantile=0.0)
