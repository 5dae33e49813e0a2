"""Masks for joint-embedding predictive pretraining: which patches the context encoder sees and which
ones the predictor must describe.

A record of ``T`` samples is cut into ``N = T / patch_size`` patches. Three collators sample masks for
a whole batch at once, with one size per batch so that the index tensors stack:

- :class:`MaskCollator` (ECG-JEPA, Weimann & Conrad): one keep ratio per batch; masked blocks of at
  least ``min_block_size`` patches are carved out of the record's free intervals; the context is what
  remains, the targets are the rest. A patch spans all leads.
- :class:`IJEPAMaskCollator` (I-JEPA multi-block, in one dimension): ``num_pred_blocks`` target
  intervals of one sampled length, one contiguous context interval with every target removed from it.
- :class:`LeadTimeMaskCollator`: masks over (lead, patch) pairs. One ECG-JEPA time mask per record is
  applied to a random subset of its leads; the other leads stay whole, so the hidden part of a lead
  has to be inferred from the leads at the same moment and from its own visible stretches.

Each collator is called on a list of dataset items and returns ``(default_collate(items), masks)``;
:meth:`sample` draws masks alone for a batch size and patch count. Randomness comes from a
``numpy.random.Generator`` (seeded at construction, or passed to :meth:`sample`), so masks are
reproducible. Indices count patches (``leads == 1``) or ``lead * N + patch`` (``leads == 12``).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch.utils.data import default_collate

from leadattn.leads import LEADS

NUM_LEADS = len(LEADS)


class MaskError(ValueError):
    """Masks that cannot be drawn: a crop the patch size does not divide, impossible sizes."""


@dataclass
class MaskBatch:
    """Context and target indices for one batch.

    Attributes:
        context: ``[B, Nc]`` sorted indices the context encoder sees.
        targets: ``[B, Nt]`` sorted indices to predict, or a list of such tensors, one per target block.
        num_patches: Patches per lead ``N``.
        leads: 1 when an index is a patch of every lead, 12 when it is ``lead * N + patch``.
    """

    context: torch.Tensor
    targets: torch.Tensor | list[torch.Tensor]
    num_patches: int
    leads: int = 1

    @property
    def target_blocks(self) -> list[torch.Tensor]:
        """The targets as a list of blocks (one block for collators without several)."""
        return list(self.targets) if isinstance(self.targets, list) else [self.targets]

    def grids(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Boolean ``(context, target)`` grids ``[B, 12, N]`` over (lead, patch)."""
        batch = self.context.shape[0]
        context = _grid(self.context, batch, self.leads, self.num_patches)
        target = torch.zeros_like(context)
        for block in self.target_blocks:
            target |= _grid(block, batch, self.leads, self.num_patches)
        return context, target


def _grid(indices: torch.Tensor, batch: int, leads: int, patches: int) -> torch.Tensor:
    flat = torch.zeros(batch, leads * patches, dtype=torch.bool)
    flat.scatter_(1, indices.long(), True)
    flat = flat.reshape(batch, leads, patches)
    return flat.expand(batch, NUM_LEADS, patches).clone() if leads == 1 else flat


def num_patches(samples: int, patch_size: int) -> int:
    """Patches in a record of ``samples``; an error unless ``patch_size`` divides it."""
    if patch_size < 1:
        raise MaskError(f"patch_size must be positive, got {patch_size}")
    if samples % patch_size:
        raise MaskError(
            f"a patch size of {patch_size} samples does not divide records of {samples} samples "
            f"(choose a crop that is a multiple of {patch_size})"
        )
    return samples // patch_size


def _signal_length(items: Sequence[Any]) -> int:
    first = items[0][0] if isinstance(items[0], tuple | list) else items[0]
    return int(first.shape[-1])


@dataclass(eq=False)
class _Collator:
    """What every collator has: its patch size (samples) and a generator seeded by ``seed``."""

    patch_size: int
    seed: int | None = field(default=None, kw_only=True)
    rng: np.random.Generator = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.patch_size = int(self.patch_size)
        self.rng = np.random.default_rng(self.seed)

    def __call__(self, items: Sequence[Any]) -> tuple[Any, MaskBatch]:
        """Collate dataset items (signals ``[12, T]`` or tuples starting with one) and draw masks."""
        patches = num_patches(_signal_length(items), self.patch_size)
        return default_collate(list(items)), self.sample(len(items), patches)

    def sample(self, batch_size: int, patches: int, rng: np.random.Generator | None = None) -> MaskBatch:
        """Masks for ``batch_size`` records of ``patches`` patches (per lead)."""
        rng = rng or self.rng
        self.check(patches)
        return self._draw(batch_size, patches, rng)

    def check(self, patches: int) -> None:
        """An error when masks cannot be drawn for records of ``patches`` patches."""
        raise NotImplementedError

    def _draw(self, batch_size: int, patches: int, rng: np.random.Generator) -> MaskBatch:
        raise NotImplementedError


@dataclass(eq=False)
class MaskCollator(_Collator):
    """ECG-JEPA masks: context blocks of ``ceil(r * N)`` patches, ``r ~ U(min_keep_ratio, max_keep_ratio)``
    once per batch; the masked part is made of blocks of at least ``min_block_size`` patches."""

    min_block_size: int = 10
    min_keep_ratio: float = 0.15
    max_keep_ratio: float = 0.25

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.min_block_size < 1:
            raise MaskError(f"min_block_size must be at least 1, got {self.min_block_size}")
        if not 0.0 < self.min_keep_ratio <= self.max_keep_ratio < 1.0:
            raise MaskError(
                f"keep ratios must satisfy 0 < min_keep_ratio <= max_keep_ratio < 1, "
                f"got {self.min_keep_ratio}, {self.max_keep_ratio}"
            )
        self.min_block_size = int(self.min_block_size)
        self.min_keep_ratio = float(self.min_keep_ratio)
        self.max_keep_ratio = float(self.max_keep_ratio)

    def check(self, patches: int) -> None:
        """An error when records of ``patches`` cannot hold one masked block at the largest keep ratio."""
        hidden = patches - math.ceil(self.max_keep_ratio * patches)
        if hidden < self.min_block_size:
            raise MaskError(
                f"records of {patches} patches are too short: at keep ratio {self.max_keep_ratio} only "
                f"{hidden} patches are masked, fewer than min_block_size {self.min_block_size} "
                f"(use longer crops, smaller patches or smaller blocks)"
            )

    def _draw(self, batch_size: int, patches: int, rng: np.random.Generator) -> MaskBatch:
        keep = self.keep_count(patches, rng)
        free = np.stack([self.free_patches(keep, patches, rng) for _ in range(batch_size)])
        positions = np.arange(patches)
        context = np.stack([positions[f] for f in free])
        targets = np.stack([positions[~f] for f in free])
        return MaskBatch(torch.from_numpy(context), torch.from_numpy(targets), patches)

    def keep_count(self, patches: int, rng: np.random.Generator) -> int:
        """A batch's number of context patches: ``ceil(r * patches)``, ``r`` drawn between the keep ratios."""
        return math.ceil(rng.uniform(self.min_keep_ratio, self.max_keep_ratio) * patches)

    def free_patches(self, keep: int, patches: int, rng: np.random.Generator) -> np.ndarray:
        """Boolean ``[patches]``: True for the ``keep`` patches left after carving out masked blocks."""
        intervals = [(0, patches)]
        to_mask = patches - keep
        masked = 0
        while masked < to_mask:
            sizes = np.array([end - start for start, end in intervals], dtype=np.float64)
            start, end = intervals.pop(int(rng.choice(len(sizes), p=sizes / sizes.sum())))
            left = to_mask - masked
            whole_block = left >= self.min_block_size
            block = int(rng.integers(self.min_block_size, left + 1)) if whole_block else left
            if end - start <= block:  # the interval is hidden whole
                masked += end - start
                continue
            if whole_block:
                split = int(rng.integers(start, end - block + 1))
            else:  # too small to stand alone: glued to the hidden block beside the interval
                sides = [s for s, ok in ((start, start > 0), (end - block, end < patches)) if ok]
                split = int(sides[rng.integers(len(sides))])
            intervals += [iv for iv in ((start, split), (split + block, end)) if iv[1] > iv[0]]
            masked += block
        free = np.zeros(patches, dtype=bool)
        for start, end in intervals:
            free[start:end] = True
        return free


@dataclass(eq=False)
class IJEPAMaskCollator(_Collator):
    """I-JEPA multi-block masks on 1-D records.

    Per batch, one target length ``round(U(pred_scale) * N)`` and one context length
    ``round(U(context_scale) * N)``. Per record, ``num_pred_blocks`` target intervals at random
    starts (they may overlap each other) and one context interval with every target patch removed;
    the context interval is placed again while fewer than ``min_keep`` patches remain. After
    ``max_tries`` placements the target blocks are relaxed one at a time (last first), with a warning,
    which lets the context overlap them. Every mask is cut to the batch minimum so that they stack.
    """

    context_scale: tuple[float, float] = (0.85, 0.95)
    pred_scale: tuple[float, float] = (0.15, 0.20)
    num_pred_blocks: int = 4
    min_keep: int = 10
    max_tries: int = 20

    def __post_init__(self) -> None:
        super().__post_init__()
        for name, (low, high) in (("context_scale", self.context_scale), ("pred_scale", self.pred_scale)):
            if not 0.0 < low <= high <= 1.0:
                raise MaskError(f"{name} must satisfy 0 < low <= high <= 1, got {(low, high)}")
        if self.num_pred_blocks < 1 or self.min_keep < 1 or self.max_tries < 1:
            raise MaskError("num_pred_blocks, min_keep and max_tries must be at least 1")
        self.context_scale = (float(self.context_scale[0]), float(self.context_scale[1]))
        self.pred_scale = (float(self.pred_scale[0]), float(self.pred_scale[1]))
        self.num_pred_blocks = int(self.num_pred_blocks)
        self.min_keep = int(self.min_keep)
        self.max_tries = int(self.max_tries)

    def check(self, patches: int) -> None:
        """An error when the smallest context of records of ``patches`` is below ``min_keep``."""
        smallest = max(1, round(self.context_scale[0] * patches))
        if smallest < self.min_keep:
            raise MaskError(
                f"min_keep {self.min_keep} is larger than the context: records of {patches} patches "
                f"give context blocks of {smallest} patches at context_scale {self.context_scale[0]}"
            )

    def _draw(self, batch_size: int, patches: int, rng: np.random.Generator) -> MaskBatch:
        pred = max(1, round(rng.uniform(*self.pred_scale) * patches))
        size = max(1, round(rng.uniform(*self.context_scale) * patches))
        contexts, targets = [], []
        for _ in range(batch_size):
            starts = rng.integers(0, patches - pred + 1, size=self.num_pred_blocks)
            blocks = [np.arange(s, s + pred) for s in starts]
            contexts.append(self._context(blocks, size, patches, rng))
            targets.append(blocks)
        keep = min(len(c) for c in contexts)
        context = torch.from_numpy(np.stack([c[:keep] for c in contexts]))
        blocks = [torch.from_numpy(np.stack([t[j] for t in targets])) for j in range(self.num_pred_blocks)]
        return MaskBatch(context, blocks, patches)

    def _context(
        self, blocks: list[np.ndarray], size: int, patches: int, rng: np.random.Generator
    ) -> np.ndarray:
        constraints = len(blocks)
        tries = 0
        while True:
            start = int(rng.integers(0, patches - size + 1))
            free = np.zeros(patches, dtype=bool)
            free[start : start + size] = True
            for block in blocks[:constraints]:
                free[block] = False
            if free.sum() >= self.min_keep:
                return np.flatnonzero(free)
            tries += 1
            if tries >= self.max_tries:
                tries = 0
                constraints -= 1
                warnings.warn(
                    f"context of fewer than {self.min_keep} patches after {self.max_tries} tries: "
                    f"only {constraints} of {len(blocks)} target blocks are removed from it",
                    RuntimeWarning,
                    stacklevel=4,
                )


@dataclass(eq=False)
class LeadTimeMaskCollator(MaskCollator):
    """Lead-time block masks over (lead, patch) pairs.

    Per batch, one number of hidden leads ``h`` in ``[min_hidden_leads, max_hidden_leads]`` and one
    keep ratio as in :class:`MaskCollator`; per record, a random set of ``h`` leads and an ECG-JEPA time
    mask. The time mask's blocks are hidden in those leads only; every other lead stays visible
    whole. Context: ``(12 - h) * N + h * K`` pairs; targets: ``h * (N - K)``; indices ``lead * N + patch``.
    """

    min_hidden_leads: int = 3
    max_hidden_leads: int = 9

    def __post_init__(self) -> None:
        if not 1 <= self.min_hidden_leads <= self.max_hidden_leads <= NUM_LEADS:
            raise MaskError(
                f"hidden leads must satisfy 1 <= min_hidden_leads <= max_hidden_leads <= {NUM_LEADS}, "
                f"got {self.min_hidden_leads}, {self.max_hidden_leads}"
            )
        super().__post_init__()
        self.min_hidden_leads = int(self.min_hidden_leads)
        self.max_hidden_leads = int(self.max_hidden_leads)

    def _draw(self, batch_size: int, patches: int, rng: np.random.Generator) -> MaskBatch:
        hidden = int(rng.integers(self.min_hidden_leads, self.max_hidden_leads + 1))
        keep = self.keep_count(patches, rng)
        contexts, targets = [], []
        for _ in range(batch_size):
            free = np.ones((NUM_LEADS, patches), dtype=bool)
            free[rng.choice(NUM_LEADS, size=hidden, replace=False)] = self.free_patches(keep, patches, rng)
            flat = free.reshape(-1)
            contexts.append(np.flatnonzero(flat))
            targets.append(np.flatnonzero(~flat))
        return MaskBatch(
            torch.from_numpy(np.stack(contexts)), torch.from_numpy(np.stack(targets)), patches, NUM_LEADS
        )


def plot_masks(
    signals: np.ndarray | torch.Tensor,
    masks: MaskBatch,
    index: int = 0,
    patch_size: int | None = None,
    fs: float = 500.0,
    title: str | None = None,
) -> Any:
    """Figure of one record's mask: a bar of patches (context, target k, ignored) above the 12 leads
    drawn patch by patch in those colours, with a legend and the shares in the title.

    ``signals`` is ``[12, T]`` (or a batch ``[B, 12, T]``, of which ``index`` is drawn). For lead-time
    masks each lead is coloured by its own (lead, patch) states and the bar shows, per patch, the
    state of most leads. Returns a matplotlib ``Figure`` (Agg canvas; save it with ``savefig``).
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch, Rectangle

    x = signals.detach().cpu().numpy() if isinstance(signals, torch.Tensor) else np.asarray(signals)
    if x.ndim == 3:
        x = x[index]
    if x.ndim != 2 or x.shape[0] != NUM_LEADS:
        raise ValueError(f"signals must be [12, T] or [B, 12, T], got shape {tuple(x.shape)}")
    patches = masks.num_patches
    size = patch_size or x.shape[1] // patches
    if size * patches != x.shape[1]:
        raise MaskError(f"{patches} patches of {size} samples do not cover records of {x.shape[1]} samples")
    # states: 0 ignored, 1 context, 2 + k target block k
    state = np.zeros(masks.leads * patches, dtype=np.int64)
    blocks = masks.target_blocks
    for k, block in enumerate(blocks):
        state[block[index].numpy()] = 2 + k
    state[masks.context[index].numpy()] = 1
    grid = np.broadcast_to(state.reshape(masks.leads, patches), (NUM_LEADS, patches))
    colours = ["#d0d0d0", "#1f77b4", "#d62728", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2"]
    colour = [colours[min(s, len(colours) - 1)] for s in range(2 + len(blocks))]

    fig = Figure(figsize=(12, 8.5))
    FigureCanvasAgg(fig)
    top, body = fig.subplots(2, 1, gridspec_kw={"height_ratios": [0.6, 12]}, sharex=True)
    bar = np.array([np.bincount(col, minlength=2 + len(blocks)).argmax() for col in grid.T])
    t = np.arange(x.shape[1]) / fs
    width = size / fs
    for p, s in enumerate(bar):
        top.add_patch(Rectangle((p * width, 0), width, 1, facecolor=colour[s], edgecolor="white", lw=0.5))
    top.set_ylim(0, 1)
    top.set_yticks([])
    top.set_ylabel("patches", rotation=0, ha="right", va="center")
    spread = np.nanmax(np.abs(x)) or 1.0
    for lead in range(NUM_LEADS):
        offset = -lead * 2.2 * spread
        for p in range(patches):
            piece = slice(p * size, min((p + 1) * size + 1, x.shape[1]))
            body.plot(t[piece], x[lead, piece] + offset, color=colour[grid[lead, p]], lw=0.7)
    body.set_yticks([-lead * 2.2 * spread for lead in range(NUM_LEADS)], LEADS)
    body.set_xlim(0, x.shape[1] / fs)
    body.set_xlabel("time (s)")
    total = grid.size
    shares = [f"context {np.mean(grid == 1):.0%}"]
    shares += [f"target {np.sum(grid >= 2) / total:.0%}", f"ignored {np.mean(grid == 0):.0%}"]
    handles = [Patch(color=colour[1], label="context")]
    handles += [
        Patch(color=colour[2 + k], label=f"target {k + 1}" if len(blocks) > 1 else "target")
        for k in range(len(blocks))
    ]
    handles.append(Patch(color=colour[0], label="ignored"))
    body.legend(handles=handles, loc="upper right", fontsize=8, ncol=len(handles))
    fig.suptitle(f"{title + ': ' if title else ''}{', '.join(shares)}")
    fig.tight_layout()
    return fig
