import numpy as np
import pytest
from records_factory import ecg_like, write_record

from leadattn.data import (
    PreprocessConfig,
    RecordError,
    output_length,
    preprocess,
    preprocess_record,
    read_record,
)
from leadattn.leads import LEADS


def _tone(freq, fs, seconds, n_leads=12):
    t = np.arange(int(fs * seconds)) / fs
    return np.tile(np.sin(2 * np.pi * freq * t), (n_leads, 1))


@pytest.mark.parametrize("fs", [257, 500, 1000])
def test_resampling_keeps_frequency_and_length(fs):
    config = PreprocessConfig(bandpass=None, standardise=False)
    x = preprocess(_tone(5.0, fs, 12), fs, config)
    assert x.shape == (12, output_length(int(fs * 12), fs, config)) and x.dtype == np.float32
    spectrum = np.abs(np.fft.rfft(x[0]))
    assert np.fft.rfftfreq(x.shape[1], 1 / 500)[spectrum.argmax()] == pytest.approx(5.0, abs=0.1)


def test_bandpass_removes_wander_and_mains_keeps_qrs_band():
    fs = 500
    config = PreprocessConfig(standardise=False)
    wander = preprocess(_tone(0.05, fs, 20) + 2.0, fs, config)
    mains = preprocess(_tone(60.0, fs, 20), fs, config)
    qrs = preprocess(_tone(10.0, fs, 20), fs, config)
    assert np.abs(wander[:, 500:-500]).max() < 0.05
    assert np.abs(mains[:, 2000:-2000]).max() < 0.01  # 60 Hz mains, away from the edge transients
    assert np.abs(qrs[:, 500:-500]).max() == pytest.approx(1.0, abs=0.05)


def test_standardisation_and_flat_leads():
    signal = ecg_like() * 3 + 1
    signal[4] = 0.7  # a flat lead becomes zeros instead of dividing by zero
    x = preprocess(signal, 500)
    np.testing.assert_allclose(np.delete(x, 4, 0).std(axis=1), 1.0, atol=1e-4)
    np.testing.assert_allclose(np.delete(x, 4, 0).mean(axis=1), 0.0, atol=1e-4)
    assert not x[4].any()


def test_long_records_are_truncated_before_resampling():
    config = PreprocessConfig(max_seconds=10)
    assert preprocess(_tone(5, 257, 40), 257, config).shape == (12, 5000)
    assert output_length(257 * 1800, 257, PreprocessConfig(max_seconds=None)) == 500 * 1800


def test_absent_leads_are_zero_and_masked(tmp_path):
    record = read_record(write_record(tmp_path, "S1", ecg_like(n_leads=3), leads=["I", "II", "V2"]))
    x, mask = preprocess_record(record)
    assert x.shape == (12, 5000)
    assert [LEADS[i] for i in np.flatnonzero(mask)] == ["I", "II", "V2"]
    assert not x[~mask].any() and x[mask].any()


def test_bad_input():
    with pytest.raises(ValueError, match="at least 1.0 s"):
        preprocess(np.zeros((12, 100)), 500)
    with pytest.raises(ValueError, match="NaN"):
        preprocess(np.full((12, 1000), np.nan), 500)
    with pytest.raises(ValueError, match="does not match 12 leads"):
        preprocess(np.zeros((3, 1000)), 500)


def test_short_record_error_names_the_record(tmp_path):
    record = read_record(write_record(tmp_path, "S2", ecg_like(samples=300)))
    with pytest.raises(RecordError, match="S2: 0.60 s of signal"):
        preprocess_record(record)


def test_config_round_trip():
    config = PreprocessConfig(fs=250, bandpass=(1.0, 40.0), max_seconds=None)
    assert PreprocessConfig.from_dict(config.to_dict()) == config
