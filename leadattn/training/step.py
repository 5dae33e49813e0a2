"""One optimisation step, as training, pretraining and ``bench/train.py`` all take it.

:class:`Optimiser` holds what a step needs besides the model's forward pass: AdamW over the model's
parameter groups (weight decay on linear and convolution weights only), the per-step learning-rate
schedule, mixed precision (autocast, and gradient scaling under fp16) and gradient clipping; its state
is what a resumed run restores. :func:`classifier_step` is the whole supervised step on one batch.
"""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from typing import Any

import torch
from torch import nn

from leadattn.training.config import OptimConfig
from leadattn.training.schedule import build_scheduler


def autocast_dtype(mode: str, device: torch.device) -> torch.dtype | None:
    """The dtype of mixed precision, or None for full float32.

    ``auto`` is bf16 on CUDA devices that support it, else fp16 there, and off on the CPU (where
    bf16 autocast was slower than float32 for this model; see bench/train.py).
    """
    if mode == "off":
        return None
    if mode == "auto":
        if device.type != "cuda":
            return None
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if mode == "fp16" and device.type != "cuda":
        raise ValueError("run.amp=fp16 needs a CUDA device; use bf16 or off on the CPU")
    return torch.bfloat16 if mode == "bf16" else torch.float16


def parameter_groups(
    model: nn.Module, weight_decay: float, lr: float, table_lr_scale: float = 1.0
) -> list[dict[str, Any]]:
    """Weight decay on the weights of linear and convolution layers only, not on biases, norms,
    embeddings or attention biases; frozen parameters are left out.

    The model's additive tables (``model.additive_tables()`` where it has one: position and lead
    biases, the lead embedding) learn at ``lr * table_lr_scale``: they start at or near zero and need
    values of order one, which Adam's steps of about ``lr`` take hundreds of steps to reach.
    """
    decayed = {
        id(module.weight)
        for module in model.modules()
        if isinstance(module, nn.Linear | nn.Conv1d) and module.weight.requires_grad
    }
    tables_of = getattr(model, "additive_tables", None)
    tables = {id(p) for p in tables_of()} if tables_of is not None and table_lr_scale != 1 else set()
    trained = [p for p in model.parameters() if p.requires_grad]
    groups = [
        {"params": [p for p in trained if id(p) in decayed], "weight_decay": weight_decay, "lr": lr},
        {"params": [p for p in trained if id(p) not in decayed | tables], "weight_decay": 0.0, "lr": lr},
        {"params": [p for p in trained if id(p) in tables], "weight_decay": 0.0, "lr": lr * table_lr_scale},
    ]
    return groups if groups[2]["params"] else groups[:2]


class Optimiser:
    """AdamW, schedule, gradient scaling and clipping of one model: ``step(loss)`` is one update."""

    def __init__(
        self, model: nn.Module, config: OptimConfig, steps_per_epoch: int, device: torch.device, amp: str
    ) -> None:
        self.model = model
        self.grad_clip = config.grad_clip
        self.device = device
        self.optimizer = torch.optim.AdamW(
            parameter_groups(model, config.weight_decay, config.lr, config.table_lr_scale),
            lr=config.lr,
            betas=config.betas,
            fused=device.type == "cuda",
        )
        self.scheduler = build_scheduler(self.optimizer, config, steps_per_epoch)
        self.dtype = autocast_dtype(amp, device)
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.dtype == torch.float16)

    def autocast(self) -> AbstractContextManager:
        """The mixed-precision context of forward passes (a no-op in float32)."""
        if self.dtype is None:
            return nullcontext()
        return torch.autocast(self.device.type, dtype=self.dtype)

    def step(self, loss: torch.Tensor) -> None:
        """Backward pass of ``loss``, clipping, the AdamW update and the next learning rate."""
        self.scaler.scale(loss).backward()
        if self.grad_clip > 0:
            self.scaler.unscale_(self.optimizer)
            nn.utils.clip_grad_norm_(self.model.parameters(), self.grad_clip)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.optimizer.zero_grad(set_to_none=True)
        self.scheduler.step()

    @property
    def lr(self) -> float:
        """The learning rate of the next step."""
        return float(self.scheduler.get_last_lr()[0])

    def state_dict(self) -> dict[str, Any]:
        """The checkpoint entries that resume this optimiser."""
        return {
            "optimizer_state": self.optimizer.state_dict(),
            "scheduler_state": self.scheduler.state_dict(),
            "scaler_state": self.scaler.state_dict(),
        }

    def load_state_dict(self, payload: dict[str, Any]) -> None:
        """Restore the state :meth:`state_dict` wrote (from a ``last.pt``)."""
        self.optimizer.load_state_dict(payload["optimizer_state"])
        self.scheduler.load_state_dict(payload["scheduler_state"])
        self.scaler.load_state_dict(payload["scaler_state"])


def classifier_step(
    net: nn.Module,
    criterion: nn.Module,
    optimiser: Optimiser,
    batch: tuple[torch.Tensor, ...],
) -> torch.Tensor:
    """One supervised step on a batch ``(x, lead_mask, lengths, labels, ...)`` of
    :class:`~leadattn.training.dataset.CropDataset`: forward, loss, update. Returns the detached loss."""
    x, mask, lengths, y = (t.to(optimiser.device, non_blocking=True) for t in batch[:4])
    with optimiser.autocast():
        logits = net(x, mask, lengths)
    loss = criterion(logits.float(), y)
    optimiser.step(loss)
    return loss.detach()
