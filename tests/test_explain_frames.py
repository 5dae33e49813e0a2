"""Tests for explain.frames: token and rate mapping, frame layout, validation against the record."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
from explain_helpers import make_record

from explain.frames import TIME_INDEX, check_frame, make_frame, to_record_frame, tokens_to_samples
from explain.inputs import prepare_input
from leadattn.data import PreprocessConfig
from leadattn.leads import LEADS
from leadattn.models import TokenGeometry


def test_tokens_to_samples_keeps_each_rows_mass_and_peaks_at_the_token_centre():
    geometry = TokenGeometry(stride=8, receptive_field=17, offset=-4, num_tokens=10)
    tokens = np.zeros((2, 10))
    tokens[0, 3] = 1.0
    tokens[1] = 0.1
    samples = tokens_to_samples(tokens, geometry, 80, mass=True)
    assert samples.shape == (2, 80)
    np.testing.assert_allclose(samples.sum(axis=1), tokens.sum(axis=1))
    assert np.argmax(samples[0]) == -4 + 3 * 8 + 8  # centre of token 3's receptive field
    assert np.ptp(samples[1][8:-8]) < 1e-12  # a uniform token map is uniform over samples


def test_tokens_to_samples_interpolates_values_between_centres():
    geometry = TokenGeometry(stride=10, receptive_field=1, offset=0, num_tokens=3)
    samples = tokens_to_samples(np.array([[0.0, 1.0, 3.0]]), geometry, 30, mass=False)
    assert samples[0, 10] == pytest.approx(1.0)
    assert samples[0, 15] == pytest.approx(2.0)
    assert samples[0, 25] == pytest.approx(3.0)  # held past the last centre


def test_frame_has_the_records_leads_samples_and_time_index():
    record = make_record(seconds=2.0, leads=("I", "II", "V2"))
    inp = prepare_input(record, PreprocessConfig())
    values = np.arange(12)[:, None] * np.ones((12, inp.samples))
    frame = to_record_frame(values, inp, mass=False, method="test")
    assert list(frame.columns) == ["I", "II", "V2"]
    assert frame.shape == (1000, 3)
    assert frame.index.name == TIME_INDEX
    np.testing.assert_allclose(frame.index[:3], [0.0, 0.002, 0.004])
    np.testing.assert_allclose(frame["V2"], LEADS.index("V2"))
    assert frame.attrs["record"] == record.name and frame.attrs["method"] == "test"


def test_frame_of_a_record_at_another_rate_maps_back_to_its_samples():
    record = make_record(seconds=3.0, fs=250.0)
    inp = prepare_input(record, PreprocessConfig())
    assert inp.samples == 1500
    values = np.random.default_rng(0).uniform(size=(12, inp.samples))
    frame = to_record_frame(values, inp, mass=True)
    assert frame.shape == (750, 12)
    np.testing.assert_allclose(frame.index[1], 1 / 250)
    np.testing.assert_allclose(frame.sum().to_numpy(), values.sum(axis=1), rtol=1e-9)


def test_samples_past_max_seconds_are_nan():
    record = make_record(seconds=4.0)
    inp = prepare_input(record, dataclasses.replace(PreprocessConfig(), max_seconds=2.5))
    frame = to_record_frame(np.ones((12, inp.samples)), inp, mass=False)
    assert len(frame) == 2000
    assert frame.iloc[:1250].notna().all().all()
    assert frame.iloc[1250:].isna().all().all()


def test_check_frame_reorders_and_rejects_frames_of_other_records():
    record = make_record(seconds=1.0, leads=("I", "II", "V1"))
    frame = make_frame(np.zeros((2, 500)), ["V1", "I"], 500.0)
    assert list(check_frame(frame, record).columns) == ["I", "V1"]
    with pytest.raises(ValueError, match=r"T0001: map column\(s\) V6 are not leads of the record"):
        check_frame(make_frame(np.zeros((1, 500)), ["V6"], 500.0), record)
    with pytest.raises(ValueError, match="the map has 499 rows, the record 500 samples"):
        check_frame(make_frame(np.zeros((1, 499)), ["I"], 500.0), record)
    with pytest.raises(ValueError, match="appear twice"):
        check_frame(pd.DataFrame(np.zeros((500, 2)), columns=["I", "I"]), record)
    with pytest.raises(ValueError, match="must be numeric"):
        check_frame(pd.DataFrame({"I": ["a"] * 500}), record)
