"""The one preprocessing step every part of leadattn uses: a record is always seen the same way.

Order: truncate to ``max_seconds`` (at the source rate, so a 30 min record is not resampled whole),
mark flat leads absent, band-limited resampling to ``fs`` with a zero-phase Butterworth band-pass and
zero-phase notches at the mains frequencies (50 Hz and 60 Hz sources are both in the data), clipping and
normalisation, then placement into the 12 canonical lead slots (absent and flat leads stay zero and are
marked absent in the mask).

Normalisation keeps voltage by default (``normalise="mv"``): every lead of every record is in units of
0.1 mV (one small square of ECG paper at 10 mm/mV), so low voltage, lead-to-lead ratios and the
limb-lead identities (III = II - I, aVR = -(I + II) / 2, ...) survive preprocessing. ``"record"``
divides a record by one robust scale (the median over its leads of each lead's standard deviation),
keeping ratios between leads but not between records; ``"lead"`` z-scores every lead on its own, which
removes voltage (the setting of models trained before the other two existed).

Resampling and filtering happen together in the frequency domain (one real FFT of the record's rows
and one inverse), which costs a tenth of a polyphase resampler and forward-backward recursive filters
and is closer to the ideal zero-phase filter inside the record (see :func:`_filter`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache
from typing import Any, Literal

import numpy as np
from scipy import fft as sp_fft
from scipy import signal as sps

from leadattn.config import Config, bounded
from leadattn.data.records import Record, RecordError, flat_leads
from leadattn.leads import LEADS

_MIN_SECONDS = 1.0
MV_UNIT = 0.1
"""Millivolts per unit of model input under ``normalise="mv"``."""
NORMALISATIONS = ("mv", "record", "lead")


@dataclass(frozen=True)
class PreprocessConfig(Config):
    """How a raw signal becomes model input.

    ``bandpass`` None skips filtering; ``max_seconds`` None keeps whole records (the cache and training
    keep the first ``max_seconds``; evaluation and explanation may pass None to see long records whole).
    ``normalise`` is one of :data:`NORMALISATIONS` (see the module docstring); ``clip_mv`` bounds the
    filtered signal to +-``clip_mv`` mV before normalisation, so electrode artefacts of tens of mV
    cannot dominate a record (None: no clipping).
    """

    section = "preprocess"

    fs: float = bounded(500.0, gt=0)
    bandpass: tuple[float, float] | None = (0.5, 45.0)
    filter_order: int = bounded(3, ge=1)
    notch: tuple[float, ...] = (50.0, 60.0)
    normalise: Literal["mv", "record", "lead"] = "mv"
    clip_mv: float | None = bounded(10.0, gt=0)
    max_seconds: float | None = bounded(60.0, gt=0)

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.normalise not in NORMALISATIONS:
            raise ValueError(f"normalise must be one of {', '.join(NORMALISATIONS)}, got {self.normalise!r}")

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> PreprocessConfig:
        """Settings from :meth:`to_dict`; settings saved before ``normalise`` existed (``standardise``)
        read as the per-lead z-score without clipping that they meant."""
        values = dict(values)
        if "standardise" in values:
            if not values.pop("standardise"):
                raise ValueError(
                    "preprocessing without standardisation (standardise=false) is no longer offered"
                )
            values.setdefault("normalise", "lead")
            values.setdefault("clip_mv", None)
        return super().from_dict(values)


@lru_cache(maxsize=256)
def resample_ratio(fs_in: float, fs_out: float) -> tuple[int, int]:
    """Smallest (up, down) with up / down = fs_out / fs_in (257 Hz -> 500 Hz is 500 / 257)."""
    ratio = Fraction(fs_out / fs_in).limit_denominator(10_000)
    return ratio.numerator, ratio.denominator


def output_length(samples: int, fs: float, config: PreprocessConfig) -> int:
    """Number of samples :func:`preprocess` returns for a record of ``samples`` at ``fs``."""
    if config.max_seconds is not None:
        samples = min(samples, int(round(config.max_seconds * fs)))
    up, down = resample_ratio(fs, config.fs)
    return -(-samples * up // down)


PAD_SECONDS = 2.0
"""Odd-extension padding on each side of a record before filtering. The band-pass's slowest transient
(its 0.5 Hz high-pass, applied twice) has died out within it, so neither the record's ends nor the
circular wrap of the FFT reach the record itself."""


@lru_cache(maxsize=64)
def _response(samples: int, bins: int, config: PreprocessConfig) -> np.ndarray:
    """Squared magnitude response of the band-pass and the notches at the first ``bins`` frequencies of
    a ``samples``-point FFT at ``config.fs``: multiplying a spectrum by it once is filtering forward
    and backward (zero phase). Computed once per length and setting."""
    freqs = np.arange(bins) * config.fs / samples
    response = np.ones(bins)
    if config.bandpass is not None:
        low, high = config.bandpass
        sos = sps.butter(
            config.filter_order, (low, min(high, 0.45 * config.fs)), "bandpass", fs=config.fs, output="sos"
        )
        response *= np.abs(sps.sosfreqz(sos, worN=freqs, fs=config.fs)[1]) ** 2
    for mains in config.notch:
        if mains < 0.5 * config.fs:
            b, a = sps.iirnotch(mains, 30.0, fs=config.fs)
            response *= np.abs(sps.freqz(b, a, worN=freqs, fs=config.fs)[1]) ** 2
    return response.astype(np.float32)


def _filter(rows: np.ndarray, fs: float, config: PreprocessConfig) -> np.ndarray:
    """Resample float rows [r, n] at ``fs`` to ``config.fs`` and filter them, in one pass through the
    frequency domain.

    The rows are extended by :data:`PAD_SECONDS` of odd reflection on each side (as
    ``scipy.signal.filtfilt`` pads), transformed once, multiplied by the filters' squared magnitude
    response (zero phase) and transformed back at the output rate: the spectrum is cut or extended
    to the new length, which is ideal band-limited resampling. One forward and one inverse real FFT
    per record replace a polyphase filter and six recursive passes; inside the record the result is
    the forward-backward filter's steady state.
    """
    up, down = resample_ratio(fs, config.fs)
    count, samples = rows.shape
    pad = min(int(round(PAD_SECONDS * fs)), samples - 1)
    pad -= pad % down  # the record then starts on an output sample
    blocks = sp_fft.next_fast_len(-(-(samples + 2 * pad) // down), real=True)
    n_in, n_out = blocks * down, blocks * up
    # One float32 buffer of the FFT's length: reflection, record, reflection, zeros.
    padded = np.empty((count, n_in), dtype=np.float32)
    end = samples + 2 * pad
    np.subtract(2 * rows[:, :1], rows[:, pad:0:-1], out=padded[:, :pad])
    padded[:, pad : pad + samples] = rows
    np.subtract(2 * rows[:, -1:], rows[:, -2 : -pad - 2 : -1], out=padded[:, pad + samples : end])
    padded[:, end:] = 0.0
    spectrum = sp_fft.rfft(padded, axis=1, overwrite_x=True)
    bins = min(n_in, n_out) // 2 + 1
    if config.bandpass is not None or config.notch:
        spectrum[:, :bins] *= _response(n_out, bins, config)
    if n_out != n_in:
        resized = np.zeros((count, n_out // 2 + 1), dtype=spectrum.dtype)
        resized[:, :bins] = spectrum[:, :bins]
        spectrum = resized
    out = sp_fft.irfft(spectrum, n_out, axis=1, overwrite_x=True)
    if n_out != n_in:
        out *= n_out / n_in
    begin = pad * up // down
    return out[:, begin : begin + -(-samples * up // down)]


def _normalise(rows: np.ndarray, config: PreprocessConfig) -> np.ndarray:
    """Clip and scale the filtered rows of one record (every row a present, non-flat lead), in place."""
    if config.clip_mv is not None:
        np.clip(rows, -config.clip_mv, config.clip_mv, out=rows)
    if config.normalise == "mv":
        rows *= np.float32(1.0 / MV_UNIT)
        return rows
    if config.normalise == "record":
        return rows / max(float(np.median(rows.std(axis=1))), 1e-6)
    std = rows.std(axis=1, keepdims=True)
    small = std < 1e-6
    return np.where(small, 0.0, (rows - rows.mean(axis=1, keepdims=True)) / np.where(small, 1.0, std))


@dataclass
class _Pending:
    """One record between validation and output: its truncated signal and the rows to keep."""

    signal: np.ndarray
    fs: float
    leads: Sequence[str]
    keep: np.ndarray


def _check(signal: np.ndarray, fs: float, config: PreprocessConfig, leads: Sequence[str]) -> _Pending:
    signal = np.asarray(signal)
    if signal.ndim != 2 or signal.shape[0] != len(leads):
        raise ValueError(f"signal of shape {signal.shape} does not match {len(leads)} leads")
    if not fs > 0:
        raise ValueError(f"sampling rate must be positive, got {fs}")
    if signal.shape[1] < _MIN_SECONDS * fs:
        raise ValueError(f"record is {signal.shape[1] / fs:.2f} s long; at least {_MIN_SECONDS} s needed")
    if config.max_seconds is not None:
        signal = signal[:, : int(round(config.max_seconds * fs))]
    if not np.isfinite(signal).all():
        raise ValueError("signal has NaN or infinite samples")
    return _Pending(signal, fs, leads, ~flat_leads(signal))


def _run(p: _Pending, config: PreprocessConfig) -> tuple[np.ndarray, np.ndarray]:
    """Model input [12, n] float32 and present-lead mask [12] of one checked record."""
    up, down = resample_ratio(p.fs, config.fs)
    x = np.zeros((len(LEADS), -(-p.signal.shape[1] * up // down)), dtype=np.float32)
    mask = np.zeros(len(LEADS), dtype=bool)
    slots = [LEADS.index(lead) for lead, keep in zip(p.leads, p.keep) if keep]
    if slots:
        rows = p.signal if len(slots) == len(p.leads) else p.signal[p.keep]
        in_order = slots == list(range(len(LEADS)))  # all 12, canonical order: no fancy indexing
        x[slice(None) if in_order else slots] = _normalise(_filter(rows, p.fs, config), config)
        mask[slots] = True
    return x, mask


def preprocess(
    signal: np.ndarray,
    fs: float,
    config: PreprocessConfig = PreprocessConfig(),
    leads: Sequence[str] = LEADS,
) -> np.ndarray:
    """Turn a signal [len(leads), samples] in mV at ``fs`` into model input float32 [12, n].

    Flat leads (see :func:`~leadattn.data.flat_leads`) come out as zeros, like absent leads.
    Raises ``ValueError`` for non-finite samples, a non-positive rate, or fewer than 1 s of signal.
    """
    return _run(_check(signal, fs, config, leads), config)[0]


def preprocess_records(
    records: Sequence[Record], config: PreprocessConfig = PreprocessConfig()
) -> list[tuple[np.ndarray, np.ndarray] | RecordError]:
    """:func:`preprocess_record` of several records; a record that cannot be used gives its
    :class:`RecordError` in its place instead of raising it."""
    results: list[tuple[np.ndarray, np.ndarray] | RecordError | None] = [None] * len(records)
    for i, record in enumerate(records):
        if record.signal.shape[1] < _MIN_SECONDS * record.fs:
            message = f"{record.duration:.2f} s of signal; at least {_MIN_SECONDS:g} s needed"
            results[i] = RecordError(record.name, "empty", message)
            continue
        try:
            p = _check(record.signal, record.fs, config, record.leads)
        except ValueError as error:
            results[i] = RecordError(record.name, "non_finite", str(error))
            continue
        if not p.keep.any():
            results[i] = RecordError(record.name, "flat", "every lead is flat (no signal to read)")
            continue
        results[i] = _run(p, config)
    return results


def preprocess_record(
    record: Record, config: PreprocessConfig = PreprocessConfig()
) -> tuple[np.ndarray, np.ndarray]:
    """Preprocess a :class:`~leadattn.data.Record`: model input [12, n] and the present-lead mask [12]
    (leads in the record and not flat).

    Errors are raised as :class:`~leadattn.data.RecordError` naming the record.
    """
    result = preprocess_records([record], config)[0]
    if isinstance(result, RecordError):
        raise result
    return result
