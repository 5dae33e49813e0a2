"""The two attentions of a local lead-attention block: within each lead, and across leads.

Both compute ``softmax(Q K^T / sqrt(d) + bias) V`` with an explicit ``nn.Softmax`` module and plain
batched matrix products (no fused attention kernel), so that attention weights can be returned,
Captum's hooks see the softmax, and ``torch.utils.flop_counter.FlopCounterMode`` counts every
product (``aten.bmm``, ``aten.baddbmm``, ``aten.mm``, ``aten.addmm`` are all tracked by it).
Internally the within-lead attention works lead-major (``[leads, B, N, ...]``) so that the per-lead
projections are single batched products over leads; the across-lead attention works token-major
(``[B, N, leads, ...]``) so that the leads of one token are adjacent.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

PROJECTIONS = ("lead", "shared", "residual")
MAX_LOGIT_SCALE = math.log(100.0)


class CosineLogits(nn.Module):
    """Attention logits as scaled cosine similarities: ``cos(q, k) * exp(s_h)`` per head ``h``.

    Queries and keys are unit-normalised, so the logits are bounded by the learned per-head scale
    (started at 10, at most 100) whatever the size of the projections; the attention can be sharp
    from the first step instead of waiting for small initial projections to grow.
    """

    def __init__(self, heads: int) -> None:
        super().__init__()
        self.log_scale = nn.Parameter(torch.full((heads,), math.log(10.0)))

    def scale(self) -> torch.Tensor:
        """The per-head multiplier ``[heads, 1, 1]``."""
        return self.log_scale.clamp(max=MAX_LOGIT_SCALE).exp()[:, None, None]


class WithinLeadAttention(nn.Module):
    """Windowed self-attention along time, separately inside every lead, with per-lead projections.

    Each lead ``l`` has its own query, key, value and output projections: ``qkv_weight``
    (``[leads, dim, 2 * qk_dim + dim]``) holds ``W_Q[l]`` in columns ``[0, qk_dim)``, ``W_K[l]`` in
    ``[qk_dim, 2 * qk_dim)`` and ``W_V[l]`` in the rest; ``out_weight`` (``[leads, dim, dim]``) holds
    ``W_O[l]``. ``projections`` says how they are parameterised: ``lead`` (each lead's own, as in
    the paper), ``shared`` (one set for every lead: the tensors above have a lead axis of 1) or
    ``residual`` (a shared set, ``*_shared``, plus each lead's own correction, initialised to zero:
    still a projection per lead, but the shared part learns from every lead's tokens).
    Tokens attend only to tokens of the same lead inside the same non-overlapping window of
    ``window`` tokens; ``offset`` moves the window borders by that many tokens, so that blocks with
    different offsets let information cross borders. ``window = 0`` makes the window the whole
    record up to ``global_window`` tokens; longer records get windows of ``global_window`` tokens
    there, so that cost stays linear in length. The sequence is zero-padded to whole windows and
    padded keys are masked out of the softmax; ``keys`` (bool ``[B, leads, N]``) masks out further
    keys (padding after a record's end, tokens hidden from a context encoder). A query always keeps
    itself as a key, so no row of the softmax is empty.
    Position enters as a learned bias per head and relative offset (offsets beyond
    ``max_relative_distance`` share one bias in whole-record windows), initialised to
    ``-locality * |offset|`` (halved for each further head), so ``locality > 0`` starts attention
    local.
    """

    def __init__(
        self,
        leads: int,
        dim: int,
        qk_dim: int,
        heads: int,
        window: int,
        max_relative_distance: int,
        attention_dropout: float,
        global_window: int = 128,
        projections: str = "lead",
        locality: float = 0.0,
        cosine: bool = False,
    ) -> None:
        super().__init__()
        if projections not in PROJECTIONS:
            raise ValueError(f"projections must be one of {PROJECTIONS}, got {projections!r}")
        self.leads = leads
        self.projections = projections
        self.dim = dim
        self.qk_dim = qk_dim
        self.heads = heads
        self.window = window
        self.global_window = global_window
        self.reach = window - 1 if window else max_relative_distance
        self.scale = 1.0 / math.sqrt(qk_dim // heads)
        copies = 1 if projections == "shared" else leads
        self.qkv_weight = nn.Parameter(torch.empty(copies, dim, 2 * qk_dim + dim))
        self.qkv_bias = nn.Parameter(torch.zeros(copies, 1, 2 * qk_dim + dim))
        self.out_weight = nn.Parameter(torch.empty(copies, dim, dim))
        self.out_bias = nn.Parameter(torch.zeros(copies, 1, dim))
        # Initial bias -slope * |offset|, head h with slope locality / 2**h (as ALiBi's slopes): a
        # learned bias moves little in a short run, so the prior decides how local attention starts.
        slopes = locality / 2.0 ** torch.arange(heads, dtype=torch.float32)
        distance = torch.arange(-self.reach, self.reach + 1, dtype=torch.float32).abs()
        self.relative_bias = nn.Parameter(-slopes[:, None] * distance[None, :])
        self.cosine = CosineLogits(heads) if cosine else None
        self.softmax = nn.Softmax(dim=-1)
        self.attn_drop = nn.Dropout(attention_dropout)
        if projections == "residual":
            self.qkv_weight_shared = nn.Parameter(torch.empty(1, dim, 2 * qk_dim + dim))
            self.qkv_bias_shared = nn.Parameter(torch.zeros(1, 1, 2 * qk_dim + dim))
            self.out_weight_shared = nn.Parameter(torch.empty(1, dim, dim))
            self.out_bias_shared = nn.Parameter(torch.zeros(1, 1, dim))
            nn.init.trunc_normal_(self.qkv_weight_shared, std=0.02)
            nn.init.trunc_normal_(self.out_weight_shared, std=0.02)
            nn.init.zeros_(self.qkv_weight)
            nn.init.zeros_(self.out_weight)
        else:
            self.qkv_weight_shared = self.qkv_bias_shared = None
            self.out_weight_shared = self.out_bias_shared = None
            nn.init.trunc_normal_(self.qkv_weight, std=0.02)
            nn.init.trunc_normal_(self.out_weight, std=0.02)

    def projection_weights(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Each lead's effective ``qkv_weight``, ``qkv_bias``, ``out_weight``, ``out_bias`` (lead
        axis ``leads`` whatever the parameterisation)."""
        if self.projections == "lead":  # the default: the parameters themselves, nothing added per call
            return self.qkv_weight, self.qkv_bias, self.out_weight, self.out_bias
        found = []
        for name in ("qkv_weight", "qkv_bias", "out_weight", "out_bias"):
            own, shared = getattr(self, name), getattr(self, f"{name}_shared")
            own = own if shared is None else own + shared
            found.append(own.expand(self.leads, -1, -1))
        return found[0], found[1], found[2], found[3]

    def forward(self, x: torch.Tensor, offset: int = 0, keys: torch.Tensor | None = None) -> torch.Tensor:
        """``x``: ``[B, leads, N, dim]`` -> ``[B, leads, N, dim]``."""
        return self._attend(x, offset, keys, collect=False)[0]

    def forward_with_weights(
        self, x: torch.Tensor, offset: int = 0, keys: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Output, weights ``[B, heads, leads, N, W]`` and key index ``[N, W]``.

        ``weights[b, h, l, n, j]`` is how much query token ``n`` of lead ``l`` attends to the
        ``j``-th key of its window, which is token ``key_index[n, j]`` of the same lead (``-1`` for
        padding, whose weight is 0). Rows sum to 1.
        """
        out, weights, key_index = self._attend(x, offset, keys, collect=True)
        assert weights is not None and key_index is not None
        return out, weights, key_index

    def _attend(
        self, x: torch.Tensor, offset: int, keys: torch.Tensor | None, collect: bool
    ) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
        batch, leads, tokens, dim = x.shape
        heads, qk = self.heads, self.qk_dim
        # torch.sym_min keeps the choice symbolic under torch.export (no branch on the length).
        window = self.window or torch.sym_min(tokens, self.global_window)
        start = offset % window if self.window else 0
        end = (-(tokens + start)) % window
        # Lead-major, zero-padded to whole windows in one copy; padded tokens are projected too
        # (cheaper than padding the wider projections) and masked out as keys below.
        rows = torch.cat(
            [x.new_zeros(leads, batch, start, dim), x.transpose(0, 1), x.new_zeros(leads, batch, end, dim)],
            dim=2,
        )
        padded = rows.shape[2]
        groups = padded // window
        qkv_weight, qkv_bias, out_weight, out_bias = self.projection_weights()
        qkv = torch.baddbmm(qkv_bias, rows.reshape(leads, batch * padded, dim), qkv_weight)
        q, k, v = (
            part.reshape(leads * batch * groups, window, heads, -1)
            for part in qkv.split((qk, qk, dim), dim=-1)
        )
        if self.cosine is not None:
            q, k = F.normalize(q, dim=-1), F.normalize(k, dim=-1)
        q = q.transpose(1, 2)  # [leads * B * groups, heads, W, qk / heads]
        k = k.permute(0, 2, 3, 1)
        v = v.transpose(1, 2)

        offsets = torch.arange(window, device=x.device)
        relative = (offsets[None, :] - offsets[:, None]).clamp(-self.reach, self.reach)
        position = torch.arange(padded, device=x.device).reshape(groups, 1, 1, window)
        is_pad = (position < start) | (position >= start + tokens)
        bias = self.relative_bias[:, relative + self.reach]  # [heads, W, W]
        bias = torch.where(is_pad, float("-inf"), bias)  # [groups, heads, W, W]
        scores = torch.matmul(q, k).reshape(leads * batch, groups, heads, window, window)
        if self.cosine is None:
            scores = torch.add(bias, scores, alpha=self.scale)
        else:
            scores = bias + scores * self.cosine.scale()
        if keys is not None:
            allowed = F.pad(keys.transpose(0, 1), (start, padded - tokens - start))
            allowed = allowed.reshape(leads * batch, groups, 1, 1, window)
            allowed = allowed | torch.eye(window, dtype=torch.bool, device=x.device)
            scores = scores.masked_fill(~allowed, torch.finfo(scores.dtype).min)
        attn = self.softmax(scores)

        out = torch.matmul(self.attn_drop(attn).reshape(-1, heads, window, window), v)
        out = out.transpose(1, 2).reshape(leads, batch * padded, dim)
        out = torch.baddbmm(out_bias, out, out_weight)
        out = out.reshape(leads, batch, padded, dim)[:, :, start : start + tokens].transpose(0, 1)
        if not collect:
            return out, None, None
        weights = attn.reshape(leads, batch, groups, heads, window, window).permute(1, 3, 0, 2, 4, 5)
        weights = weights.reshape(batch, heads, leads, padded, window)[:, :, :, start : start + tokens]
        query = torch.arange(tokens, device=x.device) + start
        key_token = (query // window * window)[:, None] + offsets[None, :] - start
        key_index = torch.where((key_token >= 0) & (key_token < tokens), key_token, -1)
        return out, weights, key_index


class AcrossLeadAttention(nn.Module):
    """Self-attention across the leads at every time token, excluding absent leads as keys.

    Projections are shared by all leads; lead identity comes from the per-lead embedding added
    after the stem and from a learned bias per head and (query lead, key lead) pair. ``keys``
    (bool ``[B, leads, N]``, already excluding absent leads) masks keys per lead and token instead of
    ``lead_mask``; a query always keeps itself as a key.
    """

    def __init__(
        self, leads: int, dim: int, qk_dim: int, heads: int, attention_dropout: float, cosine: bool = False
    ) -> None:
        super().__init__()
        self.dim = dim
        self.qk_dim = qk_dim
        self.heads = heads
        self.scale = 1.0 / math.sqrt(qk_dim // heads)
        self.qkv = nn.Linear(dim, 2 * qk_dim + dim)
        self.lead_bias = nn.Parameter(torch.zeros(heads, leads, leads))
        self.cosine = CosineLogits(heads) if cosine else None
        self.softmax = nn.Softmax(dim=-2)  # over key leads: scores are keys-major
        self.attn_drop = nn.Dropout(attention_dropout)
        self.proj = nn.Linear(dim, dim)

    def forward(
        self, x: torch.Tensor, lead_mask: torch.Tensor, keys: torch.Tensor | None = None
    ) -> torch.Tensor:
        """``x``: ``[B, leads, N, dim]``, ``lead_mask``: bool ``[B, leads]`` -> ``[B, leads, N, dim]``."""
        return self._attend(x, lead_mask, keys, collect=False)[0]

    def forward_with_weights(
        self, x: torch.Tensor, lead_mask: torch.Tensor, keys: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Output and weights ``[B, heads, N, leads, leads]``: at token ``n``, query lead ``l``
        attends to key lead ``m`` with weight ``[b, h, n, l, m]``; absent key leads get 0."""
        out, weights = self._attend(x, lead_mask, keys, collect=True)
        assert weights is not None
        return out, weights

    def _attend(
        self, x: torch.Tensor, lead_mask: torch.Tensor, keys: torch.Tensor | None, collect: bool
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        batch, leads, tokens, dim = x.shape
        heads, qk = self.heads, self.qk_dim
        q, k, v = (
            part.reshape(batch * tokens, leads, heads, -1)
            for part in self.qkv(x.transpose(1, 2)).split((qk, qk, dim), dim=-1)
        )
        if self.cosine is not None:
            q, k = F.normalize(q, dim=-1), F.normalize(k, dim=-1)
        k = k.transpose(1, 2)  # [B * N, heads, leads, qk / heads]
        q = q.permute(0, 2, 3, 1)
        v = v.transpose(1, 2)
        # Keys-major scores [B, N, heads, key lead, query lead], normalised over the key axis: the
        # CPU softmax over a last axis of 12 is about ten times slower than over an outer one.
        scores = torch.matmul(k, q).reshape(batch, tokens, heads, leads, leads)
        bias = self.lead_bias.transpose(1, 2)  # [heads, key lead, query lead]
        if self.cosine is not None:
            scores = scores * self.cosine.scale()
        alpha = self.scale if self.cosine is None else 1.0
        if keys is None:
            # Absent leads are removed as keys through the bias: [B, 1, heads, leads, leads].
            bias = torch.where(lead_mask[:, None, None, :, None], bias, float("-inf"))
            scores = torch.add(bias, scores, alpha=alpha)
        else:
            allowed = keys.transpose(1, 2)[:, :, None, :, None]  # [B, N, 1, leads, 1]
            allowed = allowed | torch.eye(leads, dtype=torch.bool, device=x.device)
            scores = torch.add(bias, scores, alpha=alpha).masked_fill(~allowed, torch.finfo(scores.dtype).min)
        attn = self.softmax(scores)
        out = torch.matmul(self.attn_drop(attn).reshape(-1, heads, leads, leads).transpose(-1, -2), v)
        out = self.proj(out.transpose(1, 2).reshape(batch, tokens, leads, dim)).transpose(1, 2)
        return out, (attn.permute(0, 2, 1, 4, 3) if collect else None)
