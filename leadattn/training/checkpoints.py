"""What a training checkpoint holds, and what may change when a run is resumed.

``last.pt`` (written after every epoch) holds everything needed to continue: weights, optimiser,
scheduler and gradient-scaler state, the epoch, the history and the early-stopping state.
``best.pt`` holds the weights of the best epoch so far with the same description of the model
(config, preprocessing, classes, thresholds) but without the optimiser state. Both are written with
:func:`leadattn.checkpoint.save_checkpoint` (atomic) and read with ``weights_only=True``.

Random state is not stored: every random draw of an epoch is seeded from (seed, epoch, rank), so the
epoch number is the whole of it, and resuming at an epoch boundary reproduces an uninterrupted run.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from leadattn.checkpoint import PRETRAINED_KIND, CheckpointError, load_checkpoint
from leadattn.training.config import ConfigError, ConfigTree, T, TrainConfig

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

RESUME_STATE_KEYS = ("optimizer_state", "scheduler_state", "scaler_state", "history", "best", "stopped_early")


def flatten(values: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested dict to dotted keys: ``{"optim": {"lr": 1e-3}}`` -> ``{"optim.lr": 1e-3}``."""
    flat: dict[str, Any] = {}
    for key, value in values.items():
        if isinstance(value, dict):
            flat.update(flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def config_differences(saved: dict[str, Any], current: dict[str, Any]) -> list[str]:
    """Dotted keys whose values differ between two config dicts, ignoring the overridable ones."""
    a, b = flatten(saved), flatten(current)
    keys = sorted((set(a) | set(b)) - RESUME_OVERRIDABLE)
    return [f"{k} ({a.get(k)!r} in the run, {b.get(k)!r} now)" for k in keys if a.get(k) != b.get(k)]


def _holds(payload: dict[str, Any], config_key: str, run_dir: Path) -> None:
    """A clear error when a run folder holds the other kind of run (training vs pretraining)."""
    if config_key in payload:
        return
    if payload.get("kind") == PRETRAINED_KIND:
        raise CheckpointError(
            f"{run_dir} holds a pretraining run, not a training run: continue it with "
            f"`leadattn pretrain --resume {run_dir}`, or fine-tune from it with --init {run_dir / LAST}"
        )
    if "train_config" in payload:
        raise CheckpointError(
            f"{run_dir} holds a supervised training run, not a pretraining run: continue it with "
            f"`leadattn train --resume {run_dir}`"
        )
    raise CheckpointError(f"nothing to resume in {run_dir}: {LAST} holds no run configuration")


def resume_payload(
    run_dir: Path, config: ConfigTree, map_location: Any = "cpu", config_key: str = "train_config"
) -> dict[str, Any]:
    """``last.pt`` of ``run_dir``, checked to be resumable with ``config`` (stored under ``config_key``)."""
    path = Path(run_dir) / LAST
    if not path.is_file():
        raise CheckpointError(f"nothing to resume in {run_dir}: {LAST} not found")
    payload = load_checkpoint(path, map_location, required=("format_version",))
    _holds(payload, config_key, Path(run_dir))
    missing = [k for k in (config_key, *RESUME_STATE_KEYS) if k not in payload]
    if missing:
        raise CheckpointError(f"{path} cannot be resumed: it lacks {', '.join(missing)}")
    differences = config_differences(payload[config_key], config.to_dict())
    if differences:
        raise ConfigError(f"the configuration differs from the run in {run_dir}: " + "; ".join(differences))
    return payload


def run_config(
    run_dir: str | Path,
    overrides: dict[str, Any] | None = None,
    kind: type[T] = TrainConfig,
    config_key: str = "train_config",
) -> T:
    """The configuration a run was started with (from its ``last.pt``), with overridable keys changed.

    ``run.out`` is set to ``run_dir``, so a run folder that was moved resumes where it now is.
    """
    run_dir = Path(run_dir)
    if not (run_dir / LAST).is_file():
        raise CheckpointError(f"nothing to resume in {run_dir}: {LAST} not found")
    payload = load_checkpoint(run_dir / LAST, required=("format_version",))
    _holds(payload, config_key, run_dir)
    overrides = dict(overrides or {})
    refused = sorted(set(overrides) - RESUME_OVERRIDABLE)
    if refused:
        raise ConfigError(
            f"cannot change {', '.join(refused)} when resuming (only {', '.join(sorted(RESUME_OVERRIDABLE))})"
        )
    return kind.from_dict(payload[config_key]).replace({**overrides, "run.out": str(run_dir)})
