"""Learning-rate schedules, stepped once per optimiser step.

- ``cosine``: linear warm-up from 0 to the peak rate, then cosine decay to ``min_lr_ratio`` of it.
- ``onecycle``: the learning-rate part of the one-cycle policy: cosine rise from 1/25 of the peak
  over the warm-up, then cosine decay to ``min_lr_ratio / 25`` of it (momentum is not cycled).
- ``constant``: linear warm-up, then the peak rate.

The multiplier is a pure function of the step, so the scheduler's state is just its step count.
"""

from __future__ import annotations

import math
from functools import partial

import torch
from torch.optim.lr_scheduler import LambdaLR

from leadattn.training.config import OptimConfig

ONECYCLE_START = 1.0 / 25.0


def lr_multiplier(step: int, total: int, warmup: int, kind: str, min_ratio: float) -> float:
    """Factor applied to the peak learning rate at optimiser step ``step`` of ``total``."""
    if kind not in ("cosine", "onecycle", "constant"):
        raise ValueError(f"unknown schedule {kind!r}")
    if step < warmup:
        progress = (step + 1) / warmup
        if kind == "onecycle":
            return ONECYCLE_START + (1.0 - ONECYCLE_START) * 0.5 * (1.0 - math.cos(math.pi * progress))
        return progress
    if kind == "constant":
        return 1.0
    floor = min_ratio * (ONECYCLE_START if kind == "onecycle" else 1.0)
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return floor + (1.0 - floor) * 0.5 * (1.0 + math.cos(math.pi * progress))


def build_scheduler(optimizer: torch.optim.Optimizer, config: OptimConfig, steps_per_epoch: int) -> LambdaLR:
    """The schedule of ``config`` over ``config.epochs * steps_per_epoch`` optimiser steps."""
    total = config.epochs * steps_per_epoch
    warmup = min(total, round(config.warmup_epochs * steps_per_epoch))
    return LambdaLR(
        optimizer,
        partial(
            lr_multiplier, total=total, warmup=warmup, kind=config.schedule, min_ratio=config.min_lr_ratio
        ),
    )
