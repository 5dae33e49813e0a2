"""The joint-embedding predictive architecture around the local lead-attention network.

- **Context encoder**: the network's stem and blocks on the record with every hidden sample set to
  zero *before* the stem, hidden tokens excluded as attention keys (``key_mask``), so nothing of a
  hidden part reaches a context token.
- **Target encoder**: an exponential moving average of the context encoder, on the whole record,
  without gradient; its last-stage tokens, layer-normed without affine parameters, are the targets.
- **Predictor**: a narrow stack of the same lead-attention blocks over the whole (lead, token) grid:
  projected context tokens where the context is, a learned mask token elsewhere, plus a learned lead
  embedding and a sinusoidal position embedding; its outputs at the target tokens are compared with
  the targets (L1 or smooth L1), averaged over target tokens of present leads.
"""

from __future__ import annotations

import copy
import math
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from leadattn.models import LeadAttentionBlock, LocalLeadAttentionConfig, LocalLeadAttentionNet
from leadattn.pretrain.config import JepaConfig, PredictorConfig
from leadattn.pretrained import is_encoder_key

NUM_LEADS = 12


def sinusoid(tokens: int, dim: int, device: torch.device | None = None) -> torch.Tensor:
    """Fixed sine-cosine position embedding ``[tokens, dim]`` (any record length)."""
    position = torch.arange(tokens, dtype=torch.float32, device=device)[:, None]
    half = dim // 2
    frequency = torch.exp(-math.log(10000.0) * torch.arange(half, device=device) / max(half, 1))
    angle = position * frequency[None, :]
    embedding = torch.zeros(tokens, dim, device=device)
    embedding[:, 0 : 2 * half : 2] = torch.sin(angle)
    embedding[:, 1 : 2 * half : 2] = torch.cos(angle)
    return embedding


class Predictor(nn.Module):
    """Predict target-encoder tokens ``[B, 12, N, D]`` from context tokens and the context grid."""

    def __init__(self, encoder_dim: int, config: PredictorConfig, model: LocalLeadAttentionConfig) -> None:
        super().__init__()
        dim = config.dim
        self.project_in = nn.Linear(encoder_dim, dim)
        self.mask_token = nn.Parameter(torch.zeros(dim))
        self.lead_embedding = nn.Parameter(torch.zeros(NUM_LEADS, dim))
        self.blocks = nn.ModuleList(
            LeadAttentionBlock(
                NUM_LEADS,
                dim,
                model.qk_dim(dim),
                config.heads,
                config.heads,
                config.window,
                offset=(i * (config.window // 2)) % max(config.window, 1),
                mlp_ratio=config.mlp_ratio,
                activation=model.activation,
                dropout=0.0,
                attention_dropout=0.0,
                max_relative_distance=model.max_relative_distance,
            )
            for i in range(config.depth)
        )
        self.norm = nn.LayerNorm(dim)
        self.project_out = nn.Linear(dim, encoder_dim)
        nn.init.trunc_normal_(self.mask_token, std=0.02)
        nn.init.trunc_normal_(self.lead_embedding, std=0.02)

    def forward(self, tokens: torch.Tensor, context: torch.Tensor, lead_mask: torch.Tensor) -> torch.Tensor:
        """``tokens`` ``[B, 12, N, D]`` of the context encoder, ``context`` bool ``[B, 12, N]``."""
        h = torch.where(context[..., None], self.project_in(tokens), self.mask_token.to(tokens.dtype))
        h = h + self.lead_embedding[:, None, :] + sinusoid(h.shape[2], h.shape[3], h.device)
        for block in self.blocks:
            h = block(h, lead_mask)
        return self.project_out(self.norm(h))


class JepaOutput(NamedTuple):
    """Loss of one batch and the target tokens' per-dimension standard deviation (collapse watch)."""

    loss: torch.Tensor
    target_std: torch.Tensor
    target_std_min: torch.Tensor


class Jepa(nn.Module):
    """Context encoder (``encoder``), EMA target encoder (``target``) and ``predictor``.

    ``encoder`` and ``target`` are whole :class:`LocalLeadAttentionNet` modules so that their
    state-dict keys are those of a classifier; their final norm and head are unused and frozen.
    """

    def __init__(
        self, model: LocalLeadAttentionConfig, predictor: PredictorConfig, jepa: JepaConfig, patch_size: int
    ) -> None:
        super().__init__()
        self.encoder = LocalLeadAttentionNet(model)
        for name, parameter in self.encoder.named_parameters():
            parameter.requires_grad_(is_encoder_key(name))
        self.target = copy.deepcopy(self.encoder).requires_grad_(False)
        self.predictor = Predictor(model.dims[-1], predictor, model)
        self.loss_kind = jepa.loss
        self.patch_size = patch_size
        self.stem_stride = model.stem_stride
        self.token_stride = model.stem_stride * 2 ** (len(model.dims) - 1)
        if patch_size % self.token_stride:
            raise ValueError(
                f"patch size {patch_size} is not a multiple of the token stride {self.token_stride}"
            )

    def context_tokens(
        self,
        x: torch.Tensor,
        lead_mask: torch.Tensor,
        context: torch.Tensor,
        lengths: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Context-encoder tokens ``[B, 12, N, D]`` of signals ``x`` ``[B, 12, T]`` where only the
        patches of ``context`` (bool ``[B, 12, patches]``) are seen."""
        visible = context.repeat_interleave(self.patch_size, dim=-1) & lead_mask[:, :, None]
        tokens = self.encoder.embed(x * visible.to(x.dtype), lengths)
        key_mask = context.repeat_interleave(self.patch_size // self.stem_stride, dim=-1)
        if lengths is not None:
            key_mask = key_mask & self.encoder.token_keys(lengths, lead_mask, x.shape[-1])
        return self.encoder.encode(tokens, lead_mask, key_mask=key_mask)

    @torch.no_grad()
    def target_tokens(
        self, x: torch.Tensor, lead_mask: torch.Tensor, lengths: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Layer-normed target-encoder tokens ``[B, 12, N, D]`` of the whole record."""
        x = x * lead_mask[:, :, None].to(x.dtype)
        keys = None if lengths is None else self.target.token_keys(lengths, lead_mask, x.shape[-1])
        h = self.target.encode(self.target.embed(x, lengths), lead_mask, key_mask=keys)
        return F.layer_norm(h.float(), h.shape[-1:])

    def forward(
        self,
        x: torch.Tensor,
        lead_mask: torch.Tensor,
        context: torch.Tensor,
        target: torch.Tensor,
        lengths: torch.Tensor | None = None,
    ) -> JepaOutput:
        """Loss for signals ``x`` ``[B, 12, T]``, ``lead_mask`` ``[B, 12]`` and the context and target
        patch grids ``[B, 12, patches]`` of :meth:`leadattn.masks.MaskBatch.grids`. ``lengths`` (``[B]``
        samples) marks zero padding after shorter records: its patches are neither context nor target."""
        patches = context.shape[-1]
        valid = torch.ones(x.shape[0], patches, dtype=torch.bool, device=x.device)
        if lengths is not None:
            starts = torch.arange(patches, device=x.device) * self.patch_size
            valid = starts[None, :] < lengths.to(x.device)[:, None]
            context, target = context & valid[:, None, :], target & valid[:, None, :]
        per_patch = self.patch_size // self.token_stride
        context_grid = context.repeat_interleave(per_patch, dim=-1)
        target_grid = target.repeat_interleave(per_patch, dim=-1) & lead_mask[:, :, None]
        predicted = self.predictor(
            self.context_tokens(x, lead_mask, context, lengths), context_grid, lead_mask
        )
        wanted = self.target_tokens(x, lead_mask, lengths)
        if self.loss_kind == "l1":
            error = F.l1_loss(predicted.float(), wanted, reduction="none")
        else:
            error = F.smooth_l1_loss(predicted.float(), wanted, reduction="none")
        weight = target_grid.to(error.dtype)
        loss = (error.mean(dim=-1) * weight).sum() / weight.sum().clamp(min=1.0)
        seen = lead_mask[:, :, None] & valid.repeat_interleave(per_patch, dim=-1)[:, None, :]
        std = wanted[seen].std(dim=0)  # over the real tokens of present leads
        return JepaOutput(loss, std.mean(), std.min())

    @torch.no_grad()
    def update_target(self, momentum: float) -> None:
        """``target = momentum * target + (1 - momentum) * encoder`` on the encoder's tensors."""
        for (name, online), target in zip(
            self.encoder.named_parameters(), self.target.parameters(), strict=True
        ):
            if is_encoder_key(name):
                target.lerp_(online.detach(), 1.0 - momentum)
