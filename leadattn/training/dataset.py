"""Training data: the manifest's folds read through the preprocessing cache, cut into fixed-length crops.

Training crops start at a random sample and are augmented; validation crops are centred and never
augmented. Records shorter than a crop are zero-padded at the end, and every crop carries its valid
length so that the model skips the padding. The randomness of a training
crop comes from a generator seeded by (seed, epoch, draw), where ``draw`` is the crop's position in
the epoch's global order (see :mod:`leadattn.training.sampler`), so a crop does not depend on the
number of DataLoader workers or processes, and a resumed run sees the same crops as an
uninterrupted one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch.utils.data import Dataset

from leadattn.data import (
    PreprocessConfig,
    SignalCache,
    build_cache,
    default_cache_dir,
    manifest_data_dir,
    read_manifest,
    select_folds,
)
from leadattn.training.augment import Augmenter
from leadattn.training.config import DataConfig


@dataclass
class Splits:
    """Where the data of a run lives and which cached records train and validate."""

    manifest: Path
    data_dir: Path
    cache: SignalCache
    train: np.ndarray
    val: np.ndarray
    skipped: list[dict] = field(default_factory=list)

    def labels(self, indices: np.ndarray) -> np.ndarray:
        """Label matrix [len(indices), 26] of cached records."""
        return self.cache.label_matrix[indices]


def load_splits(config: DataConfig, preprocess: PreprocessConfig, unlabelled: bool = False) -> Splits:
    """Resolve the manifest and data folder, build the cache if it is missing or stale, pick folds.

    Records the cache build could not read are left out and listed in ``Splits.skipped``; records
    without a diagnosis are left out too unless ``unlabelled`` (pretraining does not use labels).
    """
    if config.manifest is None:
        raise ValueError(
            "no training data: set data.manifest (--manifest PATH), or run without arguments for the demo"
        )
    manifest = Path(config.manifest)
    data_dir = Path(config.data_dir) if config.data_dir else manifest_data_dir(manifest)
    if not data_dir.is_dir():
        raise FileNotFoundError(f"data directory {data_dir} (of manifest {manifest}) does not exist")
    frame = read_manifest(manifest)
    cache_dir = Path(config.cache_dir) if config.cache_dir else default_cache_dir(manifest)
    cache = build_cache(frame, data_dir, cache_dir, preprocess)
    train_rows, val_rows = split_rows(frame, config, unlabelled)
    train, val = _cached(cache, train_rows), _cached(cache, val_rows)
    train = label_subset(train, config.train_fraction)
    for name, rows in (("training", train), ("validation", val)):
        if rows.size == 0:
            raise ValueError(f"manifest {manifest} has no readable {name} records in the chosen folds")
    return Splits(manifest, data_dir, cache, train, val, list(cache.meta.get("skipped", [])))


def split_rows(
    frame: pd.DataFrame, config: DataConfig, unlabelled: bool = False
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Manifest rows of the training folds and of the validation folds; unlabelled records (no
    diagnosis in their header) take part in neither unless ``unlabelled``."""
    if not unlabelled:
        frame = frame[frame["labelled"]]
    if config.train_folds is None:
        train = select_folds(frame, (*config.val_folds, *config.test_folds), exclude=True)
    else:
        train = select_folds(frame, config.train_folds)
    return train, select_folds(frame, config.val_folds)


def label_subset(indices: np.ndarray, fraction: float) -> np.ndarray:
    """The first ``ceil(fraction * n)`` records of a fixed random order of ``indices`` (sorted).

    The order does not depend on the fraction, so smaller subsets are nested in larger ones and
    label-efficiency runs differ only in how many labelled records they add.
    """
    if fraction >= 1.0:
        return indices
    order = np.random.default_rng(0).permutation(indices.size)
    keep = max(1, math.ceil(fraction * indices.size))
    return np.sort(indices[order[:keep]])


def _cached(cache: SignalCache, rows: pd.DataFrame) -> np.ndarray:
    """Cache indices of the rows' records; records the cache build skipped are left out."""
    positions = []
    for name in rows["name"]:
        try:
            positions.append(cache.index_of(name))
        except KeyError:
            continue
    return np.array(sorted(positions), dtype=np.int64)


class CropDataset(Dataset):
    """Crops ``[12, length]`` of cached records ``indices``.

    Item ``k`` (validation) is the centred crop of ``indices[k]``; item ``(draw, k)`` (training, as
    yielded by :class:`~leadattn.training.sampler.EpochSampler`) is a random, augmented crop. Each
    item is ``(x float32 [12, length], mask bool [12], valid samples, labels float32 [26], k)``. The cache is
    opened lazily in each process, so workers share its memory map instead of copying it.
    """

    def __init__(
        self,
        cache_dir: str | Path,
        indices: np.ndarray,
        length: int,
        augmenter: Augmenter | None = None,
        seed: int = 0,
    ) -> None:
        self.cache_dir = Path(cache_dir)
        self.indices = np.asarray(indices, dtype=np.int64)
        self.length = int(length)
        self.augmenter = augmenter
        self.seed = int(seed)
        self.epoch = 0
        self._cache: SignalCache | None = None

    def set_epoch(self, epoch: int) -> None:
        """Choose the epoch whose random crops are drawn (call before iterating)."""
        self.epoch = int(epoch)

    @property
    def cache(self) -> SignalCache:
        if self._cache is None:
            self._cache = SignalCache(self.cache_dir)
        return self._cache

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_cache": None}

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, item: int | tuple[int, int]) -> tuple[torch.Tensor, ...]:
        if isinstance(item, tuple):
            draw, k = item
            rng = np.random.default_rng((self.seed, self.epoch, int(draw)))
        else:
            k, rng = item, None
        i = int(self.indices[k])
        n = int(self.cache.lengths[i])
        if n > self.length:
            start = int(rng.integers(0, n - self.length + 1)) if rng is not None else (n - self.length) // 2
        else:
            start = 0
        x = np.zeros((self.cache.mask_matrix.shape[1], self.length), dtype=np.float32)
        block = self.cache.signal(i, start, start + self.length)
        x[:, : block.shape[1]] = block
        mask = np.array(self.cache.mask(i), dtype=bool)
        valid = block.shape[1]
        if rng is not None and self.augmenter is not None:
            x, mask, valid = self.augmenter(x, mask, valid, rng)
        labels = np.asarray(self.cache.labels(i), dtype=np.float32)
        return torch.from_numpy(x), torch.from_numpy(mask), valid, torch.from_numpy(labels), int(k)
