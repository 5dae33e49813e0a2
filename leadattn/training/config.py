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

from leadattn.config import Config, apply_overrides, check, read_mapping
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

    manifest: str | None = None
    data_dir: str | None = None
    cache_dir: str | None = None
    train_folds: tuple[int, ...] | None = None
    train_fraction: float = 1.0
    val_folds: tuple[int, ...] = (8,)
    test_folds: tuple[int, ...] = (9,)
    crop_seconds: float = 8.0
    val_crop_seconds: float = 10.0
    batch_size: int = 32
    val_batch_size: int = 64
    sampler: Literal["shuffle", "rare_class"] = "shuffle"
    rare_class_power: float = 0.5
    workers: int = 2

    def __post_init__(self) -> None:
        for name in ("train_folds", "val_folds", "test_folds"):
            folds = getattr(self, name) or ()
            check(all(0 <= f < NUM_FOLDS for f in folds), f"data.{name} must be folds 0..{NUM_FOLDS - 1}")
        check(bool(self.val_folds), "data.val_folds must name at least one fold")
        check(not set(self.val_folds) & set(self.test_folds), "data.val_folds and data.test_folds overlap")
        if self.train_folds is not None:
            held_out = set(self.val_folds) | set(self.test_folds)
            check(bool(self.train_folds), "data.train_folds is empty (use null for every other fold)")
            check(not set(self.train_folds) & held_out, "data.train_folds overlaps the validation/test folds")
        check(0.0 < self.train_fraction <= 1.0, "data.train_fraction must lie in (0, 1]")
        check(self.crop_seconds > 0 and self.val_crop_seconds > 0, "crop lengths must be positive")
        check(self.batch_size >= 1 and self.val_batch_size >= 1, "batch sizes must be at least 1")
        check(self.rare_class_power >= 0, "data.rare_class_power must be >= 0")
        check(self.workers >= 0, "data.workers must be >= 0")


@dataclass(frozen=True)
class AugmentConfig(Config):
    """Training-time changes to each crop; validation crops are never augmented."""

    enabled: bool = True
    probability: float = 0.5
    amplitude: float = 0.2
    baseline_wander: float = 0.3
    gaussian_noise: float = 0.05
    mains_noise: float = 0.05
    time_shift_seconds: float = 0.5
    lead_subsets: tuple[int, ...] = (12, 6, 4, 3, 2)
    lead_subset_weights: tuple[float, ...] = (0.4, 0.15, 0.15, 0.15, 0.15)

    def __post_init__(self) -> None:
        check(0.0 <= self.probability <= 1.0, "augment.probability must lie in [0, 1]")
        check(0.0 <= self.amplitude < 1.0, "augment.amplitude must lie in [0, 1)")
        for name in ("baseline_wander", "gaussian_noise", "mains_noise", "time_shift_seconds"):
            check(getattr(self, name) >= 0, f"augment.{name} must be >= 0")
        unknown = [s for s in self.lead_subsets if s not in LEAD_SUBSETS]
        check(not unknown, f"augment.lead_subsets must be among {sorted(LEAD_SUBSETS)}, got {unknown}")
        check(bool(self.lead_subsets), "augment.lead_subsets must name at least one subset")
        check(
            len(self.lead_subset_weights) == len(self.lead_subsets),
            "augment.lead_subset_weights needs one weight per entry of augment.lead_subsets",
        )
        check(
            all(w >= 0 for w in self.lead_subset_weights) and sum(self.lead_subset_weights) > 0,
            "augment.lead_subset_weights must be >= 0 with a positive sum",
        )


@dataclass(frozen=True)
class LossConfig(Config):
    """Binary cross-entropy with logits, optionally class-weighted, or the asymmetric loss."""

    kind: Literal["bce", "asymmetric"] = "bce"
    class_weighting: Literal["none", "inverse_frequency", "sqrt_inverse_frequency"] = "none"
    max_positive_weight: float = 10.0
    negative_weight: float = 1.0
    gamma_positive: float = 0.0
    gamma_negative: float = 4.0
    clip: float = 0.05

    def __post_init__(self) -> None:
        check(self.max_positive_weight >= 1.0, "loss.max_positive_weight must be >= 1")
        check(self.negative_weight > 0, "loss.negative_weight must be positive")
        check(self.gamma_positive >= 0 and self.gamma_negative >= 0, "loss gammas must be >= 0")
        check(0.0 <= self.clip < 1.0, "loss.clip must lie in [0, 1)")


@dataclass(frozen=True)
class OptimConfig(Config):
    """AdamW, the learning-rate schedule and gradient clipping."""

    epochs: int = 40
    lr: float = 1e-3
    weight_decay: float = 0.05
    betas: tuple[float, float] = (0.9, 0.999)
    schedule: Literal["cosine", "onecycle", "constant"] = "cosine"
    warmup_epochs: float = 1.0
    min_lr_ratio: float = 0.01
    grad_clip: float = 1.0

    def __post_init__(self) -> None:
        check(self.epochs >= 1, "optim.epochs must be at least 1")
        check(self.lr > 0, "optim.lr must be positive")
        check(self.weight_decay >= 0, "optim.weight_decay must be >= 0")
        check(all(0.0 <= b < 1.0 for b in self.betas), "optim.betas must lie in [0, 1)")
        check(0.0 <= self.warmup_epochs <= self.epochs, "optim.warmup_epochs must lie in [0, optim.epochs]")
        check(0.0 <= self.min_lr_ratio <= 1.0, "optim.min_lr_ratio must lie in [0, 1]")
        check(self.grad_clip >= 0, "optim.grad_clip must be >= 0 (0 disables clipping)")


@dataclass(frozen=True)
class RunConfig(Config):
    """Where the run goes, the hardware it uses, and when it stops."""

    out: str = "runs/default"
    seed: int = 0
    device: str = "auto"
    amp: Literal["auto", "off", "bf16", "fp16"] = "auto"
    compile: bool = False
    deterministic: bool = False
    threshold_objective: Literal["challenge", "f_measure"] = "challenge"
    threshold_min_positives: int = 5
    val_subsets: tuple[int, ...] = (12, 6, 4, 3, 2)
    monitor: str = "challenge_metric"
    patience: int = 10
    tensorboard: bool = True
    progress: bool = True

    def __post_init__(self) -> None:
        check(self.monitor in MONITORS, f"run.monitor must be one of {', '.join(MONITORS)}")
        check(self.patience >= 0, "run.patience must be >= 0 (0 disables early stopping)")
        check(self.threshold_min_positives >= 0, "run.threshold_min_positives must be >= 0")
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

    init: str | None = None
    linear_probe: bool = False

    def __post_init__(self) -> None:
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
