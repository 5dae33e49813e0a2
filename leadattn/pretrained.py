"""Pretrained encoders: the part of the network that ``leadattn pretrain`` learns and fine-tuning reuses.

The encoder is the stem, the lead embedding, the lead-attention blocks and the token merges of a
:class:`~leadattn.models.LocalLeadAttentionNet`; the final norm and the classification head are not part
of it and start fresh when a classifier is fine-tuned (``leadattn train --init PRETRAINED.pt``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from leadattn.checkpoint import (
    PRETRAINED_KEYS,
    PRETRAINED_KIND,
    CheckpointError,
    load_checkpoint,
    model_config_dict,
    tensors,
)
from leadattn.models import LocalLeadAttentionConfig

ENCODER_PREFIXES = ("stem.", "lead_embedding", "blocks.", "merges.")
"""State-dict keys of the encoder."""

HEAD_ONLY_KEYS = frozenset({"num_classes", "dropout", "attention_dropout"})
"""Model settings that may differ between a pretrained encoder and the classifier built on it."""


def is_encoder_key(key: str) -> bool:
    return key.startswith(ENCODER_PREFIXES)


def encoder_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """The encoder's tensors of a network (detached, on the CPU)."""
    return tensors(model, is_encoder_key)


def resolve_pretrained(path: str | Path) -> Path:
    """A pretraining checkpoint, or a pretraining run folder (its ``last.pt``)."""
    path = Path(path)
    return path / "last.pt" if path.is_dir() else path


def load_pretrained(path: str | Path, map_location: Any = "cpu") -> dict[str, Any]:
    """A pretrained-encoder checkpoint; a clear error for a supervised training checkpoint."""
    path = resolve_pretrained(path)
    payload = load_checkpoint(path, map_location, required=("format_version",))
    if payload.get("kind") != PRETRAINED_KIND:
        what = "a supervised training checkpoint" if "train_config" in payload else "not a pretrained encoder"
        raise CheckpointError(
            f"{path} is {what}: --init needs a checkpoint written by `leadattn pretrain` "
            "(to continue a training run, use --resume RUN_DIR)"
        )
    missing = [k for k in PRETRAINED_KEYS if k not in payload]
    if missing:
        raise CheckpointError(f"pretrained checkpoint {path} lacks {', '.join(missing)}")
    return payload


def architecture_differences(pretrained: dict[str, Any], current: dict[str, Any]) -> list[str]:
    """Model settings, other than head-only ones, that differ between two model config dicts."""
    keys = sorted((set(pretrained) | set(current)) - HEAD_ONLY_KEYS)
    return [
        f"{k} ({pretrained.get(k)!r} pretrained, {current.get(k)!r} now)"
        for k in keys
        if pretrained.get(k) != current.get(k)
    ]


def load_encoder(model: nn.Module, path: str | Path, preprocess: dict[str, Any] | None = None) -> dict:
    """Load a pretrained encoder into ``model`` (whose head stays as it is); returns the checkpoint.

    Raises :class:`CheckpointError` when the architectures differ, naming the settings, or when the
    checkpoint was pretrained on signals preprocessed differently (``preprocess``).
    """
    payload = load_pretrained(path)
    config: LocalLeadAttentionConfig = model.config
    differences = architecture_differences(model_config_dict(payload), config.to_dict())
    if differences:
        raise CheckpointError(
            f"{resolve_pretrained(path)} was pretrained with another architecture: " + "; ".join(differences)
        )
    if preprocess is not None and payload["preprocess"] != preprocess:
        changed = sorted(
            k
            for k in set(preprocess) | set(payload["preprocess"])
            if preprocess.get(k) != payload["preprocess"].get(k)
        )
        raise CheckpointError(
            f"{resolve_pretrained(path)} was pretrained on differently preprocessed signals "
            f"({', '.join(changed)}): use the same preprocess settings"
        )
    state = payload["encoder_state"]
    expected = {k for k in model.state_dict() if is_encoder_key(k)}
    if set(state) != expected:
        raise CheckpointError(
            f"{resolve_pretrained(path)} does not hold this network's encoder "
            f"(missing {sorted(expected - set(state))[:3]}, unexpected {sorted(set(state) - expected)[:3]})"
        )
    try:
        model.load_state_dict(state, strict=False)
    except RuntimeError as error:
        raise CheckpointError(f"{resolve_pretrained(path)} does not fit this model: {error}") from None
    return payload
