"""The training loop: :func:`train` runs a :class:`~leadattn.training.config.TrainConfig` to the end.

Per epoch: one pass over the training shard of every process (AdamW, schedule stepped per batch,
gradient clipping, optional mixed precision), then validation on the held-out folds: whole records,
windowed and combined exactly as evaluation scores them (:func:`leadattn.inference.score_signals`),
under every lead subset of ``run.val_subsets``. Scores are gathered from all processes, per-class
thresholds are tuned for each subset (:func:`leadattn.thresholds.tune_thresholds`; classes with too few
validation positives keep 0.5), and the challenge metrics are computed with those thresholds, so
F-measure, accuracy and challenge metric are optimistic for the validation folds (evaluate the test fold
for unbiased figures); AUROC and AUPRC do not depend on thresholds. With ``finetune.init`` the encoder
starts from a pretrained checkpoint (``leadattn pretrain``); with ``finetune.linear_probe`` it is frozen
and only the final norm and the head learn. ``last.pt`` is written after every epoch, ``best.pt``
whenever the monitored metric improves; the run stops early after ``run.patience`` epochs without
improvement. With ``optim.ema_decay`` the weights validated and saved are an exponential moving average
of the trained ones (:class:`~leadattn.training.average.WeightAverage`); ``last.pt`` also keeps the
trained weights, to resume from.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from leadattn import metrics
from leadattn.checkpoint import classifier_payload, tensors
from leadattn.inference import score_signals
from leadattn.labels import ABBREVIATIONS, CLASS_KEYS
from leadattn.leads import LEAD_SUBSETS, lead_mask
from leadattn.models import LocalLeadAttentionNet
from leadattn.pretrained import is_encoder_key, load_encoder
from leadattn.thresholds import apply_thresholds, sparse_classes, threshold_table, tune_thresholds
from leadattn.training import distributed as dist_utils
from leadattn.training.augment import Augmenter
from leadattn.training.average import WeightAverage
from leadattn.training.config import TrainConfig
from leadattn.training.dataset import CropDataset
from leadattn.training.distributed import DistContext
from leadattn.training.logs import plot_learning_curves
from leadattn.training.losses import build_loss, prior_logits
from leadattn.training.resume import BEST, LAST
from leadattn.training.runner import EpochCallback, EpochRunner, TrainingError, launch
from leadattn.training.sampler import EpochSampler, rare_class_weights
from leadattn.training.step import Optimiser, classifier_step

__all__ = ["RunResult", "TrainingError", "train"]


@dataclass
class RunResult:
    """What a finished run produced."""

    run_dir: Path
    last_checkpoint: Path
    best_checkpoint: Path
    best_epoch: int
    best_metrics: dict[str, float]
    history: list[dict[str, Any]]
    stopped_early: bool
    seconds: float
    train_records: int
    val_records: int
    manifest: Path
    data_dir: Path
    skipped_records: list[dict] = field(default_factory=list)


def train(
    config: TrainConfig,
    resume: bool = False,
    overwrite: bool = False,
    on_epoch_end: EpochCallback | None = None,
    build_model: Callable[[TrainConfig], nn.Module] | None = None,
) -> RunResult:
    """Train the model ``config`` describes into ``config.run.out``.

    ``build_model`` replaces the network (for baselines trained by the same loop): it must take
    ``forward(x, lead_mask, lengths)``; its checkpoints hold its weights under the config's model keys,
    so load them into the same architecture rather than with :func:`leadattn.checkpoint.load_model`.

    ``resume`` continues the run saved there from its ``last.pt``; otherwise a folder that already
    holds a run is refused unless ``overwrite``. ``on_epoch_end`` is called with each epoch's row of
    ``metrics.csv`` after its checkpoints are written. Under ``torchrun`` every process calls this;
    only rank 0 writes files.
    """
    return launch(
        config.run.device,
        lambda context: _Trainer(config, context, build_model).fit(resume, overwrite, on_epoch_end),
    )


def binary_cross_entropy(labels: np.ndarray, probabilities: np.ndarray) -> float:
    """Mean binary cross-entropy of probabilities (clipped away from 0 and 1) against labels."""
    p = np.clip(probabilities, 1e-7, 1.0 - 1e-7)
    return float(-np.mean(np.where(labels, np.log(p), np.log1p(-p))))


def nearest_subset_thresholds(tuned: dict[int, np.ndarray]) -> dict[str, np.ndarray]:
    """Thresholds for every challenge subset: each validated subset its own, the others those of the
    nearest validated subset in lead count (the larger one on a tie)."""
    return {str(size): tuned[min(tuned, key=lambda t: (abs(t - size), -t))] for size in LEAD_SUBSETS}


class _Trainer(EpochRunner):
    config_key = "train_config"
    outputs = (LAST, BEST)

    def __init__(
        self,
        config: TrainConfig,
        context: DistContext,
        build_model: Callable[[TrainConfig], nn.Module] | None = None,
    ) -> None:
        super().__init__(config, context)
        self.build_model = build_model or (lambda c: LocalLeadAttentionNet(c.model))
        self.best: dict[str, Any] = {"epoch": 0, "value": None, "stale": 0, "monitor": config.run.monitor}
        self.thresholds: dict[str, np.ndarray] = threshold_table(None)
        self.val_metrics: dict[str, Any] = {}

    # -------------------------------------------------------------------------------------------
    # Setup

    def _setup(self, resume: bool) -> None:
        c = self.config
        if c.run.deterministic:
            torch.use_deterministic_algorithms(True, warn_only=True)
            torch.backends.cudnn.benchmark = False
        torch.manual_seed(c.run.seed)
        self.splits = self.load_data()
        self.train_set = CropDataset(
            self.splits.cache.path,
            self.splits.train,
            c.crop_samples,
            Augmenter(c.augment, c.preprocess.fs),
            c.run.seed,
        )
        self.fallback = [
            ABBREVIATIONS[k]
            for k in np.flatnonzero(
                sparse_classes(self.splits.labels(self.splits.val) > 0.5, c.run.threshold_min_positives)
            )
        ]
        weights = None
        if c.data.sampler == "rare_class":
            weights = rare_class_weights(self.splits.labels(self.splits.train), c.data.rare_class_power)
        self.sampler = EpochSampler(
            len(self.train_set), c.run.seed, self.context.rank, self.context.world, weights
        )
        self.train_loader = DataLoader(
            self.train_set,
            batch_size=c.data.batch_size,
            sampler=self.sampler,
            num_workers=c.data.workers,
            pin_memory=self.device.type == "cuda",
        )
        self.model = self.build_model(c)
        if c.finetune.init is not None and not resume:  # a resumed run reloads its own weights
            load_encoder(self.model, c.finetune.init, c.preprocess.to_dict())
        if c.loss.prior_bias and not resume:
            head = getattr(self.model, "head", None)
            if not isinstance(head, nn.Linear) or head.bias is None:
                raise TrainingError(
                    "loss.prior_bias needs a model whose `head` is a linear layer with a bias"
                )
            prior = prior_logits(self.splits.labels(self.splits.train))
            with torch.no_grad():
                head.bias.copy_(torch.as_tensor(prior, dtype=head.bias.dtype))
        if c.finetune.linear_probe:
            for name, parameter in self.model.named_parameters():
                parameter.requires_grad_(not is_encoder_key(name))
        self.model.to(self.device)
        self.net = self.wrap(self.model)
        self.criterion = build_loss(c.loss, self.splits.labels(self.splits.train)).to(self.device)
        self.steps_per_epoch = len(self.train_loader)
        self.optimiser = Optimiser(self.model, c.optim, self.steps_per_epoch, self.device, c.run.amp)
        self.average = WeightAverage(self.model, c.optim.ema_decay) if c.optim.ema_decay else None

    @property
    def scored(self) -> nn.Module:
        """The weights validated and saved: the moving average where there is one."""
        return self.model if self.average is None else self.average.model

    # -------------------------------------------------------------------------------------------
    # State

    def restore(self, payload: dict[str, Any]) -> None:
        if self.average is None:
            self.model.load_state_dict(payload["model_state"])
        else:
            self.model.load_state_dict(payload["trained_model_state"])
            self.average.restore(payload["model_state"], self.step)  # one update per step
        self.optimiser.load_state_dict(payload)
        self.best = dict(payload["best"])
        self.thresholds = threshold_table(payload["thresholds"])

    def _payload(self, row: dict[str, Any], full: bool) -> dict[str, Any]:
        c = self.config
        payload = {
            **classifier_payload(self.scored, c.model, c.preprocess, self.thresholds, self.fallback),
            **self.run_state(),
            "metrics": {**{k: _plain(v) for k, v in self.val_metrics.items()}, "val_loss": row["val_loss"]},
            "best": self.best,
        }
        if full:
            payload.update(self.optimiser.state_dict(), stopped_early=self.stopped_early)
            if self.average is not None:
                payload.update(trained_model_state=tensors(self.model))
        return payload

    def save(self, row: dict[str, Any]) -> None:
        if self.best["epoch"] == row["epoch"]:
            self.write(BEST, self._payload(row, full=False))
        self.write(LAST, self._payload(row, full=True))

    # -------------------------------------------------------------------------------------------
    # Epochs

    def fit(self, resume: bool, overwrite: bool, on_epoch_end: EpochCallback | None) -> RunResult:
        started = time.perf_counter()
        self.claim(resume, overwrite)
        self._setup(resume)
        self.open_run(resume)
        if self.main:
            self._describe()
        self.epochs(on_epoch_end)
        best_row = next((r for r in self.history if r["epoch"] == self.best["epoch"]), {})
        return RunResult(
            run_dir=self.run_dir,
            last_checkpoint=self.run_dir / LAST,
            best_checkpoint=self.run_dir / BEST,
            best_epoch=int(self.best["epoch"]),
            best_metrics={k[4:]: v for k, v in best_row.items() if k.startswith("val_")},
            history=self.history,
            stopped_early=self.stopped_early,
            seconds=time.perf_counter() - started,
            train_records=len(self.train_set),
            val_records=len(self.splits.val),
            manifest=self.splits.manifest,
            data_dir=self.splits.data_dir,
            skipped_records=self.splits.skipped,
        )

    def finish(self) -> None:
        plot_learning_curves(self.history, self.run_dir / "learning_curves.png")

    def run_epoch(self) -> dict[str, Any]:
        c = self.config
        started = time.perf_counter()
        self.seed_epoch(self.sampler, self.train_set)
        train_loss, seen = self._train_epoch()
        trained = time.perf_counter() - started
        labels, scores = self._validate()
        val_loss = binary_cross_entropy(labels, scores[:, 0])
        per_subset, tuned = {}, {}
        for j, size in enumerate(c.run.val_subsets):
            tuned[size] = tune_thresholds(
                labels, scores[:, j], c.run.threshold_objective, min_positives=c.run.threshold_min_positives
            )
            per_subset[size] = metrics.score(
                labels, scores[:, j], apply_thresholds(scores[:, j], tuned[size])
            )
        self.thresholds = nearest_subset_thresholds(tuned)
        self.val_metrics = per_subset[c.run.val_subsets[0]]
        self.epoch += 1
        row: dict[str, Any] = {
            "epoch": self.epoch,
            "train_loss": train_loss,
            "val_loss": val_loss,
            **{
                f"val_{name}": float(np.mean([m[name] for m in per_subset.values()]))
                for name in metrics.HEADLINE
            },
            **{
                f"val_{name}_{size}leads": float(m[name])
                for size, m in per_subset.items()
                for name in ("auroc", "challenge_metric")
            },
            "lr": self.optimiser.lr,
            "train_records": int(seen.size),
            "train_distinct": int(np.unique(seen).size),
            "val_records": int(labels.shape[0]),
            "records_per_s": float(seen.size / trained),
            "seconds": float(time.perf_counter() - started),
        }
        self._track(row)
        return row

    def _train_epoch(self) -> tuple[float, np.ndarray]:
        self.net.train()
        if self.config.finetune.linear_probe:  # the frozen encoder also keeps its dropout off
            self.model.eval()
        total = torch.zeros((), dtype=torch.float64, device=self.device)
        count = 0
        seen: list[np.ndarray] = []
        batches = self.batches(
            self.train_loader, self.steps_per_epoch, "training", lambda: (total.item(), count)
        )
        for batch in batches:
            loss = classifier_step(self.net, self.criterion, self.optimiser, batch)
            if self.average is not None:
                self.average.update(self.model)
            self.step += 1
            total += loss * batch[0].shape[0]
            count += batch[0].shape[0]
            seen.append(self.train_set.indices[batch[4].numpy()])
        loss_sum, n = dist_utils.sum_over_ranks([total.item(), float(count)], self.context)
        (seen_all,) = dist_utils.gather_arrays([np.concatenate(seen)], self.context)
        return loss_sum / n, seen_all

    @torch.no_grad()
    def _validate(self) -> tuple[np.ndarray, np.ndarray]:
        """Labels ``[records, 26]`` and probabilities ``[records, subsets, 26]`` of the validation
        records, scored whole and windowed under every validated subset, exactly as evaluation does."""
        c = self.config
        cache = self.splits.cache
        mine = self.splits.val[self.context.rank :: self.context.world]
        signals = [cache.signal(int(i), 0, int(cache.lengths[i])) for i in mine]
        masks = np.stack([self._subset_masks(cache.mask(int(i))) for i in mine]) if len(mine) else None
        window = c.val_crop_samples
        scores = (
            score_signals(
                self.scored, signals, masks, window, max(1, window // 2), "mean", c.data.val_batch_size
            )
            if len(mine)
            else np.zeros((0, len(c.run.val_subsets), len(CLASS_KEYS)))
        )
        positions = np.arange(self.context.rank, len(self.splits.val), self.context.world)
        positions, scores = dist_utils.gather_arrays([positions, scores.reshape(len(mine), -1)], self.context)
        order = np.argsort(positions, kind="stable")
        scores = scores[order].reshape(len(order), len(c.run.val_subsets), len(CLASS_KEYS))
        if not np.isfinite(scores).all():
            raise TrainingError(
                f"validation scores are not finite after epoch {self.epoch + 1}: training diverged"
            )
        return self.splits.labels(self.splits.val) > 0.5, scores

    def _subset_masks(self, present: np.ndarray) -> np.ndarray:
        """Masks ``[subsets, 12]`` of the validated subsets; a record without any lead of a subset
        keeps its own leads (as lead-subset augmentation does)."""
        present = np.asarray(present, dtype=bool)
        masks = [lead_mask(size) & present for size in self.config.run.val_subsets]
        return np.stack([m if m.any() else present for m in masks])

    def _track(self, row: dict[str, Any]) -> None:
        """Update the best epoch and the early-stopping count."""
        monitor = self.config.run.monitor
        value = row["val_loss"] if monitor == "val_loss" else row[f"val_{monitor}"]
        best = self.best["value"]
        lower = monitor == "val_loss"
        improved = self.best["epoch"] == 0 or (
            math.isfinite(value)
            and (best is None or not math.isfinite(best) or (value < best if lower else value > best))
        )
        if improved:
            self.best.update(epoch=row["epoch"], value=float(value), stale=0)
        else:
            self.best["stale"] += 1
        patience = self.config.run.patience
        self.stopped_early = bool(
            patience and self.best["stale"] >= patience and self.epoch < self.config.optim.epochs
        )

    # -------------------------------------------------------------------------------------------
    # Console

    def _describe(self) -> None:
        s, c = self.splits, self.config
        skipped = f", {len(s.skipped)} unreadable record(s) skipped" if s.skipped else ""
        tqdm.write(
            f"data: {s.manifest} ({len(s.train)} training, {len(s.val)} validation records{skipped}); "
            f"cache {s.cache.path}"
        )
        amp = {None: "off", torch.bfloat16: "bf16", torch.float16: "fp16"}[self.optimiser.dtype]
        tqdm.write(
            f"model: {sum(p.numel() for p in self.model.parameters()):,} parameters on {self.device} "
            f"x{self.context.world}, mixed precision {amp}; crops {c.crop_samples} samples at "
            f"{c.preprocess.fs:g} Hz, batch {c.data.batch_size} per process; run folder {self.run_dir}"
        )
        if self.average is not None:
            tqdm.write(f"validated and saved: moving average of the weights, decay {c.optim.ema_decay:g}")
        subsets = ", ".join(map(str, c.run.val_subsets))
        tqdm.write(
            f"validation: whole records in {c.data.val_crop_seconds:g} s windows, lead subsets {subsets}"
        )
        if self.fallback:
            tqdm.write(
                f"thresholds not tuned (fewer than {c.run.threshold_min_positives} validation positives), "
                f"kept at 0.5: {', '.join(self.fallback)}"
            )
        if self.epoch:
            tqdm.write(f"resuming after epoch {self.epoch} of {c.optim.epochs}")

    def report(self, row: dict[str, Any]) -> None:
        improved = self.best["epoch"] == row["epoch"]
        names = {"auroc": "AUROC", "auprc": "AUPRC", "f_measure": "F", "challenge_metric": "challenge"}
        values = "  ".join(f"{label} {row[f'val_{name}']:.3f}" for name, label in names.items())
        tqdm.write(
            f"epoch {row['epoch']:>3}/{self.config.optim.epochs}  loss {row['train_loss']:.4f}  "
            f"val loss {row['val_loss']:.4f}  {values}  {row['records_per_s']:.0f} rec/s  "
            f"{row['seconds']:.0f} s{'  *' if improved else ''}"
        )
        if self.stopped_early:
            tqdm.write(
                f"early stop: {self.config.run.monitor} has not improved for {self.best['stale']} epochs"
            )


def _plain(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return value
