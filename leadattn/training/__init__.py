"""Training the local lead-attention network: configuration, data, optimisation, checkpoints, DDP.

``train(config)`` runs a :class:`TrainConfig` (read with :func:`load_config` or
:func:`bundled_config`, changed with :func:`apply_overrides`) and returns a :class:`RunResult`.
"""

from leadattn.config import ConfigError, apply_overrides, save_config
from leadattn.training.augment import Augmenter
from leadattn.training.config import (
    AugmentConfig,
    DataConfig,
    LossConfig,
    OptimConfig,
    RunConfig,
    TrainConfig,
    bundled_config,
    load_config,
)
from leadattn.training.dataset import CropDataset, Splits, load_splits
from leadattn.training.loop import RunResult, TrainingError, train
from leadattn.training.resume import run_config
from leadattn.training.sampler import EpochSampler, rare_class_weights
from leadattn.training.step import Optimiser, classifier_step

__all__ = [
    "AugmentConfig",
    "Augmenter",
    "ConfigError",
    "CropDataset",
    "DataConfig",
    "EpochSampler",
    "LossConfig",
    "Optimiser",
    "OptimConfig",
    "RunConfig",
    "RunResult",
    "Splits",
    "TrainConfig",
    "TrainingError",
    "apply_overrides",
    "bundled_config",
    "classifier_step",
    "load_config",
    "load_splits",
    "rare_class_weights",
    "run_config",
    "save_config",
    "train",
]
