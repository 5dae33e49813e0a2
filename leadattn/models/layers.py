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
    """Token-wise feed-forward layer shared by all leads: Linear, activation, dropout, Linear."""

    def __init__(self, dim: int, hidden: int, activation: str, dropout: float) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = make_activation(activation)
        self.drop = nn.Dropout(dropout)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.drop(self.act(self.fc1(x))))
