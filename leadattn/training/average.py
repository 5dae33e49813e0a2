"""Exponential moving average of a model's weights (``optim.ema_decay``).

A short run on a small dataset ends on noisy weights: each of its few hundred AdamW steps moves them by
one batch's gradient. An average over the last steps smooths that noise; with ``optim.ema_decay`` set,
training validates, selects and saves the averaged copy, and keeps the trained weights only in
``last.pt`` (``trained_model_state``) to resume from.
"""

from __future__ import annotations

import copy

import torch
from torch import nn


class WeightAverage:
    """An exponential moving average of ``model``'s parameters and a copy of its buffers.

    The decay of update ``n`` is ``min(decay, (1 + n) / (10 + n))``, so the first updates follow the
    trained weights closely instead of averaging in the random initialisation.
    """

    def __init__(self, model: nn.Module, decay: float) -> None:
        if not 0.0 < decay < 1.0:
            raise ValueError(f"the decay of a weight average must lie in (0, 1), got {decay}")
        self.decay = decay
        self.updates = 0
        self.model = copy.deepcopy(model).eval().requires_grad_(False)

    def current_decay(self) -> float:
        """The decay the next update uses."""
        return min(self.decay, (1 + self.updates) / (10 + self.updates))

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        """Move the average towards ``model``'s weights (call after every optimiser step)."""
        decay = self.current_decay()
        for mine, theirs in zip(self.model.parameters(), model.parameters(), strict=True):
            mine.lerp_(theirs, 1.0 - decay)
        for mine, theirs in zip(self.model.buffers(), model.buffers(), strict=True):
            mine.copy_(theirs)
        self.updates += 1

    def restore(self, weights: dict[str, torch.Tensor], updates: int) -> None:
        """Continue from averaged ``weights`` after ``updates`` updates (a resumed run)."""
        self.model.load_state_dict(weights)
        self.updates = int(updates)
