"""Run logs: ``metrics.csv`` (one row per epoch), TensorBoard events when available, learning curves.

The history of a run is a list of per-epoch dicts of numbers, also kept in every checkpoint, so a
resumed run rewrites ``metrics.csv`` from it and never duplicates the rows of an interrupted epoch.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

CURVES = ("auroc", "auprc", "f_measure", "challenge_metric")


class RunLog:
    """Per-epoch logging into a run folder; create it on the main process only."""

    def __init__(self, run_dir: str | Path, tensorboard: bool = True) -> None:
        self.run_dir = Path(run_dir)
        self.csv_path = self.run_dir / "metrics.csv"
        self.writer = _summary_writer(self.run_dir / "tensorboard") if tensorboard else None

    def restart(self, history: Sequence[dict[str, Any]]) -> None:
        """Rewrite ``metrics.csv`` with the rows of ``history`` (those of the epochs kept)."""
        self.csv_path.unlink(missing_ok=True)
        for row in history:
            self._append(row)

    def log_epoch(self, row: dict[str, Any]) -> None:
        """Append one epoch's numbers to ``metrics.csv`` and TensorBoard."""
        self._append(row)
        if self.writer is not None:
            for key, value in row.items():
                if key != "epoch" and isinstance(value, int | float) and math.isfinite(value):
                    self.writer.add_scalar(
                        key.replace("val_", "val/").replace("train_", "train/"), value, int(row["epoch"])
                    )
            self.writer.flush()

    def _append(self, row: dict[str, Any]) -> None:
        new = not self.csv_path.is_file()
        with self.csv_path.open("a", newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(f, fieldnames=list(row))
            if new:
                writer.writeheader()
            writer.writerow(row)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


def _summary_writer(folder: Path) -> Any:
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:  # the tensorboard package is optional
        return None
    return SummaryWriter(str(folder))


def plot_learning_curves(history: Sequence[dict[str, Any]], path: str | Path) -> Path | None:
    """Loss, validation metrics and learning rate per epoch, as a PNG; None for an empty history."""
    if not history:
        return None
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    epochs = [row["epoch"] for row in history]
    fig = Figure(figsize=(13, 3.8))
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, 3)
    axes[0].plot(epochs, [row["train_loss"] for row in history], marker="o", label="training")
    axes[0].plot(epochs, [row["val_loss"] for row in history], marker="o", label="validation")
    axes[0].set_title("Loss")
    for name in CURVES:
        axes[1].plot(
            epochs, [row[f"val_{name}"] for row in history], marker="o", label=name.replace("_", " ")
        )
    axes[1].set_title("Validation metrics")
    lowest = [row["val_challenge_metric"] for row in history if math.isfinite(row["val_challenge_metric"])]
    axes[1].set_ylim(bottom=min([0.0, *lowest]))
    axes[2].plot(epochs, [row["lr"] for row in history], marker="o")
    axes[2].set_title("Learning rate (end of epoch)")
    for ax in axes:
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
    axes[0].legend()
    axes[1].legend(fontsize=8)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=110)
    return path
