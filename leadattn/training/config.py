"""Training configuration: one tree of frozen dataclasses, read from YAML or TOML, overridable by key.

A configuration file may name only the keys it changes; everything else keeps the defaults below
(``leadattn/training/configs/default.yaml`` lists every key with its meaning). Command-line overrides
use dotted keys, ``optim.lr=3e-4`` or ``augment.lead_subsets=[12,2]``; values are read as YAML and
converted to the key's type. Unknown keys and values of the wrong type are errors naming the key.
"""

from __future__ import annotations

import importlib.resources
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, TypeVar

from leadattn.config import Config, apply_overrides, bounded, check, read_mapping
from leadattn.data.manifest import NUM_FOLDS
from leadattn.data.preprocess import PreprocessConfig
from leadattn.leads import LEAD_SUBSETS
from leadattn.metrics import HEADLINE
from leadattn.models import LocalLeadAttentionConfig

MONITORS = (*HEADLINE, "val_loss")
"""Metrics that early stopping and the choice of ``best.pt`` can follow."""


@dataclass(frozen=True)
class DataConfig(Config):
    """Which records train and validate the model, and how they are cut into crops."""

    section = "data"
    manifest: str | None = None
    data_dir: str | None = None
    cache_dir: str | None = None
    train_folds: tuple[int, ...] | None = bounded(None, ge=0, lt=NUM_FOLDS)
    train_fraction: float = bounded(1.0, gt=0, le=1)
    val_folds: tuple[int, ...] = bounded((8,), ge=0, lt=NUM_FOLDS)
    test_folds: tuple[int, ...] = bounded((9,), ge=0, lt=NUM_FOLDS)
    crop_seconds: float = bounded(8.0, gt=0)
    val_crop_seconds: float = bounded(10.0, gt=0)
    batch_size: int = bounded(32, ge=1)
    val_batch_size: int = bounded(64, ge=1)
    sampler: Literal["shuffle", "rare_class"] = "shuffle"
    rare_class_power: float = bounded(0.5, ge=0)
    workers: int = bounded(2, ge=0)

    def __post_init__(self) -> None:
        super().__post_init__()
        check(bool(self.val_folds), "data.val_folds must name at least one fold")
        check(not set(self.val_folds) & set(self.test_folds), "data.val_folds and data.test_folds overlap")
        if self.train_folds is not None:
            held_out = set(self.val_folds) | set(self.test_folds)
            check(bool(self.train_folds), "data.train_folds is empty (use null for every other fold)")
            check(not set(self.train_folds) & held_out, "data.train_folds overlaps the validation/test folds")


@dataclass(frozen=True)
class AugmentConfig(Config):
    """Training-time changes to each crop; validation crops are never augmented."""

    section = "augment"
    enabled: bool = True
    probability: float = bounded(0.5, ge=0, le=1)
    amplitude: float = bounded(0.2, ge=0, lt=1)
    baseline_wander: float = bounded(0.3, ge=0)
    gaussian_noise: float = bounded(0.05, ge=0)
    mains_noise: float = bounded(0.05, ge=0)
    time_shift_seconds: float = bounded(0.5, ge=0)
    lead_subsets: tuple[int, ...] = (12, 6, 4, 3, 2)
    lead_subset_weights: tuple[float, ...] = bounded((0.4, 0.15, 0.15, 0.15, 0.15), ge=0)

    def __post_init__(self) -> None:
        super().__post_init__()
        unknown = [s for s in self.lead_subsets if s not in LEAD_SUBSETS]
        check(not unknown, f"augment.lead_subsets must be among {sorted(LEAD_SUBSETS)}, got {unknown}")
        check(bool(self.lead_subsets), "augment.lead_subsets must name at least one subset")
        check(
            len(self.lead_subset_weights) == len(self.lead_subsets),
            "augment.lead_subset_weights needs one weight per entry of augment.lead_subsets",
        )
        check(sum(self.lead_subset_weights) > 0, "augment.lead_subset_weights must have a positive sum")


@dataclass(frozen=True)
class LossConfig(Config):
    """Binary cross-entropy with logits, optionally class-weighted, or the asymmetric loss."""

    section = "loss"
    kind: Literal["bce", "asymmetric"] = "bce"
    class_weighting: Literal["none", "inverse_frequency", "sqrt_inverse_frequency"] = "none"
    max_positive_weight: float = bounded(10.0, ge=1)
    negative_weight: float = bounded(1.0, gt=0)
    gamma_positive: float = bounded(0.0, ge=0)
    gamma_negative: float = bounded(4.0, ge=0)
    clip: float = bounded(0.05, ge=0, lt=1)
    prior_bias: bool = False


@dataclass(frozen=True)
class OptimConfig(Config):
    """AdamW, the learning-rate schedule and gradient clipping."""

    section = "optim"
    epochs: int = bounded(40, ge=1)
    lr: float = bounded(1e-3, gt=0)
    weight_decay: float = bounded(0.05, ge=0)
    betas: tuple[float, float] = bounded((0.9, 0.999), ge=0, lt=1)
    schedule: Literal["cosine", "onecycle", "constant"] = "cosine"
    warmup_epochs: float = bounded(1.0, ge=0)
    min_lr_ratio: float = bounded(0.01, ge=0, le=1)
    grad_clip: float = bounded(1.0, ge=0, note="0 disables clipping")
    table_lr_scale: float = bounded(1.0, gt=0)
    ema_decay: float = bounded(0.0, ge=0, lt=1, note="0: no weight average")

    def __post_init__(self) -> None:
        super().__post_init__()
        check(self.warmup_epochs <= self.epochs, "optim.warmup_epochs must not exceed optim.epochs")


@dataclass(frozen=True)
class RunConfig(Config):
    """Where the run goes, the hardware it uses, and when it stops."""

    section = "run"
    out: str = "runs/default"
    seed: int = 0
    device: str = "auto"
    amp: Literal["auto", "off", "bf16", "fp16"] = "auto"
    compile: bool = False
    deterministic: bool = False
    threshold_objective: Literal["challenge", "f_measure"] = "challenge"
    threshold_min_positives: int = bounded(5, ge=0)
    val_subsets: tuple[int, ...] = (12, 6, 4, 3, 2)
    monitor: str = "challenge_metric"
    patience: int = bounded(10, ge=0, note="0 disables early stopping")
    tensorboard: bool = True
    progress: bool = True

    def __post_init__(self) -> None:
        super().__post_init__()
        check(self.monitor in MONITORS, f"run.monitor must be one of {', '.join(MONITORS)}")
        check(
            bool(self.val_subsets) and set(self.val_subsets) <= set(LEAD_SUBSETS),
            f"run.val_subsets must list lead subset sizes among {', '.join(map(str, LEAD_SUBSETS))}",
        )
        check(bool(self.out), "run.out must name a folder")


T = TypeVar("T", bound="ConfigTree")


class ConfigTree(Config):
    """A top-level configuration (training, pretraining): sections of data, preprocessing and model."""

    @property
    def crop_samples(self) -> int:
        """Training crop length in samples at the preprocessing rate."""
        return max(1, round(self.data.crop_seconds * self.preprocess.fs))

    @property
    def val_crop_samples(self) -> int:
        """Validation crop length in samples at the preprocessing rate."""
        return max(1, round(self.data.val_crop_seconds * self.preprocess.fs))


@dataclass(frozen=True)
class FinetuneConfig(Config):
    """Starting from a pretrained encoder (``leadattn pretrain``) instead of random weights."""

    section = "finetune"
    init: str | None = None
    linear_probe: bool = False

    def __post_init__(self) -> None:
        super().__post_init__()
        check(not self.linear_probe or self.init is not None, "finetune.linear_probe needs finetune.init")


@dataclass(frozen=True)
class TrainConfig(ConfigTree):
    """Everything a training run depends on; saved with the run so it can be repeated or resumed."""

    data: DataConfig = field(default_factory=DataConfig)
    preprocess: PreprocessConfig = field(default_factory=PreprocessConfig)
    model: LocalLeadAttentionConfig = field(default_factory=LocalLeadAttentionConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    run: RunConfig = field(default_factory=RunConfig)
    finetune: FinetuneConfig = field(default_factory=FinetuneConfig)


# ---------------------------------------------------------------------------------------------------
# Configuration files


def load_config(path: str | Path, overrides: Iterable[str] = (), kind: type[T] = TrainConfig) -> T:
    """Read a YAML (``.yaml``/``.yml``) or TOML (``.toml``) file over the defaults of ``kind``, then
    apply ``key=value`` overrides."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"config file {path} does not exist")
    config = kind.from_dict(read_mapping(path.read_text(encoding="utf-8"), path.suffix, str(path)))
    return apply_overrides(config, overrides)


def bundled_config(
    name: str,
    overrides: Iterable[str] = (),
    kind: type[T] = TrainConfig,
    package: str = "leadattn.training",
) -> T:
    """One of the configurations shipped in ``package``'s ``configs`` folder (for training:
    ``default`` or ``demo``)."""
    resource = importlib.resources.files(package) / "configs" / f"{name}.yaml"
    if not resource.is_file():
        raise FileNotFoundError(f"no bundled config named {name!r} in {package}")
    text = resource.read_text(encoding="utf-8")
    return apply_overrides(kind.from_dict(read_mapping(text, ".yaml", f"bundled {name}.yaml")), overrides)
