"""Resuming a run: which settings may change, and the checks that ``last.pt`` fits the run asked for.

A run folder holds ``config.yaml`` (the resolved configuration, written when the run starts),
``last.pt`` (after every epoch: the checkpoint with everything needed to continue, see
:mod:`leadattn.checkpoint`) and, for training, ``best.pt``. :func:`run_config` reads the configuration
of a run from its ``config.yaml``; the run then reads ``last.pt`` once, with :func:`resume_payload`,
which refuses a checkpoint of the other kind of run or one whose configuration differs from the one
asked for in anything but :data:`RESUME_OVERRIDABLE`.

Random state is not stored: every random draw of an epoch is seeded from (seed, epoch, rank), so the
epoch number is the whole of it, and resuming at an epoch boundary reproduces an uninterrupted run.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import fields
from pathlib import Path
from typing import Any, TypeVar

import yaml

from leadattn.checkpoint import PRETRAINED_KIND, RESUME_KEYS, RUN_KEYS, CheckpointError, load_checkpoint
from leadattn.config import Config, ConfigError

LAST = "last.pt"
BEST = "best.pt"
CONFIG = "config.yaml"

RESUME_OVERRIDABLE = frozenset(
    {
        "data.manifest",
        "data.data_dir",
        "data.cache_dir",
        "data.workers",
        "run.out",
        "run.device",
        "run.progress",
        "run.tensorboard",
    }
)
"""Keys that may differ when a run is resumed: where things are and how the run is watched, not what
it computes (``data.val_batch_size`` does not change results either, but is kept fixed for simplicity)."""

K = TypeVar("K", bound=Config)


def flatten(values: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested dict to dotted keys: ``{"optim": {"lr": 1e-3}}`` -> ``{"optim.lr": 1e-3}``."""
    flat: dict[str, Any] = {}
    for key, value in values.items():
        if isinstance(value, Mapping):
            flat.update(flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def config_differences(saved: Mapping[str, Any], current: Mapping[str, Any]) -> list[str]:
    """Dotted keys whose values differ between two config dicts, ignoring the overridable ones."""
    a, b = flatten(saved), flatten(current)
    keys = sorted((set(a) | set(b)) - RESUME_OVERRIDABLE)
    return [f"{k} ({a.get(k)!r} in the run, {b.get(k)!r} now)" for k in keys if a.get(k) != b.get(k)]


def _other_kind(run_dir: Path, pretraining: bool) -> CheckpointError:
    """The error for a run folder that holds the other kind of run (training vs pretraining)."""
    if pretraining:
        return CheckpointError(
            f"{run_dir} holds a pretraining run, not a training run: continue it with "
            f"`leadattn pretrain --resume {run_dir}`, or fine-tune from it with --init {run_dir / LAST}"
        )
    return CheckpointError(
        f"{run_dir} holds a supervised training run, not a pretraining run: continue it with "
        f"`leadattn train --resume {run_dir}`"
    )


def resume_payload(run_dir: Path, config: Config, config_key: str) -> dict[str, Any]:
    """``last.pt`` of ``run_dir`` (on the CPU), checked to be resumable with ``config``, which the
    run stored under ``config_key``."""
    path = Path(run_dir) / LAST
    if not path.is_file():
        raise CheckpointError(f"nothing to resume in {run_dir}: {LAST} not found")
    payload = load_checkpoint(path, required=("format_version",))
    if config_key not in payload:
        if payload.get("kind") == PRETRAINED_KIND or "train_config" in payload:
            raise _other_kind(Path(run_dir), payload.get("kind") == PRETRAINED_KIND)
        raise CheckpointError(f"nothing to resume in {run_dir}: {LAST} holds no run configuration")
    missing = [k for k in (*RUN_KEYS, *RESUME_KEYS) if k not in payload]
    if missing:
        raise CheckpointError(f"{path} cannot be resumed: it lacks {', '.join(missing)}")
    differences = config_differences(payload[config_key], config.to_dict())
    if differences:
        raise ConfigError(f"the configuration differs from the run in {run_dir}: " + "; ".join(differences))
    return payload


def run_config(run_dir: str | Path, kind: type[K], overrides: Mapping[str, Any] | None = None) -> K:
    """The configuration a run was started with (its ``config.yaml``), with overridable keys changed.

    ``run.out`` is set to ``run_dir``, so a run folder that was moved resumes where it now is.
    """
    run_dir = Path(run_dir)
    if not (run_dir / LAST).is_file() or not (run_dir / CONFIG).is_file():
        raise CheckpointError(f"nothing to resume in {run_dir}: {LAST} or {CONFIG} not found")
    try:
        values = yaml.safe_load((run_dir / CONFIG).read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        raise ConfigError(f"{run_dir / CONFIG} cannot be parsed: {error}") from None
    if not isinstance(values, dict):
        raise ConfigError(f"{run_dir / CONFIG} does not hold a run configuration")
    sections = {f.name for f in fields(kind)}
    if not set(values) <= sections:
        raise _other_kind(run_dir, pretraining="jepa" in values)
    overrides = dict(overrides or {})
    refused = sorted(set(overrides) - RESUME_OVERRIDABLE)
    if refused:
        raise ConfigError(
            f"cannot change {', '.join(refused)} when resuming (only {', '.join(sorted(RESUME_OVERRIDABLE))})"
        )
    return kind.from_dict(values).replace({**overrides, "run.out": str(run_dir)})
