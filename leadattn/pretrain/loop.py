"""The pretraining loop: :func:`pretrain` runs a :class:`PretrainConfig` to the end.

Per epoch: random crops of the training folds (labels unused), one mask per batch drawn from a
generator seeded by (seed, epoch, batch, rank), AdamW on the context encoder and predictor, the
target encoder moved towards the context encoder after every step with a momentum rising linearly
from ``jepa.ema_start`` to ``jepa.ema_end``; then the loss on centred crops of the validation folds
under fixed masks. Logged per epoch: the losses and the per-dimension standard deviation of the
target representations (mean and minimum over dimensions); a warning is printed when the mean falls
below ``jepa.collapse_std``, the sign that every record is being mapped to the same representation.

``last.pt`` (atomic) holds everything to resume and, under ``encoder_state``, the target encoder's
weights, which ``leadattn train --init`` loads.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from leadattn.checkpoint import pretrained_payload, tensors
from leadattn.masks import MaskBatch
from leadattn.pretrain.config import PretrainConfig
from leadattn.pretrain.jepa import Jepa
from leadattn.pretrained import encoder_state
from leadattn.training import distributed as dist_utils
from leadattn.training.dataset import CropDataset
from leadattn.training.distributed import DistContext
from leadattn.training.resume import LAST
from leadattn.training.runner import EpochCallback, EpochRunner, launch
from leadattn.training.sampler import EpochSampler
from leadattn.training.step import Optimiser

CONFIG_KEY = "pretrain_config"


@dataclass
class PretrainResult:
    """What a finished pretraining run produced."""

    run_dir: Path
    checkpoint: Path
    history: list[dict[str, Any]]
    seconds: float
    train_records: int
    val_records: int
    collapsed: bool


def pretrain(
    config: PretrainConfig,
    resume: bool = False,
    overwrite: bool = False,
    on_epoch_end: EpochCallback | None = None,
) -> PretrainResult:
    """Pretrain the encoder ``config`` describes into ``config.run.out`` (see the module docstring).

    ``resume`` continues from ``last.pt``; a folder that already holds a run is refused unless
    ``overwrite``. Under ``torchrun`` every process calls this; only rank 0 writes files.
    """

    def run(context: DistContext) -> PretrainResult:
        return _Pretrainer(config, context).fit(resume, overwrite, on_epoch_end)

    return launch(config.run.device, run)


def ema_momentum(config: PretrainConfig, step: int, total: int) -> float:
    """Target-encoder momentum after ``step`` of ``total`` steps (linear from start to end)."""
    share = min(1.0, step / max(total, 1))
    return config.jepa.ema_start + share * (config.jepa.ema_end - config.jepa.ema_start)


def batch_masks(config: PretrainConfig, batch: int, samples: int, key: tuple[int, ...]) -> MaskBatch:
    """The masks of one batch, drawn from a generator seeded by ``key``."""
    rng = np.random.default_rng(np.random.SeedSequence((config.run.seed, *key)))
    return config.mask.collator().sample(batch, samples // config.mask.patch_size, rng)


class _Pretrainer(EpochRunner):
    config_key = CONFIG_KEY

    def _setup(self) -> None:
        c = self.config
        torch.manual_seed(c.run.seed)
        self.splits = self.load_data(unlabelled=True)
        self.train_set = CropDataset(
            self.splits.cache.path, self.splits.train, c.crop_samples, None, c.run.seed
        )
        self.val_set = CropDataset(self.splits.cache.path, self.splits.val, c.val_crop_samples)
        self.sampler = EpochSampler(len(self.train_set), c.run.seed, self.context.rank, self.context.world)
        loader = partial(DataLoader, num_workers=c.data.workers, pin_memory=self.device.type == "cuda")
        self.train_loader = loader(self.train_set, batch_size=c.data.batch_size, sampler=self.sampler)
        self.val_loader = loader(
            self.val_set,
            batch_size=c.data.val_batch_size,
            sampler=list(range(self.context.rank, len(self.val_set), self.context.world)),
        )
        self.jepa = Jepa(c.model, c.predictor, c.jepa, c.mask.patch_size).to(self.device)
        self.net = self.wrap(self.jepa)
        self.steps_per_epoch = len(self.train_loader)
        self.optimiser = Optimiser(self.jepa, c.optim, self.steps_per_epoch, self.device, c.run.amp)

    def restore(self, payload: dict[str, Any]) -> None:
        self.jepa.load_state_dict(payload["jepa_state"])
        self.optimiser.load_state_dict(payload)

    def save(self, row: dict[str, Any]) -> None:
        c = self.config
        self.write(
            LAST,
            {
                **pretrained_payload(c.model, encoder_state(self.jepa.target), c.preprocess),
                "jepa_state": tensors(self.jepa),
                **self.run_state(),
                **self.optimiser.state_dict(),
                "best": {},
                "stopped_early": False,
            },
        )

    def fit(self, resume: bool, overwrite: bool, on_epoch_end: EpochCallback | None) -> PretrainResult:
        started = time.perf_counter()
        self.claim(resume, overwrite)
        self._setup()
        self.open_run(resume)
        if self.main:
            self._describe()
        self.epochs(on_epoch_end)
        c = self.config
        return PretrainResult(
            run_dir=self.run_dir,
            checkpoint=self.run_dir / LAST,
            history=self.history,
            seconds=time.perf_counter() - started,
            train_records=len(self.train_set),
            val_records=len(self.val_set),
            collapsed=bool(self.history and self.history[-1]["target_std"] < c.jepa.collapse_std),
        )

    def finish(self) -> None:
        plot_pretraining(self.history, self.run_dir / "pretraining_curves.png", self.config.jepa.collapse_std)

    def run_epoch(self) -> dict[str, Any]:
        c = self.config
        started = time.perf_counter()
        self.seed_epoch(self.sampler, self.train_set)
        loss, std, std_min, seen = self._train_epoch()
        trained = time.perf_counter() - started
        val_loss, val_std = self._validate()
        self.epoch += 1
        return {
            "epoch": self.epoch,
            "train_loss": loss,
            "val_loss": val_loss,
            "target_std": std,
            "target_std_min": std_min,
            "val_target_std": val_std,
            "ema": ema_momentum(c, self.step, c.optim.epochs * self.steps_per_epoch),
            "lr": self.optimiser.lr,
            "train_records": seen,
            "records_per_s": seen / trained,
            "seconds": time.perf_counter() - started,
        }

    def _step_inputs(
        self, x: torch.Tensor, mask: torch.Tensor, lengths: torch.Tensor, masks: MaskBatch
    ) -> tuple[torch.Tensor, ...]:
        context, target = masks.grids()
        return tuple(t.to(self.device, non_blocking=True) for t in (x, mask, context, target, lengths))

    def _train_epoch(self) -> tuple[float, float, float, int]:
        c = self.config
        self.net.train()
        total = torch.zeros(3, dtype=torch.float64, device=self.device)
        count = 0
        total_steps = c.optim.epochs * self.steps_per_epoch
        batches = self.batches(
            self.train_loader, self.steps_per_epoch, "pretraining", lambda: (total[0].item(), count)
        )
        for i, (x, mask, lengths, _, _) in enumerate(batches):
            masks = batch_masks(c, x.shape[0], x.shape[-1], (self.epoch, i, self.context.rank))
            with self.optimiser.autocast():
                out = self.net(*self._step_inputs(x, mask, lengths, masks))
            self.optimiser.step(out.loss)
            self.step += 1
            self.jepa.update_target(ema_momentum(c, self.step, total_steps))
            total += (
                torch.stack([out.loss.detach(), out.target_std, out.target_std_min]).double() * x.shape[0]
            )
            count += x.shape[0]
        sums = dist_utils.sum_over_ranks([*total.tolist(), float(count)], self.context)
        n = sums[-1]
        return sums[0] / n, sums[1] / n, sums[2] / n, int(n)

    @torch.no_grad()
    def _validate(self) -> tuple[float, float]:
        self.jepa.eval()
        total, std, count = 0.0, 0.0, 0
        for x, mask, lengths, _, k in self.val_loader:
            # the masks of a validation record depend on its position only: the same every epoch
            masks = batch_masks(self.config, x.shape[0], x.shape[-1], (1 << 30, int(k[0])))
            with self.optimiser.autocast():
                out = self.jepa(*self._step_inputs(x, mask, lengths, masks))
            total += float(out.loss) * x.shape[0]
            std += float(out.target_std) * x.shape[0]
            count += x.shape[0]
        total, std, count = dist_utils.sum_over_ranks([total, std, float(count)], self.context)
        return total / max(count, 1.0), std / max(count, 1.0)

    def _describe(self) -> None:
        s, c = self.splits, self.config
        skipped = f", {len(s.skipped)} unreadable record(s) skipped" if s.skipped else ""
        parameters = sum(p.numel() for p in self.jepa.parameters() if p.requires_grad)
        tqdm.write(
            f"data: {s.manifest} ({len(s.train)} training, {len(s.val)} validation records, labels unused"
            f"{skipped}); cache {s.cache.path}"
        )
        tqdm.write(
            f"JEPA: {parameters:,} trained parameters on {self.device} x{self.context.world}; masks "
            f"{c.mask.kind}, patches of {c.mask.patch_size} samples ({c.crop_samples // c.mask.patch_size} "
            f"per {c.crop_samples}-sample crop); run folder {self.run_dir}"
        )
        if self.epoch:
            tqdm.write(f"resuming after epoch {self.epoch} of {c.optim.epochs}")

    def report(self, row: dict[str, Any]) -> None:
        tqdm.write(
            f"epoch {row['epoch']:>3}/{self.config.optim.epochs}  loss {row['train_loss']:.4f}  "
            f"val loss {row['val_loss']:.4f}  target std {row['target_std']:.3f} "
            f"(min {row['target_std_min']:.3f})  {row['records_per_s']:.1f} rec/s  {row['seconds']:.0f} s"
        )
        if row["target_std"] < self.config.jepa.collapse_std:
            tqdm.write(
                f"warning: representations are collapsing: the target tokens' per-dimension standard "
                f"deviation is {row['target_std']:.4f} < jepa.collapse_std {self.config.jepa.collapse_std} "
                "(raise jepa.ema_start, lower optim.lr, or hide less)"
            )


def plot_pretraining(history: list[dict[str, Any]], path: str | Path, collapse_std: float) -> Path | None:
    """Losses and the collapse curve (per-dimension std of the targets) per epoch, as a PNG."""
    if not history:
        return None
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    epochs = [row["epoch"] for row in history]
    fig = Figure(figsize=(10, 3.6))
    FigureCanvasAgg(fig)
    loss, std = fig.subplots(1, 2)
    loss.plot(epochs, [r["train_loss"] for r in history], marker="o", label="training")
    loss.plot(epochs, [r["val_loss"] for r in history], marker="o", label="validation")
    loss.set_title("JEPA loss")
    loss.legend()
    std.plot(epochs, [r["target_std"] for r in history], marker="o", label="mean over dimensions")
    std.plot(epochs, [r["target_std_min"] for r in history], marker="o", label="smallest dimension")
    std.axhline(collapse_std, color="red", ls="--", lw=1, label="collapse warning")
    std.set_title("Per-dimension std of target tokens")
    std.set_ylim(bottom=0)
    std.legend(fontsize=8)
    for ax in (loss, std):
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=100)
    return path
