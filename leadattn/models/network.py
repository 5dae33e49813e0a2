"""The local lead-attention network: per-lead stem, local lead-attention stages, masked pooling."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from leadattn.leads import LEADS
from leadattn.models.blocks import (
    LeadAttentionBlock,
    LeadwiseMeanMaxPool,
    MaskedMeanMaxPool,
    TokenMerge,
    merge_keys,
)
from leadattn.models.config import LocalLeadAttentionConfig
from leadattn.models.geometry import TokenGeometry
from leadattn.models.stem import LeadwiseStem

NUM_LEADS = len(LEADS)


@dataclass
class BlockAttention:
    """Attention weights of one block, for one batch.

    Attributes:
        within: ``[B, heads, 12, N, W]``; query token ``n`` of lead ``l`` attends to the ``W`` keys
            of its window, which are tokens ``key_index[n]`` of the same lead.
        across: ``[B, heads, N, 12, 12]``; at token ``n``, lead ``l`` attends to lead ``m``.
        key_index: ``[N, W]`` token index of each within-window key, ``-1`` for padding.
        geometry: Maps this block's tokens to input samples.
    """

    within: torch.Tensor
    across: torch.Tensor
    key_index: torch.Tensor
    geometry: TokenGeometry


@dataclass
class LeadAttentionOutput:
    """Logits ``[B, num_classes]`` and the attention of every block, in order."""

    logits: torch.Tensor
    blocks: list[BlockAttention]


def _tracing() -> bool:
    return torch.compiler.is_compiling() or torch.compiler.is_exporting() or torch.jit.is_tracing()


class LocalLeadAttentionNet(nn.Module):
    """Multi-label classifier for ECGs given in the 12 canonical lead slots, any subset present.

    ``forward(x, lead_mask, lengths)`` takes ``x`` ``[B, 12, T]`` (leads in
    :data:`leadattn.leads.LEADS` order), ``lead_mask`` (bool ``[B, 12]`` or ``[12]``; ``None`` means
    all present) and ``lengths`` (``[B]`` samples of each record; ``None`` means all ``T``) and returns
    logits ``[B, num_classes]`` in :mod:`leadattn.labels` order. Absent leads are zeroed on entry,
    excluded as attention keys and from pooling, so their values cannot change the logits; samples
    past a record's length are padding and cannot change them either.

    Sub-modules: ``stem`` (:class:`LeadwiseStem`, ``[B, 12, N, D]``), ``blocks`` (every
    :class:`LeadAttentionBlock`, in order), ``merges`` (a :class:`TokenMerge` between consecutive
    stages), ``norm``, ``pool`` and ``head`` (the final linear layer).
    """

    def __init__(self, config: LocalLeadAttentionConfig | None = None) -> None:
        super().__init__()
        self.config = config = config or LocalLeadAttentionConfig()
        self.stem = LeadwiseStem(
            NUM_LEADS,
            config.stem_channels,
            config.dims[0],
            config.stem_kernels,
            config.stem_strides,
            config.activation,
        )
        self.lead_embedding = nn.Parameter(torch.zeros(NUM_LEADS, config.dims[0]))
        blocks: list[LeadAttentionBlock] = []
        stages: list[int] = []
        # Window borders: blocks of a stage alternate offsets 0 and window / 2, and stage s adds s
        # quarter windows, so no two consecutive blocks share a border (token merges halve time, so
        # without the quarter a stage's borders would fall on the previous stage's).
        for stage, (dim, depth, within_heads, across_heads, window) in enumerate(
            zip(
                config.dims,
                config.depths,
                config.within_heads,
                config.across_heads,
                config.windows,
                strict=True,
            )
        ):
            for index in range(depth):
                blocks.append(
                    LeadAttentionBlock(
                        NUM_LEADS,
                        dim,
                        config.qk_dim(dim),
                        within_heads,
                        across_heads,
                        window,
                        offset=(index * (window // 2) + stage * (window // 4)) % max(window, 1),
                        mlp_ratio=config.mlp_ratio,
                        activation=config.activation,
                        dropout=config.dropout,
                        attention_dropout=config.attention_dropout,
                        max_relative_distance=config.max_relative_distance,
                        global_window=config.global_window,
                        mlp_kernel=config.mlp_kernel,
                        within_projections=config.within_projections,
                        locality=config.locality,
                        cosine_attention=config.cosine_attention,
                    )
                )
                stages.append(stage)
        self.blocks = nn.ModuleList(blocks)
        self.merges = nn.ModuleList(
            TokenMerge(d_in, d_out) for d_in, d_out in zip(config.dims[:-1], config.dims[1:], strict=True)
        )
        self._stages = tuple(stages)
        self.norm = nn.LayerNorm(config.dims[-1])
        leadwise = config.pooling == "lead"
        self.pool = LeadwiseMeanMaxPool() if leadwise else MaskedMeanMaxPool()
        self.head_drop = nn.Dropout(config.dropout)
        self.head = nn.Linear(2 * config.dims[-1] * (NUM_LEADS if leadwise else 1), config.num_classes)
        self.apply(_init_linear)
        nn.init.trunc_normal_(self.lead_embedding, std=0.02)

    def additive_tables(self) -> list[nn.Parameter]:
        """The learned tables added to tokens or attention scores: the lead embedding, and every
        block's within-lead position bias and across-lead (query lead, key lead) bias."""
        tables = [self.lead_embedding]
        for block in self.blocks:
            tables += [block.within.relative_bias, block.across.lead_bias]
        return tables

    def forward(
        self, x: torch.Tensor, lead_mask: torch.Tensor | None = None, lengths: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Logits ``[B, num_classes]`` for signals ``x`` ``[B, 12, T]``."""
        x, mask, lengths = self._prepare(x, lead_mask, lengths)
        keys = self._length_keys(lengths, mask, x.shape[-1])
        h, keys = self._encode(self.embed(x, lengths), mask, keys)
        return self._classify(h, mask, keys)

    def forward_with_attention(
        self, x: torch.Tensor, lead_mask: torch.Tensor | None = None, lengths: torch.Tensor | None = None
    ) -> LeadAttentionOutput:
        """Logits plus every block's attention weights and token geometry (see
        :class:`BlockAttention`). Costs more memory than :meth:`forward`; use it for explanations."""
        x, mask, lengths = self._prepare(x, lead_mask, lengths)
        keys = self._length_keys(lengths, mask, x.shape[-1])
        geometry = self.stem.geometry(x.shape[-1])
        h = self.embed(x, lengths)
        found: list[BlockAttention] = []
        for i, block in enumerate(self.blocks):
            if i > 0 and self._stages[i] != self._stages[i - 1]:
                h, keys = self._merge(self._stages[i - 1], h, keys)
                geometry = geometry.merged()
            h, within, across, key_index = block.forward_with_attention(h, mask, keys)
            found.append(BlockAttention(within, across, key_index, geometry))
        return LeadAttentionOutput(self._classify(h, mask, keys), found)

    def embed(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """Stem tokens plus the learned lead embedding: ``[B, 12, T]`` -> ``[B, 12, N, dims[0]]``.

        ``lengths`` (``[B]`` samples) keeps padding after each record's end out of its tokens.
        """
        return self.stem(x, lengths) + self.lead_embedding[:, None, :]

    def encode(
        self, tokens: torch.Tensor, lead_mask: torch.Tensor, key_mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Run every block and merge: ``[B, 12, N, dims[0]]`` -> ``[B, 12, N', dims[-1]]``.

        ``lead_mask`` must already be bool ``[B, 12]``. ``key_mask`` (bool ``[B, 12, N]``, stem-token
        resolution) marks the tokens that may be attended to, within a lead and across leads; the
        others still get outputs but nothing attends to them (a merged token is a key where either of
        its pair was). Use it for padding or to hide tokens from a context encoder.
        """
        keys = None if key_mask is None else key_mask & lead_mask[:, :, None]
        return self._encode(tokens, lead_mask, keys)[0]

    def token_keys(self, lengths: torch.Tensor, lead_mask: torch.Tensor, samples: int) -> torch.Tensor:
        """Key mask ``[B, 12, N]`` of the stem tokens that lie within records of ``lengths`` samples."""
        tokens = self.stem.geometry(samples).num_tokens
        valid = torch.arange(tokens, device=lengths.device) < self.stem.token_lengths(lengths)[:, None]
        return valid[:, None, :] & lead_mask[:, :, None]

    def _length_keys(
        self, lengths: torch.Tensor | None, mask: torch.Tensor, samples: int
    ) -> torch.Tensor | None:
        return None if lengths is None else self.token_keys(lengths, mask, samples)

    def _encode(
        self, h: torch.Tensor, mask: torch.Tensor, keys: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        for i, block in enumerate(self.blocks):
            if i > 0 and self._stages[i] != self._stages[i - 1]:
                h, keys = self._merge(self._stages[i - 1], h, keys)
            h = block(h, mask, keys)
        return h, keys

    def _merge(
        self, stage: int, h: torch.Tensor, keys: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Merge token pairs; tokens that are not keys are zeroed first, as if they were padding."""
        if keys is None:
            return self.merges[stage](h), None
        return self.merges[stage](h * keys[..., None].to(h.dtype)), merge_keys(keys)

    def _classify(self, h: torch.Tensor, mask: torch.Tensor, keys: torch.Tensor | None) -> torch.Tensor:
        return self.head(self.head_drop(self.pool(self.norm(h), mask, keys)))

    def _prepare(
        self, x: torch.Tensor, lead_mask: torch.Tensor | None, lengths: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        if x.dim() != 3 or x.shape[1] != NUM_LEADS:
            raise ValueError(f"expected signals of shape [batch, {NUM_LEADS}, samples], got {tuple(x.shape)}")
        if not x.is_floating_point():
            raise TypeError(f"expected floating-point signals, got {x.dtype}")
        batch = x.shape[0]
        if lead_mask is None:
            mask = torch.ones(batch, NUM_LEADS, dtype=torch.bool, device=x.device)
        else:
            mask = torch.as_tensor(lead_mask, device=x.device)
            if mask.dtype != torch.bool:
                raise TypeError(f"lead_mask must be boolean, got {mask.dtype}")
            if mask.dim() == 1:
                mask = mask.expand(batch, -1)
            if mask.shape != (batch, NUM_LEADS):
                raise ValueError(
                    f"lead_mask must have shape [{NUM_LEADS}] or [batch, {NUM_LEADS}], "
                    f"got {tuple(mask.shape)} for a batch of {batch}"
                )
        if not _tracing() and not bool(mask.any(dim=1).all()):
            empty = torch.nonzero(~mask.any(dim=1)).flatten().tolist()
            raise ValueError(f"lead_mask marks no lead present for batch item(s) {empty}")
        if lengths is not None:
            lengths = torch.as_tensor(lengths, device=x.device)
            if lengths.shape != (batch,) or lengths.is_floating_point():
                raise ValueError(f"lengths must be integers of shape [{batch}], got {tuple(lengths.shape)}")
            if not _tracing():
                if bool(((lengths < 1) | (lengths > x.shape[-1])).any()):
                    raise ValueError(f"lengths must lie in [1, {x.shape[-1]}], got {lengths.tolist()}")
                if bool((lengths == x.shape[-1]).all()):
                    lengths = None  # nothing is padding: the unmasked path gives the same logits
        return x.masked_fill(~mask[:, :, None], 0.0), mask, lengths


def _init_linear(module: nn.Module) -> None:
    if isinstance(module, nn.Linear):
        nn.init.trunc_normal_(module.weight, std=0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
