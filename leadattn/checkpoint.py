"""Checkpoints: what they hold, written atomically, validated and read without unpickling objects.

This module owns the checkpoint schema (``FORMAT_VERSION``). A checkpoint is a plain dict of tensors
and Python primitives (``torch.load(weights_only=True)`` reads it), of one of two kinds:

- a **classifier** (:data:`CLASSIFIER_KEYS`, built by :func:`classifier_payload`): ``model_config``,
  ``model_state``, ``preprocess``, ``classes``, ``thresholds`` (a mapping from lead subset ``"12"``,
  ``"6"``, ``"4"``, ``"3"``, ``"2"`` to 26 values; one list of 26 serves every subset) and
  ``threshold_fallback`` (the classes whose threshold was not tuned). Training writes it to ``best.pt``
  and ``last.pt`` with the run's ``train_config``.
- a **pretrained encoder** (``kind`` :data:`PRETRAINED_KIND`, :data:`PRETRAINED_KEYS`):
  ``model_config``, ``encoder_state`` (stem, lead embedding, blocks and merges) and ``preprocess``,
  with the run's ``pretrain_config`` and ``jepa_state``.

Both kinds, as written by a run, add the run's progress (:data:`RUN_KEYS`: ``epoch``, ``step``,
``history``, ``best``, the best epoch and early-stopping count, and ``world``, the processes of the
run), and ``last.pt`` adds what resuming needs (:data:`RESUME_KEYS`: ``optimizer_state``,
``scheduler_state``, ``scaler_state``, ``stopped_early``; a run with ``optim.ema_decay`` saves the
moving average as ``model_state`` and adds ``trained_model_state``). Random draws are seeded from
(seed, epoch, rank), so no generator state is stored.
"""

from __future__ import annotations

import io
import os
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from leadattn.data.preprocess import PreprocessConfig
from leadattn.errors import LeadattnError
from leadattn.labels import CLASS_KEYS
from leadattn.models import LocalLeadAttentionConfig, LocalLeadAttentionNet
from leadattn.thresholds import threshold_table

FORMAT_VERSION = 1
CLASSIFIER_KEYS = ("format_version", "model_config", "model_state", "preprocess", "classes", "thresholds")
"""What every classifier checkpoint holds."""
PRETRAINED_KEYS = ("format_version", "kind", "model_config", "encoder_state", "preprocess")
"""What every pretrained-encoder checkpoint holds."""
PRETRAINED_KIND = "pretrained_encoder"
"""``kind`` of the checkpoints ``leadattn pretrain`` writes: an encoder without a trained head."""
RUN_KEYS = ("epoch", "step", "history", "best", "world")
"""The progress of the run that wrote a checkpoint."""
RESUME_KEYS = ("optimizer_state", "scheduler_state", "scaler_state", "stopped_early")
"""What ``last.pt`` adds so that its run can continue."""


class CheckpointError(LeadattnError):
    """A checkpoint that is missing, damaged, or does not fit this version of leadattn."""


def save_checkpoint(path: str | Path, payload: dict) -> Path:
    """Write ``payload`` to ``path`` atomically: a killed process leaves the old file or the new one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {"format_version": FORMAT_VERSION, **payload}
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(buffer.getbuffer())
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
    return path


def tensors(module: nn.Module, keep: Callable[[str], bool] = lambda key: True) -> dict[str, torch.Tensor]:
    """A module's state dict, detached on the CPU (the entries ``keep`` accepts)."""
    return {k: v.detach().cpu() for k, v in module.state_dict().items() if keep(k)}


def classifier_payload(
    model: nn.Module,
    model_config: LocalLeadAttentionConfig,
    preprocess: PreprocessConfig,
    thresholds: Mapping[str, Sequence[float]],
    threshold_fallback: Sequence[str] = (),
) -> dict[str, Any]:
    """The classifier part of a checkpoint (:data:`CLASSIFIER_KEYS` but the version, which
    :func:`save_checkpoint` adds)."""
    return {
        "model_config": model_config.to_dict(),
        "model_state": tensors(model),
        "preprocess": preprocess.to_dict(),
        "classes": list(CLASS_KEYS),
        "thresholds": {key: [float(t) for t in values] for key, values in thresholds.items()},
        "threshold_fallback": list(threshold_fallback),
    }


def pretrained_payload(
    model_config: LocalLeadAttentionConfig,
    encoder_state: Mapping[str, torch.Tensor],
    preprocess: PreprocessConfig,
) -> dict[str, Any]:
    """The pretrained-encoder part of a checkpoint (:data:`PRETRAINED_KEYS` but the version)."""
    return {
        "kind": PRETRAINED_KIND,
        "model_config": model_config.to_dict(),
        "encoder_state": dict(encoder_state),
        "preprocess": preprocess.to_dict(),
    }


def load_checkpoint(
    path: str | Path,
    map_location: str | torch.device = "cpu",
    required: tuple[str, ...] = CLASSIFIER_KEYS,
) -> dict:
    """Read a checkpoint written by :func:`save_checkpoint`, checking that it holds ``required``
    (by default, what a classifier needs)."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist")
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except Exception:  # torch raises several types for truncated or foreign files
        raise CheckpointError(
            f"checkpoint {path} cannot be read: the file is damaged or truncated, or is not a "
            "leadattn checkpoint"
        ) from None
    if not isinstance(payload, dict):
        raise CheckpointError(f"checkpoint {path} does not hold a leadattn checkpoint dict")
    if payload.get("kind") == PRETRAINED_KIND and "thresholds" in required:
        raise CheckpointError(
            f"checkpoint {path} is a pretrained encoder (from `leadattn pretrain`), not a trained "
            f"classifier: fine-tune it first with `leadattn train --init {path}`"
        )
    missing = [k for k in required if k not in payload]
    if missing:
        raise CheckpointError(f"checkpoint {path} lacks {', '.join(missing)}")
    if payload["format_version"] != FORMAT_VERSION:
        raise CheckpointError(
            f"checkpoint {path} has format {payload['format_version']}, "
            f"this leadattn reads format {FORMAT_VERSION}"
        )
    if "classes" in required and tuple(payload["classes"]) != CLASS_KEYS:
        raise CheckpointError(f"checkpoint {path} was trained on other classes than leadattn.labels")
    return payload


MODEL_SETTINGS_ADDED = {"mlp_kernel": 0}
"""Model settings added since format 1 was fixed, with the value that rebuilds a network written before."""


def model_config_dict(payload: dict) -> dict:
    """The architecture a checkpoint describes, as a complete config dict: a setting added after the
    checkpoint was written takes the value of the network it holds (:data:`MODEL_SETTINGS_ADDED`)."""
    return {**MODEL_SETTINGS_ADDED, **payload["model_config"]}


@dataclass
class LoadedModel:
    """A model ready for inference with everything needed to feed it the way it was trained."""

    model: LocalLeadAttentionNet
    preprocess: PreprocessConfig
    classes: tuple[str, ...]
    thresholds: dict[str, np.ndarray]
    train_config: dict
    payload: dict


def load_model(path: str | Path, map_location: str | torch.device = "cpu") -> LoadedModel:
    """Build the model a checkpoint describes, load its weights and put it in eval mode."""
    payload = load_checkpoint(path, map_location)
    try:
        model = LocalLeadAttentionNet(LocalLeadAttentionConfig.from_dict(model_config_dict(payload)))
        model.load_state_dict(payload["model_state"])
    except (TypeError, RuntimeError) as error:
        raise CheckpointError(f"checkpoint {path} does not match this model code: {error}") from None
    try:
        thresholds = threshold_table(payload["thresholds"])
        preprocess = PreprocessConfig.from_dict(payload["preprocess"])
    except (TypeError, ValueError) as error:
        raise CheckpointError(f"checkpoint {path}: {error}") from None
    return LoadedModel(
        model=model.to(map_location).eval(),
        preprocess=preprocess,
        classes=tuple(payload["classes"]),
        thresholds=thresholds,
        train_config=dict(payload.get("train_config", {})),
        payload=payload,
    )
