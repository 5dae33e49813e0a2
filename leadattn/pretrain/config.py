"""Pretraining configuration: the training sections it shares (data, preprocess, model, optim, run)
plus the masks, the predictor and the JEPA objective.

Patches are counted in samples at the preprocessing rate and must be a whole number of the encoder's
output tokens (``stem stride * 2 ** (stages - 1)``; 256 samples, 0.51 s at 500 Hz, for the default
network): then every token at every stage lies inside one patch, is all context or all hidden, and a
merged token never pairs a context token with a hidden one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from leadattn.config import Config, bounded, check
from leadattn.data.preprocess import PreprocessConfig
from leadattn.masks import IJEPAMaskCollator, LeadTimeMaskCollator, MaskCollator, MaskError
from leadattn.models import LocalLeadAttentionConfig
from leadattn.training.config import ConfigTree, DataConfig, OptimConfig, RunConfig


@dataclass(frozen=True)
class MaskConfig(Config):
    """Which mask collator hides what (see :mod:`leadattn.masks`)."""

    section = "mask"
    kind: Literal["ecg_jepa", "ijepa", "lead_time"] = "lead_time"
    patch_size: int = 256
    min_block_size: int = 2
    min_keep_ratio: float = 0.15
    max_keep_ratio: float = 0.25
    context_scale: tuple[float, float] = (0.85, 0.95)
    pred_scale: tuple[float, float] = (0.15, 0.2)
    num_pred_blocks: int = 4
    min_keep: int = 4
    min_hidden_leads: int = 3
    max_hidden_leads: int = 9

    def __post_init__(self) -> None:
        super().__post_init__()
        try:
            self.collator()
        except MaskError as error:
            raise MaskError(f"mask: {error}") from None

    def collator(self, seed: int | None = None) -> MaskCollator | IJEPAMaskCollator | LeadTimeMaskCollator:
        """The collator these settings describe."""
        if self.kind == "ecg_jepa":
            return MaskCollator(
                self.patch_size, self.min_block_size, self.min_keep_ratio, self.max_keep_ratio, seed=seed
            )
        if self.kind == "ijepa":
            return IJEPAMaskCollator(
                self.patch_size,
                self.context_scale,
                self.pred_scale,
                self.num_pred_blocks,
                self.min_keep,
                seed=seed,
            )
        return LeadTimeMaskCollator(
            self.patch_size,
            self.min_block_size,
            self.min_keep_ratio,
            self.max_keep_ratio,
            self.min_hidden_leads,
            self.max_hidden_leads,
            seed=seed,
        )


@dataclass(frozen=True)
class PredictorConfig(Config):
    """The narrow stack of lead-attention blocks that predicts target representations."""

    section = "predictor"
    dim: int = bounded(64, ge=1)
    depth: int = bounded(2, ge=1)
    heads: int = bounded(2, ge=1)
    window: int = bounded(0, ge=0)
    mlp_ratio: float = bounded(2.0, gt=0)

    def __post_init__(self) -> None:
        super().__post_init__()
        check(self.dim % self.heads == 0, "predictor.dim must be divisible by predictor.heads")
        check(self.window % 2 == 0, "predictor.window must be an even number or 0")


@dataclass(frozen=True)
class JepaConfig(Config):
    """The objective: loss on layer-normed target representations, EMA of the target encoder."""

    section = "jepa"
    loss: Literal["l1", "smooth_l1"] = "l1"
    ema_start: float = bounded(0.998, ge=0, le=1)
    ema_end: float = bounded(0.9995, ge=0, le=1)
    collapse_std: float = bounded(0.05, ge=0)

    def __post_init__(self) -> None:
        super().__post_init__()
        check(self.ema_start <= self.ema_end, "jepa.ema_start must not exceed jepa.ema_end")


@dataclass(frozen=True)
class PretrainConfig(ConfigTree):
    """Everything a pretraining run depends on; saved with the run so it can be resumed."""

    data: DataConfig = field(default_factory=lambda: DataConfig(crop_seconds=8.192, val_crop_seconds=8.192))
    preprocess: PreprocessConfig = field(default_factory=PreprocessConfig)
    model: LocalLeadAttentionConfig = field(default_factory=LocalLeadAttentionConfig)
    mask: MaskConfig = field(default_factory=MaskConfig)
    predictor: PredictorConfig = field(default_factory=PredictorConfig)
    jepa: JepaConfig = field(default_factory=JepaConfig)
    optim: OptimConfig = field(default_factory=lambda: OptimConfig(epochs=100))
    run: RunConfig = field(default_factory=lambda: RunConfig(out="runs/pretrain", monitor="val_loss"))

    def __post_init__(self) -> None:
        super().__post_init__()
        stride = self.token_stride
        check(
            self.mask.patch_size % stride == 0,
            f"mask.patch_size {self.mask.patch_size} must be a multiple of the encoder's output token "
            f"stride, {stride} samples (stem stride {self.model.stem_stride} x 2^{len(self.model.dims) - 1})",
        )
        for name, samples in (("crop", self.crop_samples), ("val_crop", self.val_crop_samples)):
            if samples % self.mask.patch_size:
                raise MaskError(
                    f"data.{name}_seconds gives {samples} samples at {self.preprocess.fs:g} Hz, which "
                    f"mask.patch_size {self.mask.patch_size} does not divide"
                )
            self.mask.collator().check(samples // self.mask.patch_size)

    @property
    def token_stride(self) -> int:
        """Input samples per token of the encoder's last stage."""
        return self.model.stem_stride * 2 ** (len(self.model.dims) - 1)
