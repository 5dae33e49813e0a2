"""Floating-point operation counts of a model's forward pass."""

from __future__ import annotations

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from leadattn.models.modes import eval_mode


def count_flops(model: nn.Module, samples: int = 5000, leads: int = 12) -> int:
    """FLOPs of one forward pass on a single ``[1, leads, samples]`` record (a multiply-add is 2).

    Counted with ``torch.utils.flop_counter.FlopCounterMode``, which tracks convolutions and matrix
    products (``mm``, ``addmm``, ``bmm``, ``baddbmm`` and the fused attention kernels). Every
    product in :class:`LocalLeadAttentionNet`, including the per-lead ``einsum`` projections and
    the attention ``matmul``s, dispatches to one of these, so all are counted. Element-wise work
    (normalisation, activations, softmax) is not, by the usual convention.
    """
    x = torch.zeros(1, leads, samples, device=next(model.parameters()).device)
    with eval_mode(model), torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(x)
    return int(counter.get_total_flops())


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
