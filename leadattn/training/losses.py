"""Multi-label losses over logits ``[B, classes]`` and 0/1 targets, averaged over all entries.

- :class:`WeightedBCE`: binary cross-entropy with logits; positives of class k weighted by
  ``positive_weights[k]`` (from the class frequencies, see :func:`positive_weights`) and every
  negative by ``negative_weight`` (the original lead-attention code used 0.1).
- :class:`AsymmetricLoss` (Ridnik et al., ICCV 2021): focusing factors ``(1 - p) ** gamma_positive``
  on positives and ``p_m ** gamma_negative`` on negatives, where ``p_m = max(p - clip, 0)`` discards
  easy negatives entirely. Suits label sets where most entries are negative, as here.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from leadattn.training.config import LossConfig


def positive_weights(labels: np.ndarray, scheme: str, max_weight: float) -> np.ndarray:
    """Per-class weight of positives: ``(negatives / positives) ** power`` clipped to [1, max_weight].

    ``scheme`` is ``none`` (all 1), ``inverse_frequency`` (power 1) or ``sqrt_inverse_frequency``
    (power 0.5). Classes without positives get 1 (there is nothing to weight).
    """
    labels = np.asarray(labels, dtype=bool)
    if scheme == "none":
        return np.ones(labels.shape[1])
    power = {"inverse_frequency": 1.0, "sqrt_inverse_frequency": 0.5}.get(scheme)
    if power is None:
        raise ValueError(f"unknown class weighting {scheme!r}")
    positives = labels.sum(axis=0).astype(np.float64)
    negatives = labels.shape[0] - positives
    ratio = np.divide(negatives, positives, out=np.ones_like(positives), where=positives > 0)
    return np.clip(ratio**power, 1.0, max_weight)


def prior_logits(labels: np.ndarray, floor: float = 1e-3) -> np.ndarray:
    """Each class's log-odds of being present in ``labels`` ``[records, classes]``, the frequency
    clipped to ``[floor, 1 - floor]`` so that a class never seen gets a finite value.

    Starting a head's biases there makes the first predictions the class frequencies, so early
    steps go to telling records apart rather than to learning how rare every class is.
    """
    frequency = np.clip(np.asarray(labels, dtype=bool).mean(axis=0), floor, 1.0 - floor)
    return np.log(frequency / (1.0 - frequency))


class WeightedBCE(nn.Module):
    """Binary cross-entropy with logits, positives and negatives weighted separately."""

    def __init__(self, positive_weight: torch.Tensor | None = None, negative_weight: float = 1.0) -> None:
        super().__init__()
        self.register_buffer("positive_weight", positive_weight, persistent=False)
        self.negative_weight = float(negative_weight)

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        logits = logits.float()
        weight = None
        if self.negative_weight != 1.0:
            weight = targets + (1.0 - targets) * self.negative_weight
        return F.binary_cross_entropy_with_logits(
            logits, targets, weight=weight, pos_weight=self.positive_weight
        )


class AsymmetricLoss(nn.Module):
    """Asymmetric loss with probability shifting of negatives; see the module docstring."""

    def __init__(
        self,
        gamma_positive: float = 0.0,
        gamma_negative: float = 4.0,
        clip: float = 0.05,
        positive_weight: torch.Tensor | None = None,
    ) -> None:
        super().__init__()
        self.gamma_positive = float(gamma_positive)
        self.gamma_negative = float(gamma_negative)
        self.clip = float(clip)
        self.register_buffer("positive_weight", positive_weight, persistent=False)

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        logits = logits.float()
        p = torch.sigmoid(logits)
        p_negative = (p - self.clip).clamp(min=0.0) if self.clip > 0 else p
        # log(p) and log(1 - p_m) from log-sigmoid where possible, for stability at large |logits|
        log_p = F.logsigmoid(logits)
        log_not_p = F.logsigmoid(-logits) if self.clip == 0 else torch.log1p(-p_negative).clamp(min=-100.0)
        positive = log_p * (1.0 - p).pow(self.gamma_positive)
        if self.positive_weight is not None:
            positive = positive * self.positive_weight
        negative = log_not_p * p_negative.pow(self.gamma_negative)
        return -(targets * positive + (1.0 - targets) * negative).mean()


def build_loss(config: LossConfig, train_labels: np.ndarray) -> nn.Module:
    """The loss a :class:`LossConfig` describes, class weights taken from the training labels."""
    weights = positive_weights(train_labels, config.class_weighting, config.max_positive_weight)
    positive = None if config.class_weighting == "none" else torch.tensor(weights, dtype=torch.float32)
    if config.kind == "asymmetric":
        return AsymmetricLoss(config.gamma_positive, config.gamma_negative, config.clip, positive)
    return WeightedBCE(positive, config.negative_weight)
