"""The one way to run a trained model on records: :class:`Predictor`.

A predictor owns everything between a record and its class probabilities: the preprocessing the
model was trained with, the lead subset, the windowing (in seconds, turned into samples at the
model's rate), batching, the device and the decision thresholds of each lead subset. Training's
validation, evaluation, prediction, explanation and export all go through it, so a record gets the
same probabilities whichever door it enters by.

A record of any length is scored by sliding a window over it (the last window is aligned to the
record's end so every sample is covered) and combining the windows' sigmoid outputs by their mean or
maximum. A record shorter than a window is one window of its own length; windows of several records
share a batch, with the model told each one's length so that padding cannot change its output.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np
import torch
from torch import nn

from leadattn.data import PreprocessConfig, Record, RecordError, preprocess_record, read_record
from leadattn.device import resolve_device
from leadattn.labels import ABBREVIATIONS, NUM_CLASSES
from leadattn.leads import LEAD_SUBSETS, LEADS, lead_mask
from leadattn.models.modes import eval_mode
from leadattn.thresholds import threshold_table

if TYPE_CHECKING:
    from leadattn.checkpoint import LoadedModel

Combine = Literal["mean", "max"]
LeadsSpec = int | str | Sequence[str] | None

DEFAULT_WINDOW_SECONDS = 10.0
"""Window of a model whose checkpoint does not say how long its validation crops were."""


def window_starts(n: int, window: int, hop: int) -> np.ndarray:
    """Start samples of windows of ``window`` samples every ``hop`` covering ``n`` samples.

    The last window ends at ``n``; a signal no longer than one window gives the single start 0.
    """
    if window < 1 or hop < 1:
        raise ValueError(f"window and hop must be positive, got window={window}, hop={hop}")
    if n < 1:
        raise ValueError(f"signal has no samples (n={n})")
    if n <= window:
        return np.zeros(1, dtype=np.int64)
    starts = np.arange(0, n - window + 1, hop, dtype=np.int64)
    if starts[-1] + window < n:
        starts = np.append(starts, n - window)
    return starts


def subset_key(mask: np.ndarray) -> str:
    """The challenge subset whose thresholds serve a present-lead mask: the largest standard subset
    with no more leads than the mask has (``"12"``, ``"6"``, ``"4"``, ``"3"`` or ``"2"``)."""
    count = int(np.asarray(mask, dtype=bool).sum())
    fitting = [size for size in LEAD_SUBSETS if size <= count]
    return str(max(fitting) if fitting else min(LEAD_SUBSETS))


def score_signals(
    model: nn.Module,
    signals: Sequence[np.ndarray],
    masks: np.ndarray,
    window: int,
    hop: int,
    combine: Combine = "mean",
    batch_size: int = 32,
    device: torch.device | None = None,
) -> np.ndarray:
    """Probabilities ``[records, subsets, classes]`` of preprocessed signals ``[12, T_i]``.

    ``masks`` is ``[subsets, 12]`` (the same subsets for every record) or ``[records, subsets, 12]``.
    Every (record, subset, window) runs once; windows of different records share batches, shorter
    ones padded and marked by their length. The model runs in eval mode without gradients.
    """
    if combine not in ("mean", "max"):
        raise ValueError(f"combine must be 'mean' or 'max', got {combine!r}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    masks = np.asarray(masks, dtype=bool)
    if masks.ndim == 2:
        masks = np.broadcast_to(masks, (len(signals), *masks.shape))
    if masks.ndim != 3 or masks.shape[0] != len(signals) or masks.shape[2] != len(LEADS):
        raise ValueError(f"masks must have shape [subsets, 12] or [records, subsets, 12], got {masks.shape}")
    if not masks.any(axis=2).all():
        raise ValueError("every lead mask needs at least one present lead")
    pieces = []  # (record, subset, start, length)
    for r, x in enumerate(signals):
        if x.ndim != 2 or x.shape[0] != len(LEADS):
            raise ValueError(f"signal {r} must have shape [12, samples], got {x.shape}")
        length = min(window, x.shape[1])
        for start in window_starts(x.shape[1], window, hop):
            pieces += [(r, s, int(start), length) for s in range(masks.shape[1])]
    device = device or next(model.parameters()).device
    out = np.zeros((len(pieces), NUM_CLASSES), dtype=np.float64)
    with eval_mode(model), torch.inference_mode():
        for first in range(0, len(pieces), batch_size):
            batch = pieces[first : first + batch_size]
            longest = max(p[3] for p in batch)
            x = np.zeros((len(batch), len(LEADS), longest), dtype=np.float32)
            for i, (r, s, start, length) in enumerate(batch):
                x[i, :, :length] = signals[r][:, start : start + length] * masks[r, s][:, None]
            lengths = torch.tensor([p[3] for p in batch], device=device)
            batch_masks = torch.from_numpy(np.stack([masks[r, s] for r, s, _, _ in batch])).to(device)
            logits = model(torch.from_numpy(x).to(device), batch_masks, lengths)
            out[first : first + len(batch)] = torch.sigmoid(logits.float()).cpu().numpy()
    result = np.zeros((len(signals), masks.shape[1], NUM_CLASSES), dtype=np.float64)
    counts = np.zeros((len(signals), masks.shape[1], 1))
    for (r, s, _, _), p in zip(pieces, out):
        if combine == "mean":
            result[r, s] += p
        else:
            result[r, s] = np.maximum(result[r, s], p)
        counts[r, s] += 1
    return result / counts if combine == "mean" else result


@dataclass(frozen=True)
class PreparedRecord:
    """A record preprocessed for the model: ``x`` ``[12, T]`` at ``fs``, ``present`` ``[12]`` (leads
    the record has, with signal), ``covered`` record samples the input spans."""

    record: Record
    x: np.ndarray
    present: np.ndarray
    fs: float
    covered: int


@dataclass(frozen=True)
class Prediction:
    """Probabilities, decisions and the thresholds behind them, for one record and lead subset."""

    name: str
    leads: tuple[str, ...]
    probabilities: np.ndarray
    outputs: np.ndarray
    thresholds: np.ndarray

    @property
    def classes(self) -> list[str]:
        """Abbreviations of the classes output positive, most probable first."""
        chosen = sorted(np.flatnonzero(self.outputs), key=lambda k: -self.probabilities[k])
        return [ABBREVIATIONS[k] for k in chosen]


class Predictor:
    """A trained model with everything needed to feed it as it was trained.

    Args:
        model: The network (``forward(x, lead_mask, lengths)``).
        preprocess: The preprocessing it was trained with.
        thresholds: Decision thresholds ``[26]`` for every subset, or a mapping from subset key
            (``"12"``, ``"6"``, ...; see :func:`subset_key`) to ``[26]``; 0.5 when ``None``.
        window_seconds: Window scored at once; hop_seconds: step between windows (half a window
            when ``None``).
        whole: Score records whole (True) or truncated like training (``preprocess.max_seconds``).
    """

    def __init__(
        self,
        model: nn.Module,
        preprocess: PreprocessConfig,
        thresholds: np.ndarray | dict[str, Sequence[float]] | None = None,
        window_seconds: float = DEFAULT_WINDOW_SECONDS,
        hop_seconds: float | None = None,
        combine: Combine = "mean",
        batch_size: int = 32,
        device: str | torch.device = "auto",
        whole: bool = True,
    ) -> None:
        if window_seconds <= 0 or (hop_seconds is not None and hop_seconds <= 0):
            raise ValueError(f"window and hop must be positive seconds, got {window_seconds}, {hop_seconds}")
        if combine not in ("mean", "max"):
            raise ValueError(f"combine must be 'mean' or 'max', got {combine!r}")
        self.device = resolve_device(device)
        self.model = model.to(self.device)
        self.preprocess = preprocess
        self.thresholds = threshold_table(thresholds)
        self.window_seconds = float(window_seconds)
        self.hop_seconds = float(hop_seconds) if hop_seconds is not None else self.window_seconds / 2
        self.combine: Combine = combine
        self.batch_size = int(batch_size)
        self.whole = whole

    @classmethod
    def from_checkpoint(
        cls, checkpoint: str | Path | LoadedModel, device: str | torch.device = "auto", **options
    ) -> Predictor:
        """Build from a checkpoint file or a :class:`~leadattn.checkpoint.LoadedModel`; the window
        defaults to the checkpoint's validation crop length."""
        from leadattn.checkpoint import LoadedModel, load_model

        device = resolve_device(device)
        loaded = checkpoint if isinstance(checkpoint, LoadedModel) else load_model(checkpoint, device)
        data = loaded.train_config.get("data", {}) if isinstance(loaded.train_config, dict) else {}
        options.setdefault("window_seconds", float(data.get("val_crop_seconds", DEFAULT_WINDOW_SECONDS)))
        return cls(loaded.model, loaded.preprocess, loaded.thresholds, device=device, **options)

    @property
    def fs(self) -> float:
        """The model's sampling rate."""
        return float(self.preprocess.fs)

    @property
    def window(self) -> int:
        """Window in samples at the model's rate."""
        return max(1, round(self.window_seconds * self.fs))

    @property
    def hop(self) -> int:
        """Hop in samples at the model's rate."""
        return max(1, round(self.hop_seconds * self.fs))

    def thresholds_for(self, mask: np.ndarray) -> np.ndarray:
        """Thresholds ``[26]`` for a present-lead mask (see :func:`subset_key`)."""
        return self.thresholds[subset_key(mask)]

    def prepare(self, record: Record | str | Path) -> PreparedRecord:
        """Read (when given a path) and preprocess a record as the model was trained."""
        record = record if isinstance(record, Record) else read_record(record)
        config = dataclasses.replace(self.preprocess, max_seconds=None) if self.whole else self.preprocess
        x, present = preprocess_record(record, config)
        covered = record.signal.shape[1]
        if config.max_seconds is not None:
            covered = min(covered, int(round(config.max_seconds * record.fs)))
        return PreparedRecord(record, x, np.asarray(present, dtype=bool), self.fs, covered)

    def masks(self, prepared: PreparedRecord, subsets: Sequence[LeadsSpec]) -> np.ndarray:
        """Present-lead masks ``[subsets, 12]``: each subset restricted to the leads the record has.

        Raises :class:`~leadattn.data.RecordError` when a subset has none of its leads there.
        """
        masks = np.stack([lead_mask(subset) & prepared.present for subset in subsets])
        empty = [subset for subset, m in zip(subsets, masks) if not m.any()]
        if empty:
            have = ", ".join(lead for lead, p in zip(LEADS, prepared.present) if p) or "none"
            raise RecordError(
                prepared.record.name,
                "missing_leads",
                f"no lead of subset {empty[0]} has signal in the record (leads with signal: {have})",
            )
        return masks

    def probabilities(
        self, records: Sequence[Record | str | Path | PreparedRecord], subsets: Sequence[LeadsSpec] = (None,)
    ) -> np.ndarray:
        """Probabilities ``[records, subsets, 26]`` of several records under each lead subset."""
        prepared = [r if isinstance(r, PreparedRecord) else self.prepare(r) for r in records]
        masks = np.stack([self.masks(p, subsets) for p in prepared]) if prepared else np.zeros((0, 1, 12))
        return score_signals(
            self.model,
            [p.x for p in prepared],
            masks,
            self.window,
            self.hop,
            self.combine,
            self.batch_size,
            self.device,
        )

    def predict(self, record: Record | str | Path | PreparedRecord, leads: LeadsSpec = None) -> Prediction:
        """Probabilities and decisions of one record under one lead subset (None: every lead it has)."""
        prepared = record if isinstance(record, PreparedRecord) else self.prepare(record)
        mask = self.masks(prepared, [leads])[0]
        probabilities = self.probabilities([prepared], [leads])[0, 0]
        thresholds = self.thresholds_for(mask)
        return Prediction(
            prepared.record.name,
            tuple(lead for lead, m in zip(LEADS, mask) if m),
            probabilities,
            probabilities >= thresholds,
            thresholds,
        )
