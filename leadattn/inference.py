"""Running a model over whole records: overlapping windows, combined into one probability per class.

Training sees fixed-length crops; a record of any length is scored by sliding a window of the same
length over it (the last window is aligned to the record's end so every sample is covered) and
combining the windows' sigmoid outputs by their mean or maximum. A record shorter than a window runs
as it is. One preprocessed record can be scored under several lead subsets in one batch.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import TYPE_CHECKING, Literal

import numpy as np
import torch

from leadattn.data import PreprocessConfig, Record, RecordError, preprocess_record
from leadattn.leads import LEADS, lead_mask
from leadattn.models.modes import eval_mode

if TYPE_CHECKING:
    from leadattn.checkpoint import LoadedModel

Combine = Literal["mean", "max"]


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


def _device(model: torch.nn.Module) -> torch.device:
    parameter = next(model.parameters(), None)
    return parameter.device if parameter is not None else torch.device("cpu")


def predict_signal(
    model: torch.nn.Module,
    x: np.ndarray,
    mask: np.ndarray,
    window: int = 5000,
    hop: int = 2500,
    combine: Combine = "mean",
    batch_size: int = 32,
) -> np.ndarray:
    """Class probabilities of one preprocessed signal ``x`` [12, T].

    ``mask`` is the present-lead mask [12], giving probabilities [classes], or a stack of masks
    [subsets, 12], giving [subsets, classes]: the signal is scored once per mask, with absent leads
    zeroed. The model runs in eval mode without gradients; its training flag is restored afterwards.
    """
    if combine not in ("mean", "max"):
        raise ValueError(f"combine must be 'mean' or 'max', got {combine!r}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    x = np.asarray(x, dtype=np.float32)
    if x.ndim != 2 or x.shape[0] != len(LEADS):
        raise ValueError(f"signal must have shape [12, samples], got {x.shape}")
    masks = np.asarray(mask, dtype=bool)
    single = masks.ndim == 1
    if single:
        masks = masks[None]
    if masks.ndim != 2 or masks.shape[1] != len(LEADS):
        raise ValueError(f"mask must have shape [12] or [subsets, 12], got {np.shape(mask)}")
    if not masks.any(axis=1).all():
        raise ValueError("every lead mask needs at least one present lead")

    starts = window_starts(x.shape[1], window, hop)
    length = min(window, x.shape[1])
    pairs = [(s, w) for s in range(masks.shape[0]) for w in starts]  # (subset, window start)
    device = _device(model)
    signal = torch.from_numpy(x)
    mask_tensor = torch.from_numpy(masks)
    probabilities = []
    with eval_mode(model), torch.inference_mode():
        for first in range(0, len(pairs), batch_size):
            batch = pairs[first : first + batch_size]
            subsets = torch.tensor([s for s, _ in batch])
            chunk = torch.stack([signal[:, w : w + length] for _, w in batch])
            batch_masks = mask_tensor[subsets]
            chunk = chunk * batch_masks[:, :, None]
            logits = model(chunk.to(device), batch_masks.to(device))
            probabilities.append(torch.sigmoid(logits.float()).cpu())
    windows = torch.cat(probabilities).reshape(masks.shape[0], len(starts), -1)
    combined = windows.mean(dim=1) if combine == "mean" else windows.amax(dim=1)
    out = combined.numpy().astype(np.float64)
    return out[0] if single else out


def whole_record_config(config: PreprocessConfig) -> PreprocessConfig:
    """The same preprocessing without the training-time truncation, so a record is scored whole."""
    return dataclasses.replace(config, max_seconds=None)


def subset_masks(record: Record, subsets: Sequence[int | str | Sequence[str] | None]) -> np.ndarray:
    """Present-lead masks [subsets, 12]: each subset restricted to the leads the record has.

    Raises :class:`~leadattn.data.RecordError` when a subset has none of its leads in the record.
    """
    present = np.array([lead in record.leads for lead in LEADS], dtype=bool)
    masks = np.stack([lead_mask(subset) & present for subset in subsets])
    empty = [subset for subset, m in zip(subsets, masks) if not m.any()]
    if empty:
        raise RecordError(record.name, "missing_leads", f"no lead of subset {empty[0]} is in the record")
    return masks


def predict_record(
    loaded: LoadedModel,
    record: Record,
    leads: int | str | Sequence[str] | None = None,
    window: int = 5000,
    hop: int = 2500,
    combine: Combine = "mean",
    batch_size: int = 32,
    whole: bool = True,
) -> np.ndarray:
    """Class probabilities [classes] of a record read by :func:`leadattn.data.read_record`.

    The record is preprocessed as the checkpoint's model was trained (without truncation when
    ``whole``) and restricted to ``leads`` (a subset size such as 6, lead names, or None for every
    lead the record has); leads outside the subset or missing from the record are masked.
    """
    return predict_record_subsets(loaded, record, [leads], window, hop, combine, batch_size, whole)[0]


def predict_record_subsets(
    loaded: LoadedModel,
    record: Record,
    subsets: Sequence[int | str | Sequence[str] | None],
    window: int = 5000,
    hop: int = 2500,
    combine: Combine = "mean",
    batch_size: int = 32,
    whole: bool = True,
) -> np.ndarray:
    """Class probabilities [subsets, classes] of one record under several lead subsets.

    The record is preprocessed once; see :func:`predict_record`.
    """
    config = whole_record_config(loaded.preprocess) if whole else loaded.preprocess
    x, _ = preprocess_record(record, config)
    masks = subset_masks(record, subsets)
    return predict_signal(loaded.model, x, masks, window, hop, combine, batch_size)
