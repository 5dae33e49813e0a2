"""Hyper-parameters of the local lead-attention network: the one place its defaults live."""

from __future__ import annotations

import math
from dataclasses import dataclass

from leadattn.config import Config, bounded
from leadattn.labels import NUM_CLASSES
from leadattn.models.attention import PROJECTIONS

ACTIVATIONS = ("gelu", "relu", "elu")
POOLINGS = ("record", "lead")


@dataclass(frozen=True)
class LocalLeadAttentionConfig(Config):
    """Architecture of :class:`LocalLeadAttentionNet`.

    The stem's stride is the product of ``stem_strides`` (32 samples, 64 ms at 500 Hz, by
    default); every later stage halves time again.

    Attributes:
        num_classes: Logits produced by the head (the challenge's 26 scored classes).
        stem_channels: Per-lead widths of the stem layers before the last one, which maps to
            ``dims[0]``.
        stem_kernels: Kernel size of each stem convolution (odd); one more than stem_channels.
        stem_strides: Stride of each stem convolution; one more than stem_channels.
        dims: Token width of each stage.
        depths: Blocks in each stage.
        within_heads: Heads of the within-lead attention in each stage. One head gives one map
            per lead and block, as in the paper's formulation, and is the fastest on CPU.
        across_heads: Heads of the across-lead attention in each stage.
        windows: Within-lead attention window of each stage, in tokens; 0 means the whole record,
            up to ``global_window`` tokens.
            Windows do not overlap; blocks of a stage alternate window offsets of 0 and half a
            window, and stage ``s`` adds ``s`` quarter windows, so consecutive blocks never share a
            window border (a token merge halves time, which would otherwise align them).
        global_window: Beyond this many tokens, a whole-record stage (window 0) attends within
            windows of this many tokens instead, so that its cost grows linearly with length. The
            default, 128 last-stage tokens of 256 samples, is 65 s at 500 Hz: records up to a minute
            are attended whole.
        qk_ratio: Width of the within-lead queries and keys relative to the token width.
        locality: Slope of the initial within-lead relative-position bias, ``-locality * |offset|``
            (halved for each further head); 0 starts every offset equal.
        cosine_attention: Logits of both attentions as cosine similarities of queries and keys times
            a learned per-head scale (started at 10) instead of scaled dot products.
        within_projections: How the within-lead projections are parameterised: ``lead`` (each
            lead's own, as in the paper), ``shared`` (one set for all leads) or ``residual`` (a
            shared set plus each lead's own correction, which starts at zero).
        mlp_ratio: Hidden width of the feed-forward layer relative to the token width.
        mlp_kernel: Kernel (odd, in tokens) of a depthwise convolution along time inside every
            feed-forward layer, within each lead; 0: none (a token-wise feed-forward layer).
        dropout: Dropout on every residual branch and before the head.
        attention_dropout: Dropout on attention weights.
        activation: Non-linearity of the stem and the feed-forward layers.
        max_relative_distance: Relative positions beyond this share one bias in global windows.
        pooling: ``record``: mean and maximum over every present lead's tokens, one vector per
            record; ``lead``: mean and maximum per lead, the leads concatenated, so the head knows
            which lead a feature came from.
    """

    section = "model"

    num_classes: int = NUM_CLASSES
    stem_channels: tuple[int, ...] = (32, 48, 64)
    stem_kernels: tuple[int, ...] = (15, 7, 7, 7)
    stem_strides: tuple[int, ...] = bounded((8, 2, 2, 1), ge=1)
    dims: tuple[int, ...] = bounded((48, 64, 96, 120), ge=1)
    depths: tuple[int, ...] = bounded((1, 1, 2, 2), ge=1)
    within_heads: tuple[int, ...] = (1, 1, 1, 1)
    across_heads: tuple[int, ...] = (1, 1, 2, 2)
    windows: tuple[int, ...] = (16, 16, 16, 0)
    global_window: int = bounded(128, ge=1)
    qk_ratio: float = bounded(0.5, gt=0)
    within_projections: str = "lead"
    locality: float = bounded(0.0, ge=0)
    cosine_attention: bool = False
    mlp_ratio: float = bounded(2.0, gt=0)
    mlp_kernel: int = 7
    dropout: float = bounded(0.0, ge=0, lt=1)
    attention_dropout: float = bounded(0.0, ge=0, lt=1)
    activation: str = "gelu"
    max_relative_distance: int = bounded(32, ge=1)
    pooling: str = "record"

    def __post_init__(self) -> None:
        super().__post_init__()
        stages = len(self.dims)
        if stages == 0:
            raise ValueError("dims must name at least one stage")
        for name in ("depths", "within_heads", "across_heads", "windows"):
            if len(getattr(self, name)) != stages:
                raise ValueError(f"{name} has {len(getattr(self, name))} entries; dims has {stages}")
        layers = len(self.stem_channels) + 1
        if len(self.stem_kernels) != layers or len(self.stem_strides) != layers:
            raise ValueError(
                f"stem_kernels and stem_strides need {layers} entries (one more than stem_channels)"
            )
        if any(k < 1 or k % 2 == 0 for k in self.stem_kernels):
            raise ValueError(f"stem_kernels must be positive odd numbers, got {self.stem_kernels}")
        for dim, *stage_heads in zip(self.dims, self.within_heads, self.across_heads, strict=True):
            qk = self.qk_dim(dim)
            for heads in stage_heads:
                if heads < 1 or dim % heads or qk % heads:
                    raise ValueError(
                        f"stage width {dim} and query width {qk} must both be divisible by {heads} heads"
                    )
        if any(w < 0 or w % 2 for w in self.windows):
            raise ValueError(f"windows must be even numbers of tokens or 0, got {self.windows}")
        if self.mlp_kernel < 0 or (self.mlp_kernel and self.mlp_kernel % 2 == 0):
            raise ValueError(f"mlp_kernel must be 0 or a positive odd number, got {self.mlp_kernel}")
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {ACTIVATIONS}, got {self.activation!r}")
        if self.within_projections not in PROJECTIONS:
            raise ValueError(
                f"within_projections must be one of {PROJECTIONS}, got {self.within_projections!r}"
            )
        if self.pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {POOLINGS}, got {self.pooling!r}")

    def qk_dim(self, dim: int) -> int:
        """Width of the within-lead queries and keys for a stage of token width ``dim``."""
        return max(1, round(dim * self.qk_ratio))

    @property
    def stem_stride(self) -> int:
        """Input samples per stem token."""
        return math.prod(self.stem_strides)
