"""The one preprocessing step every part of leadattn uses: a record is always seen the same way.

Order: truncate to ``max_seconds`` (at the source rate, so a 30 min record is not resampled whole),
mark flat leads absent, polyphase resampling to ``fs``, zero-phase Butterworth band-pass, zero-phase
notches at the mains frequencies (50 Hz and 60 Hz sources are both in the data), clipping and
normalisation, then placement into the 12 canonical lead slots (absent and flat leads stay zero and are
marked absent in the mask).

Normalisation keeps voltage by default (``normalise="mv"``): every lead of every record is in units of
0.1 mV (one small square of ECG paper at 10 mm/mV), so low voltage, lead-to-lead ratios and the
limb-lead identities (III = II - I, aVR = -(I + II) / 2, ...) survive preprocessing. ``"record"``
divides a record by one robust scale (the median over its leads of each lead's standard deviation),
keeping ratios between leads but not between records; ``"lead"`` z-scores every lead on its own, which
removes voltage (the setting of models trained before the other two existed).

Filtering is the cost of preprocessing: six recursive passes over every sample (the band-pass and the
two notches, each forward and backward). Designs are made once per setting, and the passes run on the
record's rows at once without the per-call checks of ``scipy.signal.sosfiltfilt``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache
from typing import Any, Literal

import numpy as np
from scipy import signal as sps

from leadattn.config import Config
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

    fs: float = 500.0
    bandpass: tuple[float, float] | None = (0.5, 45.0)
    filter_order: int = 3
    notch: tuple[float, ...] = (50.0, 60.0)
    normalise: Literal["mv", "record", "lead"] = "mv"
    clip_mv: float | None = 10.0
    max_seconds: float | None = 60.0

    def __post_init__(self) -> None:
        if self.normalise not in NORMALISATIONS:
            raise ValueError(f"normalise must be one of {', '.join(NORMALISATIONS)}, got {self.normalise!r}")
        if self.clip_mv is not None and not self.clip_mv > 0:
            raise ValueError(f"clip_mv must be positive or None, got {self.clip_mv}")

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


@lru_cache(maxsize=16)
def _resampling_filter(up: int, down: int) -> np.ndarray:
    """The anti-aliasing FIR filter ``resample_poly`` designs by default, designed once per ratio."""
    max_rate = max(up, down)
    return sps.firwin(2 * 10 * max_rate + 1, 1.0 / max_rate, window=("kaiser", 5.0))


@lru_cache(maxsize=16)
def _bandpass(order: int, low: float, high: float, fs: float) -> tuple[np.ndarray, np.ndarray, int]:
    """Butterworth band-pass sections, their steady-state initial conditions and the padding length
    ``scipy.signal.sosfiltfilt`` uses, designed once per setting (a design costs as much as filtering)."""
    sos = sps.butter(order, (low, high), btype="bandpass", fs=fs, output="sos")
    taps = 2 * len(sos) + 1 - min(int((sos[:, 2] == 0).sum()), int((sos[:, 5] == 0).sum()))
    return sos, sps.sosfilt_zi(sos), 3 * taps


@lru_cache(maxsize=16)
def _notch(mains: float, fs: float) -> tuple[np.ndarray, np.ndarray]:
    """A quality-30 notch as one second-order section, and its steady-state initial conditions."""
    b, a = sps.iirnotch(mains, 30.0, fs=fs)
    sos = np.concatenate([b / a[0], a / a[0]])[None]
    return sos, sps.sosfilt_zi(sos)


def _zero_phase(sos: np.ndarray, zi: np.ndarray, rows: np.ndarray, padlen: int) -> np.ndarray:
    """Forward-backward filtering of every row, padded by odd extension, started in steady state.

    The same computation as ``scipy.signal.sosfiltfilt`` / ``filtfilt(method="pad")`` with this
    ``padlen``, without their per-call checks and axis shuffles.
    """
    if padlen:
        first, last = rows[:, :1], rows[:, -1:]
        rows = np.concatenate(
            [2 * first - rows[:, padlen:0:-1], rows, 2 * last - rows[:, -2 : -padlen - 2 : -1]], axis=1
        )
    y, _ = sps.sosfilt(sos, rows, axis=1, zi=zi[:, None, :] * rows[None, :, :1])
    y = y[:, ::-1]
    y, _ = sps.sosfilt(sos, y, axis=1, zi=zi[:, None, :] * y[None, :, :1])
    y = y[:, ::-1]
    return y[:, padlen : y.shape[1] - padlen] if padlen else y


def _filter(rows: np.ndarray, fs: float, config: PreprocessConfig) -> np.ndarray:
    """Resample and filter float64 rows [r, n] at ``fs`` (any number of rows of equal length)."""
    up, down = resample_ratio(fs, config.fs)
    if up != down:
        rows = sps.resample_poly(rows, up, down, axis=1, window=_resampling_filter(up, down))
    if config.bandpass is not None:
        low, high = config.bandpass
        sos, zi, padlen = _bandpass(config.filter_order, low, min(high, 0.45 * config.fs), config.fs)
        rows = _zero_phase(sos, zi, rows, padlen)
    for mains in config.notch:
        if mains < 0.5 * config.fs:
            sos, zi = _notch(mains, config.fs)
            rows = _zero_phase(sos, zi, rows, min(rows.shape[1] - 1, int(config.fs)))
    return rows


def _normalise(rows: np.ndarray, config: PreprocessConfig) -> np.ndarray:
    """Clip and scale the filtered rows of one record (every row a present, non-flat lead)."""
    if config.clip_mv is not None:
        rows = np.clip(rows, -config.clip_mv, config.clip_mv)
    if config.normalise == "mv":
        return rows / MV_UNIT
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
        x[slots] = _normalise(_filter(p.signal[p.keep].astype(np.float64), p.fs, config), config)
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
