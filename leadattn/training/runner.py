"""What every run of epochs shares, supervised training and pretraining alike.

:class:`EpochRunner` owns the run folder (a taken folder is refused; ``--resume`` reads ``last.pt``
once; ``config.yaml``, ``metrics.csv`` and TensorBoard are written by rank 0), the data (prepared by
one process per node before the others open it), the per-epoch seeding of random draws, the epoch
loop with its checkpoints and callback, the progress bar of a pass over the training crops and the
check that the loss stays finite. Subclasses say what one epoch does and what a checkpoint holds.
:func:`launch` runs a runner under ``torchrun`` or in a single process.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Iterator
from functools import partial
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import numpy as np
import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from tqdm.auto import tqdm

from leadattn.checkpoint import save_checkpoint
from leadattn.config import save_config
from leadattn.errors import LeadattnError
from leadattn.training import distributed as dist_utils
from leadattn.training.config import ConfigTree
from leadattn.training.dataset import Splits, load_splits
from leadattn.training.distributed import DistContext
from leadattn.training.logs import RunLog
from leadattn.training.resume import LAST, resume_payload

EpochCallback = Callable[[dict[str, Any]], None]
R = TypeVar("R")


class TrainingError(LeadattnError):
    """A run cannot go on (a diverged loss, a run folder that is already taken)."""


def epoch_seed(seed: int, epoch: int, rank: int) -> int:
    """Seed of torch's global generator (dropout) for one epoch on one process."""
    return int(np.random.SeedSequence((seed, epoch, rank)).generate_state(1)[0])


def launch(device: str, run: Callable[[DistContext], R]) -> R:
    """Call ``run`` with this process's place in a ``torchrun`` group (or alone), leaving a group it
    joined when done."""
    joined = not torch.distributed.is_initialized()
    context = dist_utils.init_distributed(device)
    try:
        result = run(context)
    except BaseException:
        if joined and context.distributed:
            torch.distributed.destroy_process_group()
        raise
    if joined:
        dist_utils.shutdown(context)
    return result


class EpochRunner:
    """The epoch loop of a run into ``config.run.out``; see the module docstring."""

    config_key: ClassVar[str]
    """Checkpoint entry holding the run's configuration."""
    outputs: ClassVar[tuple[str, ...]] = (LAST,)
    """Checkpoints a fresh run removes from its folder."""

    def __init__(self, config: ConfigTree, context: DistContext) -> None:
        self.config = config
        self.context = context
        self.device = context.device
        self.run_dir = Path(config.run.out)
        self.main = context.is_main
        self.history: list[dict[str, Any]] = []
        self.epoch = 0
        self.step = 0
        self.stopped_early = False

    # -------------------------------------------------------------------------------------------
    # What subclasses provide

    def run_epoch(self) -> dict[str, Any]:
        """Train one epoch and validate; returns the epoch's row of ``metrics.csv``."""
        raise NotImplementedError

    def save(self, row: dict[str, Any]) -> None:
        """Write the checkpoints of the epoch that ``row`` describes (rank 0 only)."""
        raise NotImplementedError

    def restore(self, payload: dict[str, Any]) -> None:
        """Take up the state of a ``last.pt`` being resumed (weights, optimiser, ...)."""
        raise NotImplementedError

    def report(self, row: dict[str, Any]) -> None:
        """Print one epoch's line."""
        raise NotImplementedError

    def finish(self) -> None:
        """Draw the run's curves once the epochs are done (rank 0 only)."""

    # -------------------------------------------------------------------------------------------
    # Shared

    def load_data(self, unlabelled: bool = False) -> Splits:
        """Rank 0 prepares the data (manifest checks, cache) first; then the first process of every
        other node, in case its file system is not shared; then every other process opens it."""
        load = partial(load_splits, self.config.data, self.config.preprocess, unlabelled=unlabelled)
        splits = load() if self.main else None
        dist_utils.barrier(self.context)
        if splits is None and self.context.local_rank == 0:
            splits = load()
        dist_utils.barrier(self.context)
        return splits if splits is not None else load()

    def wrap(self, model: nn.Module) -> nn.Module:
        """``model`` as the training step calls it: under DDP with several processes, compiled when
        ``run.compile``."""
        net = model
        if self.context.distributed:
            cuda = self.device.type == "cuda"
            net = DistributedDataParallel(
                net, device_ids=[self.device.index] if cuda else None, broadcast_buffers=False
            )
        return torch.compile(net) if self.config.run.compile else net

    def claim(self, resume: bool, overwrite: bool) -> None:
        """Refuse a run folder that is a file, or that holds another run, before any data is read."""
        if self.run_dir.exists() and not self.run_dir.is_dir():
            raise TrainingError(f"run.out {self.run_dir} is a file: name a folder for the run")
        if not resume and self.main and (self.run_dir / LAST).exists() and not overwrite:
            raise TrainingError(
                f"{self.run_dir} already holds a run: resume it (--resume {self.run_dir}), "
                "choose another --out, or pass --overwrite"
            )

    def open_run(self, resume: bool) -> None:
        """Take up the run being resumed (after :meth:`claim` and the setup); then write the
        configuration and open the logs."""
        if resume:
            payload = resume_payload(self.run_dir, self.config, self.config_key)
            self.history = list(payload["history"])
            self.step = int(payload["step"])
            self.epoch = int(payload["epoch"])
            self.stopped_early = bool(payload["stopped_early"])
            self.restore(payload)
            if int(payload["world"]) != self.context.world and self.main:
                tqdm.write(
                    f"note: the run used {payload['world']} process(es), now {self.context.world}: "
                    "it continues, but will not repeat the original run exactly"
                )
        if self.main:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            if not resume:
                for name in self.outputs:
                    (self.run_dir / name).unlink(missing_ok=True)
            save_config(self.config, self.run_dir / "config.yaml")
            self.log = RunLog(self.run_dir, self.config.run.tensorboard)
            self.log.restart(self.history)

    def run_state(self) -> dict[str, Any]:
        """The run's progress as every checkpoint of it holds it."""
        return {
            self.config_key: self.config.to_dict(),
            "epoch": self.epoch,
            "step": self.step,
            "history": self.history,
            "world": self.context.world,
        }

    def write(self, name: str, payload: dict[str, Any]) -> None:
        """Write checkpoint ``name`` of the run folder atomically."""
        save_checkpoint(self.run_dir / name, payload)

    def epochs(self, on_epoch_end: EpochCallback | None) -> None:
        """Run the remaining epochs: each one's checkpoints, log row, line and callback."""
        try:
            while self.epoch < self.config.optim.epochs and not self.stopped_early:
                row = self.run_epoch()
                self.history.append(row)
                if self.main:
                    self.save(row)
                    self.log.log_epoch(row)
                    self.report(row)
                if on_epoch_end is not None:
                    on_epoch_end(row)
            if self.main:
                self.finish()
        finally:
            if self.main:
                self.log.close()

    def seed_epoch(self, *seeded: Any) -> None:
        """Seed dropout for this epoch and move the samplers and datasets ``seeded`` to it."""
        torch.manual_seed(epoch_seed(self.config.run.seed, self.epoch, self.context.rank))
        for item in seeded:
            item.set_epoch(self.epoch)

    def batches(
        self, loader: Iterable[R], steps: int, what: str, running: Callable[[], tuple[float, int]]
    ) -> Iterator[R]:
        """The batches of one training pass behind a progress bar. Every 10 batches ``running()``
        gives the loss summed so far and the records it covers: the bar shows their mean and rate, and
        a loss that is not finite stops the run."""
        bar = tqdm(
            total=steps,
            desc=f"epoch {self.epoch + 1}/{self.config.optim.epochs}",
            unit="batch",
            disable=not (self.main and self.config.run.progress),
            leave=False,
            dynamic_ncols=True,
        )
        started = time.perf_counter()
        with bar:
            for i, batch in enumerate(loader):
                yield batch
                if i % 10 == 9 or i == steps - 1:
                    total, count = running()
                    mean = total / max(count, 1)
                    if not math.isfinite(mean):
                        raise TrainingError(
                            f"{what} loss became {mean} in epoch {self.epoch + 1} (step {self.step}): "
                            "lower optim.lr, keep optim.grad_clip > 0, or turn run.amp off"
                        )
                    rate = count * self.context.world / (time.perf_counter() - started)
                    bar.set_postfix(loss=f"{mean:.4f}", rec_s=f"{rate:.1f}", refresh=False)
                bar.update()
