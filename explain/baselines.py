"""Reference inputs for attribution methods and perturbation tests: what "no evidence" looks like.

A baseline provider turns a model input ``x`` ``[12, n]`` (preprocessed, standardised) into one or
more reference signals ``[k, 12, n]``. Attributions explain the difference between the record and
its baseline, so the choice matters:

* :class:`ZeroBaseline` - a flat line (the mean of a standardised lead).
* :class:`LowPassBaseline` - the record itself low-passed (zero-phase Butterworth, 3 Hz by default):
  slow waves stay roughly in place while the QRS complexes and other sharp features go, so the map
  shows what the sharp features contribute.
* :class:`SinusRhythmBaseline` - excerpts of records labelled normal sinus rhythm and nothing else,
  preprocessed the same way: the map shows what makes the record differ from a normal ECG.

Rows of leads absent from the input are zero in every baseline.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Protocol

import numpy as np
from scipy import signal as sps

from leadattn.data import PreprocessConfig, Record, RecordError, preprocess_record, read_header, read_record
from leadattn.labels import SINUS_RHYTHM_INDEX


class BaselineProvider(Protocol):
    """Anything that gives reference signals ``[k, 12, n]`` for an input ``[12, n]`` at ``fs``."""

    name: str

    def __call__(self, x: np.ndarray, mask: np.ndarray, fs: float) -> np.ndarray: ...


class ZeroBaseline:
    """All zeros."""

    name = "zeros"

    def __call__(self, x: np.ndarray, mask: np.ndarray, fs: float) -> np.ndarray:
        return np.zeros((1, *x.shape), dtype=np.float32)


class LowPassBaseline:
    """A zero-phase low-passed copy of the input (``cutoff_hz``, Butterworth of ``order``)."""

    name = "lowpass"

    def __init__(self, cutoff_hz: float = 3.0, order: int = 4) -> None:
        if cutoff_hz <= 0:
            raise ValueError(f"low-pass cut-off must be positive, got {cutoff_hz} Hz")
        self.cutoff_hz = cutoff_hz
        self.order = order

    def __call__(self, x: np.ndarray, mask: np.ndarray, fs: float) -> np.ndarray:
        if self.cutoff_hz >= fs / 2:
            raise ValueError(f"low-pass cut-off {self.cutoff_hz} Hz must be below half the rate {fs} Hz")
        sos = sps.butter(self.order, self.cutoff_hz, btype="lowpass", fs=fs, output="sos")
        smooth = sps.sosfiltfilt(sos, x.astype(np.float64), axis=1)
        return (smooth * mask[:, None]).astype(np.float32)[None]


class SinusRhythmBaseline:
    """Excerpts of normal sinus rhythm records, each cropped (or repeated) to the input's length.

    ``signals`` are preprocessed inputs ``[12, m]`` at the model's rate, with the lead mask of each;
    build it with :meth:`from_records` or :meth:`from_directory`.
    """

    name = "sinus"

    def __init__(self, signals: Sequence[np.ndarray], masks: Sequence[np.ndarray], fs: float) -> None:
        if not signals:
            raise ValueError("a sinus rhythm baseline needs at least one record")
        self.signals = [np.asarray(s, dtype=np.float32) for s in signals]
        self.masks = [np.asarray(m, dtype=bool) for m in masks]
        self.fs = float(fs)

    @classmethod
    def from_records(
        cls, records: Iterable[Record | str | Path], config: PreprocessConfig = PreprocessConfig()
    ) -> SinusRhythmBaseline:
        """Preprocess the given records (paths or :class:`~leadattn.data.Record`) with ``config``."""
        signals, masks = [], []
        for item in records:
            record = item if isinstance(item, Record) else read_record(item)
            x, mask = preprocess_record(record, config)
            signals.append(x)
            masks.append(mask)
        return cls(signals, masks, config.fs)

    @classmethod
    def from_directory(
        cls, directory: str | Path, config: PreprocessConfig = PreprocessConfig(), limit: int = 4
    ) -> SinusRhythmBaseline:
        """Up to ``limit`` records of ``directory`` whose only scored label is sinus rhythm.

        Records are taken in name order; unreadable ones are skipped.
        """
        directory = Path(directory)
        if not directory.is_dir():
            raise FileNotFoundError(f"sinus rhythm baseline: {directory} is not a directory")
        chosen: list[Path] = []
        for hea in sorted(directory.glob("*.hea")):
            try:
                labels = read_header(hea).labels
            except RecordError:
                continue
            if labels[SINUS_RHYTHM_INDEX] and labels.sum() == 1:
                chosen.append(hea)
            if len(chosen) == limit:
                break
        if not chosen:
            raise ValueError(
                f"sinus rhythm baseline: no record in {directory} is labelled sinus rhythm alone"
            )
        return cls.from_records(chosen, config)

    def __call__(self, x: np.ndarray, mask: np.ndarray, fs: float) -> np.ndarray:
        if not np.isclose(fs, self.fs):
            raise ValueError(f"sinus rhythm baseline was prepared at {self.fs} Hz, the input is at {fs} Hz")
        n = x.shape[1]
        out = np.zeros((len(self.signals), *x.shape), dtype=np.float32)
        for i, (signal, present) in enumerate(zip(self.signals, self.masks)):
            repeats = -(-n // signal.shape[1])
            out[i] = np.tile(signal, (1, repeats))[:, :n] * (present & mask)[:, None]
        return out


BASELINES = ("zeros", "lowpass")


def resolve_baseline(baseline: str | BaselineProvider) -> BaselineProvider:
    """A provider from a name (``"zeros"``, ``"lowpass"``) or a provider given as is."""
    if isinstance(baseline, str):
        if baseline == "zeros":
            return ZeroBaseline()
        if baseline == "lowpass":
            return LowPassBaseline()
        if baseline == "sinus":
            raise ValueError(
                "the sinus rhythm baseline needs records: "
                "pass SinusRhythmBaseline.from_directory(DIR, config)"
            )
        raise ValueError(f"unknown baseline {baseline!r}; choose from {', '.join(BASELINES)} or a provider")
    if not callable(baseline):
        raise TypeError(f"baseline must be a name or a provider, got {type(baseline).__name__}")
    return baseline
