"""Which records an epoch visits, in which order, and on which process.

:class:`EpochSampler` plays the role of ``torch.utils.data.DistributedSampler`` (and of a weighted
random sampler): the epoch's global order is drawn from a generator seeded by (seed, epoch), so
every process draws the same order without communicating; it is cut to a multiple of the number of
processes and process ``rank`` takes every ``world``-th entry, so the shards are disjoint and equally
long (every process runs the same number of steps). It yields ``(draw, k)`` pairs: ``k`` indexes
the dataset and ``draw`` is the position in the global order, which seeds that crop's randomness.

With ``weights`` the order is drawn with replacement in proportion to them (the rare-class option,
see :func:`rare_class_weights`); without, it is a permutation.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from torch.utils.data import Sampler


class EpochSampler(Sampler[tuple[int, int]]):
    """Seeded per-epoch order over ``size`` items, sharded over ``world`` processes."""

    def __init__(
        self,
        size: int,
        seed: int = 0,
        rank: int = 0,
        world: int = 1,
        weights: np.ndarray | None = None,
    ) -> None:
        if not 0 <= rank < world:
            raise ValueError(f"rank {rank} is not in 0..{world - 1}")
        if size < world:
            raise ValueError(f"{size} training records cannot be shared by {world} processes")
        if weights is not None:
            weights = np.asarray(weights, dtype=np.float64)
            if weights.shape != (size,) or (weights < 0).any() or weights.sum() <= 0:
                raise ValueError(f"sampling weights must be {size} non-negative numbers with a positive sum")
            weights = weights / weights.sum()
        self.size = size
        self.seed = seed
        self.rank = rank
        self.world = world
        self.weights = weights
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    @property
    def total(self) -> int:
        """Items per epoch over all processes."""
        return self.size - self.size % self.world

    def order(self) -> np.ndarray:
        """The epoch's global order of dataset indices (before sharding)."""
        rng = np.random.default_rng((self.seed, self.epoch))
        if self.weights is None:
            order = rng.permutation(self.size)
        else:
            order = rng.choice(self.size, size=self.size, replace=True, p=self.weights)
        return order[: self.total]

    def __iter__(self) -> Iterator[tuple[int, int]]:
        order = self.order()
        for draw in range(self.rank, self.total, self.world):
            yield draw, int(order[draw])

    def __len__(self) -> int:
        return self.total // self.world


def rare_class_weights(labels: np.ndarray, power: float = 0.5) -> np.ndarray:
    """Sampling weight per record: its rarest class's frequency to the power ``-power``.

    Records without a scored class count as one more class. ``power`` 0 samples uniformly, 1 gives
    every class (by its rarest member) about equal visits; 0.5 is in between.
    """
    labels = np.asarray(labels, dtype=bool)
    groups = np.concatenate([labels, ~labels.any(axis=1, keepdims=True)], axis=1)
    counts = groups.sum(axis=0).astype(np.float64)
    inverse = np.where(counts > 0, 1.0 / np.maximum(counts, 1.0), 0.0) ** power
    return (groups * inverse).max(axis=1)
