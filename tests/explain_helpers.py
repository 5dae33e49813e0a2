"""Small models, records and checkpoints shared by the explain tests (checkpoints by other tests too)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from leadattn.checkpoint import save_checkpoint
from leadattn.data import PreprocessConfig, Record
from leadattn.labels import CLASS_KEYS, NUM_CLASSES
from leadattn.leads import LEADS
from leadattn.models import LocalLeadAttentionConfig, LocalLeadAttentionNet, TokenGeometry

SMALL_CONFIG = LocalLeadAttentionConfig(
    stem_channels=(8,),
    stem_kernels=(7, 7),
    stem_strides=(4, 4),
    dims=(16, 16),
    depths=(2, 1),
    within_heads=(2, 1),
    across_heads=(2, 2),
    windows=(4, 0),
    dropout=0.0,
)
"""A real network, small enough for tests: two stages (token strides 16 and 32), three blocks."""

TINY_CONFIG = replace(
    SMALL_CONFIG,
    stem_channels=(4,),
    stem_kernels=(15, 7),
    stem_strides=(8, 4),
    dims=(8, 16),
    depths=(1, 1),
    within_heads=(1, 2),
    across_heads=(2, 1),
    max_relative_distance=4,
)
"""Smaller still (token strides 32 and 64; heads that differ between the two attentions), for tests
that run the network many times or compile and export it."""


def small_model(seed: int = 0) -> LocalLeadAttentionNet:
    torch.manual_seed(seed)
    return LocalLeadAttentionNet(SMALL_CONFIG).eval()


def checkpoint_payload(
    config: LocalLeadAttentionConfig = SMALL_CONFIG, model: nn.Module | None = None, **changes: Any
) -> dict[str, Any]:
    """The contents of a checkpoint of ``model`` (default: a network of ``config`` drawn after
    ``torch.manual_seed(0)``): default preprocessing, threshold 0.5 for every class, no training;
    ``changes`` replace entries."""
    if model is None:
        torch.manual_seed(0)
        model = LocalLeadAttentionNet(config)
    payload = {
        "model_config": config.to_dict(),
        "model_state": model.state_dict(),
        "preprocess": PreprocessConfig().to_dict(),
        "classes": list(CLASS_KEYS),
        "thresholds": [0.5] * NUM_CLASSES,
        "train_config": {},
        "epoch": 0,
        "step": 0,
        "metrics": {},
    }
    payload.update(changes)
    return payload


def write_checkpoint(path: Path, model: nn.Module | None = None, thresholds: float = 0.5) -> Path:
    """Save ``model`` (default: :func:`small_model`) as a leadattn checkpoint at ``path``."""
    payload = checkpoint_payload(model=model or small_model(), thresholds=[thresholds] * NUM_CLASSES)
    return save_checkpoint(path, payload)


def make_record(
    seconds: float = 2.0,
    fs: float = 500.0,
    leads: tuple[str, ...] = LEADS,
    name: str = "T0001",
    seed: int = 0,
) -> Record:
    """A record of beat-like pulses plus noise in mV."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(round(seconds * fs))) / fs
    beats = np.exp(-(((t % 0.8) - 0.4) ** 2) / (2 * 0.01**2))
    gains = rng.uniform(0.5, 1.5, (len(leads), 1))
    signal = gains * beats + 0.05 * rng.standard_normal((len(leads), t.size))
    return Record(
        name=name,
        signal=signal.astype(np.float32),
        fs=fs,
        leads=tuple(leads),
        age=50.0,
        sex="Female",
        dx=("426783006",),
        path=Path(f"/nonexistent/{name}.hea"),
    )


class LeadWiseStem(nn.Module):
    """A grouped convolution per lead in channels-first layout, like the real stem's last layer."""

    def __init__(self, channels: int = 3, kernel: int = 5, stride: int = 4) -> None:
        super().__init__()
        self.stride = stride
        self.kernel = kernel
        self.layers = nn.Sequential(
            nn.Conv1d(len(LEADS), len(LEADS) * channels, kernel, stride, kernel // 2, groups=len(LEADS))
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)

    def geometry(self, samples: int) -> TokenGeometry:
        tokens = (samples + 2 * (self.kernel // 2) - self.kernel) // self.stride + 1
        return TokenGeometry(self.stride, self.kernel, -(self.kernel // 2), tokens)


class OneLeadModel(nn.Module):
    """Every class's logit depends on lead ``lead`` alone (through a lead-wise stem and a tanh)."""

    def __init__(self, lead: str = "II", seed: int = 0) -> None:
        super().__init__()
        torch.manual_seed(seed)
        self.row = LEADS.index(lead)
        self.stem = LeadWiseStem()
        self.act = nn.Tanh()
        self.head = nn.Linear(3, NUM_CLASSES)

    def forward(self, x: torch.Tensor, lead_mask: torch.Tensor | None = None) -> torch.Tensor:
        features = self.act(self.stem(x))  # [B, 12 * 3, N]
        own = features.reshape(x.shape[0], len(LEADS), 3, -1)[:, self.row]  # [B, 3, N]
        return self.head(own.mean(dim=-1))
