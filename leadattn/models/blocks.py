"""Local lead-attention block, token merging between stages, and masked pooling."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from leadattn.models.attention import AcrossLeadAttention, WithinLeadAttention
from leadattn.models.layers import Mlp


class LeadAttentionBlock(nn.Module):
    """Pre-norm residual block on ``[B, leads, N, dim]``: within-lead attention, across-lead
    attention, feed-forward.

    Layer normalisation acts on each token of each lead alone (never batch statistics), so absent
    leads and other records cannot leak in. The lead axis is never reshaped into another axis.
    """

    def __init__(
        self,
        leads: int,
        dim: int,
        qk_dim: int,
        within_heads: int,
        across_heads: int,
        window: int,
        offset: int,
        mlp_ratio: float,
        activation: str,
        dropout: float,
        attention_dropout: float,
        max_relative_distance: int,
        global_window: int = 128,
        mlp_kernel: int = 0,
        within_projections: str = "lead",
        locality: float = 0.0,
        cosine_attention: bool = False,
    ) -> None:
        super().__init__()
        self.offset = offset if window > 0 else 0
        self.norm_within = nn.LayerNorm(dim)
        self.within = WithinLeadAttention(
            leads,
            dim,
            qk_dim,
            within_heads,
            window,
            max_relative_distance,
            attention_dropout,
            global_window,
            within_projections,
            locality,
            cosine_attention,
        )
        self.drop_within = nn.Dropout(dropout)
        self.norm_across = nn.LayerNorm(dim)
        self.across = AcrossLeadAttention(
            leads, dim, qk_dim, across_heads, attention_dropout, cosine_attention
        )
        self.drop_across = nn.Dropout(dropout)
        self.norm_mlp = nn.LayerNorm(dim)
        self.mlp = Mlp(dim, round(dim * mlp_ratio), activation, dropout, mlp_kernel)
        self.drop_mlp = nn.Dropout(dropout)

    def forward(
        self, x: torch.Tensor, lead_mask: torch.Tensor, keys: torch.Tensor | None = None
    ) -> torch.Tensor:
        """``x``: ``[B, leads, N, dim]``; ``lead_mask``: bool ``[B, leads]``; ``keys``: bool
        ``[B, leads, N]``, the tokens that may be attended to (``None``: every token of a present
        lead)."""
        x = x + self.drop_within(self.within(self.norm_within(x), self.offset, keys))
        x = x + self.drop_across(self.across(self.norm_across(x), lead_mask, keys))
        return x + self.drop_mlp(self.mlp(self.norm_mlp(x), keys))

    def forward_with_attention(
        self, x: torch.Tensor, lead_mask: torch.Tensor, keys: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Like :meth:`forward`, also returning within-lead weights ``[B, heads, leads, N, W]``,
        across-lead weights ``[B, heads, N, leads, leads]`` and the key index ``[N, W]``."""
        y, within, key_index = self.within.forward_with_weights(self.norm_within(x), self.offset, keys)
        x = x + self.drop_within(y)
        y, across = self.across.forward_with_weights(self.norm_across(x), lead_mask, keys)
        x = x + self.drop_across(y)
        x = x + self.drop_mlp(self.mlp(self.norm_mlp(x), keys))
        return x, within, across, key_index


class TokenMerge(nn.Module):
    """Halve time inside every lead: concatenate adjacent token pairs, normalise, project.

    An odd last token is paired with a zero token. The projection is shared by the leads and acts
    on one lead's pair at a time, so leads stay apart.
    """

    def __init__(self, dim_in: int, dim_out: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(2 * dim_in)
        self.reduce = nn.Linear(2 * dim_in, dim_out, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``[B, leads, N, dim_in]`` -> ``[B, leads, ceil(N / 2), dim_out]``."""
        batch, leads, tokens, dim = x.shape
        x = F.pad(x, (0, 0, 0, tokens % 2))
        x = x.reshape(batch, leads, x.shape[2] // 2, 2 * dim)
        return self.reduce(self.norm(x))


def merge_keys(keys: torch.Tensor) -> torch.Tensor:
    """Key mask after :class:`TokenMerge`: a merged token is a key where either of its pair was.

    ``[B, leads, N]`` -> ``[B, leads, ceil(N / 2)]``.
    """
    batch, leads, tokens = keys.shape
    keys = F.pad(keys, (0, tokens % 2))
    return keys.reshape(batch, leads, -1, 2).any(dim=-1)


class MaskedMeanMaxPool(nn.Module):
    """Mean and maximum over present leads and valid tokens, concatenated: ``[B, 2 * dim]``.

    The mean summarises the record; the maximum keeps short events (a single premature beat) that
    a mean over a minute of tokens would dilute. Absent leads, and tokens past a record's end, are
    excluded from both.
    """

    def forward(
        self, x: torch.Tensor, lead_mask: torch.Tensor, keys: torch.Tensor | None = None
    ) -> torch.Tensor:
        """``x``: ``[B, leads, N, dim]``; ``lead_mask``: bool ``[B, leads]``; ``keys``: bool
        ``[B, leads, N]``, the tokens to pool (``None``: every token of a present lead)."""
        present = lead_mask[:, :, None] if keys is None else keys
        count = (present.sum(dim=(1, 2)) * (x.shape[2] if keys is None else 1)).to(x.dtype)[:, None]
        present = present[..., None]
        mean = x.masked_fill(~present, 0.0).sum(dim=(1, 2)) / count
        peak = x.masked_fill(~present, float("-inf")).amax(dim=(1, 2))
        return torch.cat([mean, peak], dim=-1)


class LeadwiseMeanMaxPool(nn.Module):
    """Mean and maximum over each lead's valid tokens, leads kept apart: ``[B, leads * 2 * dim]``.

    The head then knows which lead a feature came from (a wide QRS in V1 is not one in I). Absent
    leads give zeros, and the present leads are scaled by ``leads / present`` so that a linear head
    sees the same magnitude whatever the lead subset: it averages lead-specific heads.
    """

    def forward(
        self, x: torch.Tensor, lead_mask: torch.Tensor, keys: torch.Tensor | None = None
    ) -> torch.Tensor:
        """``x``: ``[B, leads, N, dim]``; ``lead_mask``: bool ``[B, leads]``; ``keys``: bool
        ``[B, leads, N]``, the tokens to pool (``None``: every token of a present lead)."""
        batch, leads, tokens, _ = x.shape
        present = lead_mask[:, :, None] if keys is None else keys & lead_mask[:, :, None]
        count = present.sum(dim=2, keepdim=True).clamp_min(1).to(x.dtype) if keys is not None else tokens
        valid = present[..., None]
        mean = x.masked_fill(~valid, 0.0).sum(dim=2) / count
        peak = x.masked_fill(~valid, float("-inf")).amax(dim=2)
        pooled = torch.cat([mean, peak], dim=-1)
        scale = leads / lead_mask.sum(dim=1, keepdim=True).to(x.dtype)
        pooled = pooled.masked_fill(~lead_mask[:, :, None], 0.0) * scale[:, :, None]
        return pooled.reshape(batch, -1)
