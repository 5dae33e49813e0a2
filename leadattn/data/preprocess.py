"""The one preprocessing step every part of leadattn uses: a record is always seen the same way.

Order: truncate to ``max_seconds`` (at the source rate, so a 30 min record is not resampled whole),
polyphase resampling to ``fs``, zero-phase Butterworth band-pass, zero-phase notches at the mains
frequencies (50 Hz and 60 Hz sources are both in the data), per-lead z-score, then placement
into the 12 canonical lead slots (absent leads stay zero and are marked absent in the mask).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from fractions import Fraction
from functools import lru_cache

import numpy as np
from scipy import signal as sps

from leadattn.data.records import Record, RecordError
from leadattn.leads import LEADS

_MIN_SECONDS = 1.0


@dataclass(frozen=True)
class PreprocessConfig:
    """How a raw signal becomes model input.

    ``bandpass`` None skips filtering; ``max_seconds`` None keeps whole records (the cache and training
    keep the first ``max_seconds``; evaluation and explanation may pass None to see long records whole).
    """

    fs: float = 500.0
    bandpass: tuple[float, float] | None = (0.5, 45.0)
    filter_order: int = 3
    notch: tuple[float, ...] = (50.0, 60.0)
    standardise: bool = True
    max_seconds: float | None = 60.0

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> PreprocessConfig:
        values = dict(values)
        if values.get("bandpass") is not None:
            values["bandpass"] = tuple(float(v) for v in values["bandpass"])
        values["notch"] = tuple(float(v) for v in values.get("notch", ()))
        return cls(**values)


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
def _bandpass(order: int, low: float, high: float, fs: float) -> np.ndarray:
    """Butterworth band-pass sections, designed once per setting (a design costs as much as filtering)."""
    return sps.butter(order, (low, high), btype="bandpass", fs=fs, output="sos")


def preprocess(
    signal: np.ndarray,
    fs: float,
    config: PreprocessConfig = PreprocessConfig(),
    leads: Sequence[str] = LEADS,
) -> np.ndarray:
    """Turn a signal [len(leads), samples] in mV at ``fs`` into model input float32 [12, n].

    Raises ``ValueError`` for non-finite samples, a non-positive rate, or fewer than 1 s of signal.
    """
    signal = np.asarray(signal, dtype=np.float64)
    if signal.ndim != 2 or signal.shape[0] != len(leads):
        raise ValueError(f"signal of shape {signal.shape} does not match {len(leads)} leads")
    if not fs > 0:
        raise ValueError(f"sampling rate must be positive, got {fs}")
    if signal.shape[1] < _MIN_SECONDS * fs:
        raise ValueError(f"record is {signal.shape[1] / fs:.2f} s long; at least {_MIN_SECONDS} s needed")
    if not np.isfinite(signal).all():
        raise ValueError("signal has NaN or infinite samples")
    if config.max_seconds is not None:
        signal = signal[:, : int(round(config.max_seconds * fs))]
    up, down = resample_ratio(fs, config.fs)
    if up != down:
        signal = sps.resample_poly(signal, up, down, axis=1)
    if config.bandpass is not None:
        low, high = config.bandpass
        sos = _bandpass(config.filter_order, low, min(high, 0.45 * config.fs), config.fs)
        signal = sps.sosfiltfilt(sos, signal, axis=1)
    for mains in config.notch:
        if mains < 0.5 * config.fs:
            b, a = sps.iirnotch(mains, 30.0, fs=config.fs)
            signal = sps.filtfilt(b, a, signal, axis=1, padlen=min(signal.shape[1] - 1, int(config.fs)))
    if config.standardise:
        std = signal.std(axis=1, keepdims=True)
        flat = std < 1e-6
        signal = np.where(flat, 0.0, (signal - signal.mean(axis=1, keepdims=True)) / np.where(flat, 1, std))
    out = np.zeros((len(LEADS), signal.shape[1]), dtype=np.float32)
    for row, lead in enumerate(leads):
        out[LEADS.index(lead)] = signal[row]
    return out


def preprocess_record(
    record: Record, config: PreprocessConfig = PreprocessConfig()
) -> tuple[np.ndarray, np.ndarray]:
    """Preprocess a :class:`~leadattn.data.Record`: model input [12, n] and the present-lead mask [12].

    Errors are raised as :class:`~leadattn.data.RecordError` naming the record.
    """
    if record.signal.shape[1] < _MIN_SECONDS * record.fs:
        raise RecordError(record.name, "empty", f"{record.duration:.2f} s of signal; at least 1 s needed")
    try:
        x = preprocess(record.signal, record.fs, config, record.leads)
    except ValueError as error:
        raise RecordError(record.name, "non_finite", str(error)) from None
    mask = np.array([lead in record.leads for lead in LEADS], dtype=bool)
    return x, mask
