"""Training configuration: one tree of frozen dataclasses, read from YAML or TOML, overridable by key.

A configuration file may name only the keys it changes; everything else keeps the defaults below
(``leadattn/training/configs/default.yaml`` lists every key with its meaning). Command-line overrides
use dotted keys, ``optim.lr=3e-4`` or ``augment.lead_subsets=[12,2]``; values are read as YAML and
converted to the key's type. Unknown keys and values of the wrong type are errors naming the key.
"""

from __future__ import annotations

import dataclasses
import difflib
import importlib.resources
import types
import typing
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar, Union

import yaml

try:  # Python 3.11+; older versions read TOML with the tomli package when it is installed
    import tomllib
except ImportError:  # pragma: no cover - depends on the interpreter
    tomllib = None

from leadattn.data.manifest import NUM_FOLDS
from leadattn.data.preprocess import PreprocessConfig
from leadattn.leads import LEAD_SUBSETS
from leadattn.metrics import HEADLINE
from leadattn.models import LocalLeadAttentionConfig

MONITORS = (*HEADLINE, "val_loss")
"""Metrics that early stopping and the choice of ``best.pt`` can follow."""


class ConfigError(ValueError):
    """A configuration file or override that names an unknown key or gives a value of the wrong type."""


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise ConfigError(message)


@dataclass(frozen=True)
class DataConfig:
    """Which records train and validate the model, and how they are cut into crops."""

    demo: bool = False
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
            _check(all(0 <= f < NUM_FOLDS for f in folds), f"data.{name} must be folds 0..{NUM_FOLDS - 1}")
        _check(bool(self.val_folds), "data.val_folds must name at least one fold")
        _check(not set(self.val_folds) & set(self.test_folds), "data.val_folds and data.test_folds overlap")
        if self.train_folds is not None:
            held_out = set(self.val_folds) | set(self.test_folds)
            _check(bool(self.train_folds), "data.train_folds is empty (use null for every other fold)")
            _check(
                not set(self.train_folds) & held_out, "data.train_folds overlaps the validation/test folds"
            )
        _check(0.0 < self.train_fraction <= 1.0, "data.train_fraction must lie in (0, 1]")
        _check(self.crop_seconds > 0 and self.val_crop_seconds > 0, "crop lengths must be positive")
        _check(self.batch_size >= 1 and self.val_batch_size >= 1, "batch sizes must be at least 1")
        _check(self.rare_class_power >= 0, "data.rare_class_power must be >= 0")
        _check(self.workers >= 0, "data.workers must be >= 0")


@dataclass(frozen=True)
class AugmentConfig:
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
        _check(0.0 <= self.probability <= 1.0, "augment.probability must lie in [0, 1]")
        _check(0.0 <= self.amplitude < 1.0, "augment.amplitude must lie in [0, 1)")
        for name in ("baseline_wander", "gaussian_noise", "mains_noise", "time_shift_seconds"):
            _check(getattr(self, name) >= 0, f"augment.{name} must be >= 0")
        unknown = [s for s in self.lead_subsets if s not in LEAD_SUBSETS]
        _check(not unknown, f"augment.lead_subsets must be among {sorted(LEAD_SUBSETS)}, got {unknown}")
        _check(bool(self.lead_subsets), "augment.lead_subsets must name at least one subset")
        _check(
            len(self.lead_subset_weights) == len(self.lead_subsets),
            "augment.lead_subset_weights needs one weight per entry of augment.lead_subsets",
        )
        _check(
            all(w >= 0 for w in self.lead_subset_weights) and sum(self.lead_subset_weights) > 0,
            "augment.lead_subset_weights must be >= 0 with a positive sum",
        )


@dataclass(frozen=True)
class LossConfig:
    """Binary cross-entropy with logits, optionally class-weighted, or the asymmetric loss."""

    kind: Literal["bce", "asymmetric"] = "bce"
    class_weighting: Literal["none", "inverse_frequency", "sqrt_inverse_frequency"] = "none"
    max_positive_weight: float = 10.0
    negative_weight: float = 1.0
    gamma_positive: float = 0.0
    gamma_negative: float = 4.0
    clip: float = 0.05

    def __post_init__(self) -> None:
        _check(self.max_positive_weight >= 1.0, "loss.max_positive_weight must be >= 1")
        _check(self.negative_weight > 0, "loss.negative_weight must be positive")
        _check(self.gamma_positive >= 0 and self.gamma_negative >= 0, "loss gammas must be >= 0")
        _check(0.0 <= self.clip < 1.0, "loss.clip must lie in [0, 1)")


@dataclass(frozen=True)
class OptimConfig:
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
        _check(self.epochs >= 1, "optim.epochs must be at least 1")
        _check(self.lr > 0, "optim.lr must be positive")
        _check(self.weight_decay >= 0, "optim.weight_decay must be >= 0")
        _check(all(0.0 <= b < 1.0 for b in self.betas), "optim.betas must lie in [0, 1)")
        _check(0.0 <= self.warmup_epochs <= self.epochs, "optim.warmup_epochs must lie in [0, optim.epochs]")
        _check(0.0 <= self.min_lr_ratio <= 1.0, "optim.min_lr_ratio must lie in [0, 1]")
        _check(self.grad_clip >= 0, "optim.grad_clip must be >= 0 (0 disables clipping)")


@dataclass(frozen=True)
class RunConfig:
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
        _check(self.monitor in MONITORS, f"run.monitor must be one of {', '.join(MONITORS)}")
        _check(self.patience >= 0, "run.patience must be >= 0 (0 disables early stopping)")
        _check(self.threshold_min_positives >= 0, "run.threshold_min_positives must be >= 0")
        _check(
            bool(self.val_subsets) and set(self.val_subsets) <= set(LEAD_SUBSETS),
            f"run.val_subsets must list lead subset sizes among {', '.join(map(str, LEAD_SUBSETS))}",
        )
        _check(bool(self.out), "run.out must name a folder")


T = TypeVar("T", bound="ConfigTree")


class ConfigTree:
    """Methods shared by the top-level configurations (training, pretraining): a frozen dataclass of
    sections that reads partial dicts, takes dotted overrides and writes plain dicts."""

    def to_dict(self) -> dict[str, Any]:
        """Nested plain dictionary (tuples become lists), as written to ``config.yaml``."""
        return _plain(dataclasses.asdict(self))

    @classmethod
    def from_dict(cls: type[T], values: Mapping[str, Any]) -> T:
        """Defaults updated by ``values``, which may be partial; unknown keys are an error."""
        return _merge(cls(), values)

    def replace(self: T, overrides: Mapping[str, Any]) -> T:
        """A copy with dotted keys set, e.g. ``{"optim.lr": 3e-4}``."""
        return _merge(self, _nest(overrides))

    @property
    def crop_samples(self) -> int:
        """Training crop length in samples at the preprocessing rate."""
        return max(1, round(self.data.crop_seconds * self.preprocess.fs))

    @property
    def val_crop_samples(self) -> int:
        """Validation crop length in samples at the preprocessing rate."""
        return max(1, round(self.data.val_crop_seconds * self.preprocess.fs))


@dataclass(frozen=True)
class FinetuneConfig:
    """Starting from a pretrained encoder (``leadattn pretrain``) instead of random weights."""

    init: str | None = None
    linear_probe: bool = False

    def __post_init__(self) -> None:
        _check(not self.linear_probe or self.init is not None, "finetune.linear_probe needs finetune.init")


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
# Reading and writing


def load_config(path: str | Path, overrides: Iterable[str] = (), kind: type[T] = TrainConfig) -> T:
    """Read a YAML (``.yaml``/``.yml``) or TOML (``.toml``) file over the defaults of ``kind``, then
    apply ``key=value`` overrides."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"config file {path} does not exist")
    config = kind.from_dict(_read_mapping(path.read_text(encoding="utf-8"), path.suffix, str(path)))
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
    return apply_overrides(kind.from_dict(_read_mapping(text, ".yaml", f"bundled {name}.yaml")), overrides)


def parse_overrides(overrides: Iterable[str]) -> dict[str, Any]:
    """``["optim.lr=3e-4", ...]`` to ``{"optim.lr": "3e-4" parsed as YAML, ...}``."""
    parsed: dict[str, Any] = {}
    for item in overrides:
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigError(f"override {item!r} is not of the form key=value (e.g. optim.lr=3e-4)")
        try:
            parsed[key] = yaml.safe_load(text) if text.strip() else None
        except yaml.YAMLError as error:
            raise ConfigError(f"override {item!r}: value is not valid YAML ({error})") from None
    return parsed


def apply_overrides(config: T, overrides: Iterable[str]) -> T:
    """Apply ``key=value`` strings such as ``optim.lr=3e-4`` (values parsed as YAML)."""
    parsed = parse_overrides(overrides)
    return config.replace(parsed) if parsed else config


def save_config(config: ConfigTree, path: str | Path) -> Path:
    """Write the resolved configuration as YAML."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(config.to_dict(), sort_keys=False), encoding="utf-8")
    return path


def _read_mapping(text: str, suffix: str, where: str) -> dict[str, Any]:
    suffix = suffix.lower()
    if suffix not in (".toml", ".yaml", ".yml"):
        raise ConfigError(f"{where}: config files must be .yaml, .yml or .toml")
    if suffix == ".toml" and tomllib is None:
        raise ConfigError(f"{where}: reading TOML needs Python 3.11 or newer; use YAML")
    try:
        values = tomllib.loads(text) if suffix == ".toml" else yaml.safe_load(text) or {}
    except (yaml.YAMLError, ValueError) as error:  # tomllib.TOMLDecodeError is a ValueError
        raise ConfigError(f"{where} cannot be parsed: {error}") from None
    if not isinstance(values, dict):
        raise ConfigError(f"{where} must hold a mapping of sections (data, model, optim, ...)")
    return values


# ---------------------------------------------------------------------------------------------------
# Merging and type conversion


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _nest(dotted: Mapping[str, Any]) -> dict[str, Any]:
    nested: dict[str, Any] = {}
    for key, value in dotted.items():
        parts = key.split(".")
        node = nested
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"override {key!r} conflicts with another override")
        node[parts[-1]] = value
    return nested


def _merge(base: Any, values: Mapping[str, Any], prefix: str = "") -> Any:
    """A copy of dataclass ``base`` with ``values`` (a nested mapping) converted and set."""
    if not isinstance(values, Mapping):
        raise ConfigError(f"{prefix.rstrip('.') or 'config'} must be a mapping of keys, got {values!r}")
    hints = typing.get_type_hints(type(base))
    known = [f.name for f in fields(base)]
    changes: dict[str, Any] = {}
    for key, value in values.items():
        where = f"{prefix}{key}"
        if key not in known:
            close = difflib.get_close_matches(str(key), known, n=1)
            hint = f"; did you mean {prefix + close[0]!r}?" if close else f"; known: {', '.join(known)}"
            raise ConfigError(f"unknown config key {where!r}{hint}")
        current = getattr(base, key)
        if is_dataclass(current) and value is None:  # an empty section in a file
            continue
        if is_dataclass(current):
            changes[key] = _merge(current, value, f"{where}.")
        else:
            changes[key] = _coerce(value, hints[key], where)
    try:
        return dataclasses.replace(base, **changes)
    except ConfigError:
        raise
    except (TypeError, ValueError) as error:
        raise ConfigError(f"{prefix.rstrip('.') or 'config'}: {error}") from None


def _type_name(hint: Any) -> str:
    return getattr(hint, "__name__", None) or str(hint).replace("typing.", "")


def _coerce(value: Any, hint: Any, where: str) -> Any:
    """``value`` converted to the annotated type ``hint``, or a ConfigError naming ``where``."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for option in (a for a in args if a is not type(None)):
            try:
                return _coerce(value, option, where)
            except ConfigError as error:
                errors.append(str(error))
        raise ConfigError(errors[0] if len(errors) == 1 else f"{where}: {value!r} fits none of {hint}")
    if origin is Literal:
        if value not in args:
            raise ConfigError(f"{where} must be one of {', '.join(map(repr, args))}, got {value!r}")
        return value
    if origin is tuple:
        if isinstance(value, str | bytes) or not isinstance(value, Iterable):
            raise ConfigError(f"{where} must be a list, got {value!r}")
        items = list(value)
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_coerce(v, args[0], f"{where}[{i}]") for i, v in enumerate(items))
        if len(items) != len(args):
            raise ConfigError(f"{where} must be a list of {len(args)} values, got {value!r}")
        return tuple(_coerce(v, a, f"{where}[{i}]") for i, (v, a) in enumerate(zip(items, args)))
    if hint is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where} must be true or false, got {value!r}")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise ConfigError(f"{where} must be an integer, got {value!r}")
        try:
            number = float(value)
        except ValueError:
            raise ConfigError(f"{where} must be an integer, got {value!r}") from None
        if not number.is_integer():
            raise ConfigError(f"{where} must be an integer, got {value!r}")
        return int(number)
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise ConfigError(f"{where} must be a number, got {value!r}")
        try:
            return float(value)
        except ValueError:
            raise ConfigError(f"{where} must be a number, got {value!r}") from None
    if hint is str:
        if not isinstance(value, str):
            raise ConfigError(f"{where} must be a string, got {value!r}")
        return value
    raise ConfigError(f"{where}: unsupported type {_type_name(hint)}")
