import dataclasses

import numpy as np
import pytest
from records_factory import ecg_like, write_record
from scipy import signal as sps

from leadattn.data import (
    FLAT_MV,
    PreprocessConfig,
    Record,
    RecordError,
    output_length,
    preprocess,
    preprocess_record,
    preprocess_records,
    read_record,
)
from leadattn.data.preprocess import MV_UNIT, PAD_SECONDS, resample_ratio
from leadattn.leads import LEADS

MV = PreprocessConfig(clip_mv=None)  # the default normalisation, without clipping: output = mV / 0.1
LIMB = [LEADS.index(lead) for lead in ("I", "II", "III", "aVR", "aVL", "aVF")]


def _tone(freq, fs, seconds, n_leads=12):
    t = np.arange(int(fs * seconds)) / fs
    return np.tile(np.sin(2 * np.pi * freq * t), (n_leads, 1))


def _reference(signal, fs, config):
    """The preprocessing written as plain scipy calls on a record padded as leadattn pads it: odd
    reflection of PAD_SECONDS on each side, polyphase resampling, forward-backward Butterworth
    band-pass and notches, the padding cut off again."""
    signal = np.asarray(signal, dtype=np.float64)
    if config.max_seconds is not None:
        signal = signal[:, : int(round(config.max_seconds * fs))]
    up, down = resample_ratio(fs, config.fs)
    samples = signal.shape[1]
    pad = int(round(PAD_SECONDS * fs))
    pad -= pad % down
    signal = np.concatenate(
        [2 * signal[:, :1] - signal[:, pad:0:-1], signal, 2 * signal[:, -1:] - signal[:, -2 : -pad - 2 : -1]],
        axis=1,
    )
    if up != down:
        signal = sps.resample_poly(signal, up, down, axis=1)
    if config.bandpass is not None:
        low, high = config.bandpass
        sos = sps.butter(
            config.filter_order, (low, min(high, 0.45 * config.fs)), "bandpass", fs=config.fs, output="sos"
        )
        signal = sps.sosfiltfilt(sos, signal, axis=1, padlen=int(config.fs))
    for mains in config.notch:
        b, a = sps.iirnotch(mains, 30.0, fs=config.fs)
        signal = sps.filtfilt(b, a, signal, axis=1, padlen=int(config.fs))
    begin = pad * up // down
    signal = signal[:, begin : begin + -(-samples * up // down)]
    if config.clip_mv is not None:
        signal = np.clip(signal, -config.clip_mv, config.clip_mv)
    if config.normalise == "lead":
        return (signal - signal.mean(axis=1, keepdims=True)) / signal.std(axis=1, keepdims=True)
    if config.normalise == "record":
        return signal / np.median(signal.std(axis=1))
    return signal / MV_UNIT


@pytest.mark.parametrize("fs", [257, 500, 1000])
def test_resampling_keeps_frequency_and_length(fs):
    config = dataclasses.replace(MV, bandpass=None)
    x = preprocess(_tone(5.0, fs, 12), fs, config)
    assert x.shape == (12, output_length(int(fs * 12), fs, config)) and x.dtype == np.float32
    spectrum = np.abs(np.fft.rfft(x[0]))
    assert np.fft.rfftfreq(x.shape[1], 1 / 500)[spectrum.argmax()] == pytest.approx(5.0, abs=0.1)


def test_bandpass_removes_wander_and_mains_keeps_qrs_band():
    fs = 500
    wander = preprocess(_tone(0.05, fs, 20) + 2.0, fs, MV) * MV_UNIT
    mains = preprocess(_tone(60.0, fs, 20), fs, MV) * MV_UNIT
    qrs = preprocess(_tone(10.0, fs, 20), fs, MV) * MV_UNIT
    assert np.abs(wander[:, 500:-500]).max() < 0.05
    assert np.abs(mains[:, 2000:-2000]).max() < 0.01  # 60 Hz mains, away from the edge transients
    assert np.abs(qrs[:, 500:-500]).max() == pytest.approx(1.0, abs=0.05)


@pytest.mark.parametrize("normalise", ["mv", "record", "lead"])
@pytest.mark.parametrize(("fs", "seconds"), [(500, 10), (250, 10), (257, 12.5), (1000, 7.3)])
def test_frequency_domain_filtering_equals_the_plain_scipy_pipeline(normalise, fs, seconds):
    """One FFT pass gives what polyphase resampling and forward-backward filters give: to 1 % of
    the signal's range everywhere, 0.2 % a second away from the ends (the rest is the polyphase
    filter's own ripple and edge transients)."""
    signal = ecg_like(samples=int(fs * seconds), fs=fs, seed=3) * 2 + 0.4
    config = PreprocessConfig(normalise=normalise)
    expected = _reference(signal, fs, config)
    got = preprocess(signal, fs, config)
    scale = np.abs(expected).max()
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-2 * scale)
    np.testing.assert_allclose(got[:, 500:-500], expected[:, 500:-500], rtol=0, atol=2e-3 * scale)


def test_records_preprocessed_together_equal_records_preprocessed_alone(records_dir):
    records = [read_record(p) for p in sorted(records_dir.glob("*.hea"))]
    together = preprocess_records(records)
    for record, (x, mask) in zip(records, together):
        alone, alone_mask = preprocess_record(record)
        np.testing.assert_array_equal(x, alone, err_msg=record.name)
        np.testing.assert_array_equal(mask, alone_mask)


@pytest.mark.parametrize("normalise", ["mv", "record"])
def test_voltage_keeping_normalisations_keep_the_limb_lead_identities(records_dir, normalise):
    for name in ("E07500", "JS20004", "HR06000", "S0001"):
        x, _ = preprocess_record(read_record(records_dir / name), PreprocessConfig(normalise=normalise))
        i, ii, iii, avr, avl, avf = x[LIMB]
        tol = 0.05  # 5 uV in mV units (about 7 uV in record units); the records' ADC rounding is 1-2 uV
        np.testing.assert_allclose(iii, ii - i, atol=tol, err_msg=name)
        np.testing.assert_allclose(avr, -(i + ii) / 2, atol=tol, err_msg=name)
        np.testing.assert_allclose(avf, ii - i / 2, atol=tol, err_msg=name)
    x, _ = preprocess_record(read_record(records_dir / "E07500"), PreprocessConfig(normalise="lead"))
    assert np.abs(x[2] - (x[1] - x[0])).max() > 0.5  # per-lead z-scoring breaks them


def test_mv_normalisation_keeps_voltage_between_records_and_record_normalisation_between_leads():
    signal = ecg_like()
    small = preprocess(signal * 0.25, 500)
    large = preprocess(signal, 500)
    np.testing.assert_allclose(small, large * 0.25, rtol=1e-5, atol=1e-6)
    record_small = preprocess(signal * 0.25, 500, PreprocessConfig(normalise="record"))
    record_large = preprocess(signal, 500, PreprocessConfig(normalise="record"))
    np.testing.assert_allclose(record_small, record_large, rtol=1e-4, atol=1e-5)
    ratio = large.std(axis=1) / record_large.std(axis=1)  # one scale for every lead
    np.testing.assert_allclose(ratio, ratio[0], rtol=1e-4)
    lead = preprocess(signal, 500, PreprocessConfig(normalise="lead"))
    np.testing.assert_allclose(lead.std(axis=1), 1.0, atol=1e-4)
    np.testing.assert_allclose(lead.mean(axis=1), 0.0, atol=1e-4)


def test_clipping_bounds_artefacts():
    signal = ecg_like()
    signal[3, 2000:2010] = 40.0  # a 40 mV electrode artefact
    x = preprocess(signal, 500)
    assert np.abs(x).max() == pytest.approx(10.0 / MV_UNIT)
    assert np.abs(preprocess(signal, 500, MV)).max() > 20.0 / MV_UNIT


def test_flat_leads_are_masked_absent_and_zero(records_dir, tmp_path):
    record = read_record(records_dir / "JS20004")  # V2, V4 and V6 exactly flat in the source
    for normalise in ("mv", "record", "lead"):
        x, mask = preprocess_record(record, PreprocessConfig(normalise=normalise))
        assert [LEADS[i] for i in np.flatnonzero(~mask)] == ["V2", "V4", "V6"]
        assert not x[~mask].any() and x[mask].std(axis=1).min() > 0
    signal = ecg_like()
    rng = np.random.default_rng(0)
    signal[4] = 0.7  # constant
    signal[7] = 0.3 + rng.integers(-1, 2, signal.shape[1]) * 0.001  # +-1 ADC unit of noise at 1000 units/mV
    signal[9] *= 0.2 * FLAT_MV / np.ptp(signal[9])  # a real shape, but below the threshold
    noisy = read_record(write_record(tmp_path, "F1", signal))
    for normalise in ("mv", "lead"):
        x, mask = preprocess_record(noisy, PreprocessConfig(normalise=normalise))
        assert [LEADS[i] for i in np.flatnonzero(~mask)] == ["aVL", "V2", "V4"]
        assert not x[~mask].any()
    assert not preprocess(signal, 500, PreprocessConfig(normalise="lead"))[[4, 7, 9]].any()


def test_a_record_flat_in_every_lead_is_an_error_of_its_own(tmp_path):
    path = write_record(tmp_path, "F2", np.full((12, 5000), 0.25))
    with pytest.raises(RecordError, match="F2: every lead is flat") as error:
        read_record(path)
    assert error.value.kind == "flat"
    record = Record("F3", np.zeros((3, 5000), np.float32), 500.0, ("I", "II", "V2"), None, None, (), path)
    with pytest.raises(RecordError, match="F3: every lead is flat") as error:
        preprocess_record(record)
    assert error.value.kind == "flat"


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
    with pytest.raises(ValueError, match="normalise must be one of mv, record, lead"):
        PreprocessConfig(normalise="zscore")


def test_short_record_error_names_the_record(tmp_path):
    record = read_record(write_record(tmp_path, "S2", ecg_like(samples=300)))
    with pytest.raises(RecordError, match="S2: 0.60 s of signal"):
        preprocess_record(record)


def test_config_round_trip_and_settings_saved_before_normalise():
    config = PreprocessConfig(fs=250, bandpass=(1.0, 40.0), normalise="record", max_seconds=None)
    assert PreprocessConfig.from_dict(config.to_dict()) == config
    old = {
        "fs": 500.0,
        "bandpass": [0.5, 45.0],
        "filter_order": 3,
        "notch": [50.0, 60.0],
        "standardise": True,
    }
    assert PreprocessConfig.from_dict(old) == PreprocessConfig(normalise="lead", clip_mv=None)
    with pytest.raises(ValueError, match="standardise=false"):
        PreprocessConfig.from_dict({**old, "standardise": False})
