"""Small building blocks shared by the stem and the attention blocks."""

from __future__ import annotations

import torch
from torch import nn


def make_activation(name: str) -> nn.Module:
    """A fresh activation module, so that every call site owns its own instance."""
    if name == "gelu":
        return nn.GELU()
    if name == "relu":
        return nn.ReLU()
    if name == "elu":
        return nn.ELU()
    raise ValueError(f"unknown activation {name!r}")


class LeadChannelNorm(nn.Module):
    """Layer normalisation over each lead's channels at every time step, in channels-first layout.

    Input ``[B, leads * C, T]`` with lead-major channels, as grouped convolutions produce them.
    Statistics never span leads, time steps or records, so an absent lead or a distant sample cannot
    influence another position. Every lead has its own affine parameters.
    """

    def __init__(self, leads: int, channels: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.leads = leads
        self.channels = channels
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(leads, channels, 1))
        self.bias = nn.Parameter(torch.zeros(leads, channels, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, _, steps = x.shape
        x = x.reshape(batch, self.leads, self.channels, steps)
        mean = x.mean(dim=2, keepdim=True)
        centred = x - mean
        var = centred.square().mean(dim=2, keepdim=True)
        x = centred * torch.rsqrt(var + self.eps) * self.weight + self.bias
        return x.reshape(batch, self.leads * self.channels, steps)


class Mlp(nn.Module):
    """Token-wise feed-forward layer shared by all leads: Linear, activation, dropout, Linear.

    With ``kernel > 0``, a depthwise convolution along time follows the first Linear (as in
    PVTv2's feed-forward layer): each hidden channel mixes the ``kernel`` neighbouring tokens of its
    own lead, which gives every block a local, translation-equivariant path beside attention. Tokens
    that are not keys (padding after a record's end, tokens hidden from a context encoder) are
    zeroed before it, so they reach no other token, as the zero padding at a record's ends does.
    """

    def __init__(self, dim: int, hidden: int, activation: str, dropout: float, kernel: int = 0) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.conv = nn.Conv1d(hidden, hidden, kernel, padding=kernel // 2, groups=hidden) if kernel else None
        self.act = make_activation(activation)
        self.drop = nn.Dropout(dropout)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor, keys: torch.Tensor | None = None) -> torch.Tensor:
        """``x``: ``[..., N, dim]`` (``[B, leads, N, dim]`` in a block); ``keys``: bool ``[..., N]``."""
        h = self.fc1(x)
        if self.conv is not None:
            if keys is not None:
                h = h * keys[..., None].to(h.dtype)
            shape = h.shape
            rows = h.reshape(-1, shape[-2], shape[-1]).transpose(1, 2)
            h = self.conv(rows).transpose(1, 2).reshape(shape)
        return self.fc2(self.drop(self.act(h)))
