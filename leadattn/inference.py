"""The one way to run a trained model on records: :class:`Predictor`.

A predictor owns everything between a record and its class probabilities: the preprocessing the
model was trained with, the lead subset, the windowing (in seconds, turned into samples at the
model's rate), batching, the device and the decision thresholds of each lead subset. Training's
validation, evaluation, prediction, explanation and export all go through it, so a record gets the
same probabilities whichever door it enters by.

The forward pass can run through ``torch.compile`` (:class:`CompiledForward`): compiled once, checked
against eager on its first batch, and replaced by eager for good wherever compilation is unavailable,
fails or disagrees. With ``compile="auto"`` (the command lines' default) a predictor compiles only
after it has scored enough windows eagerly for compilation to pay for itself.

A record of any length is scored by sliding a window over it (the last window is aligned to the
record's end so every sample is covered) and combining the windows' sigmoid outputs by their mean or
maximum. A record shorter than a window is one window of its own length; windows of several records
share a batch, with the model told each one's length so that padding cannot change its output.
"""

from __future__ import annotations

import argparse
import dataclasses
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import torch
from torch import nn

from leadattn.data import PreprocessConfig, Record, RecordError, preprocess_record, read_record
from leadattn.device import resolve_device
from leadattn.labels import ABBREVIATIONS, NUM_CLASSES
from leadattn.leads import LEAD_SUBSETS, LEADS, lead_mask
from leadattn.models.modes import eval_mode
from leadattn.thresholds import threshold_table

if TYPE_CHECKING:
    from leadattn.checkpoint import LoadedModel

Combine = Literal["mean", "max"]
LeadsSpec = int | str | Sequence[str] | None
CompileMode = bool | Literal["auto"]
Forward = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]

COMPILE_AFTER_WINDOWS = 4096
"""Windows a ``compile="auto"`` predictor scores eagerly before compiling. Compilation takes 10-20 s
with a warm compiler cache and minutes with a cold one on a 2-core CPU, and saves a few milliseconds
per window, so it pays only for large jobs (an evaluation, a folder of records, a service)."""

COMPILE_ATOL = 1e-4
"""Largest difference of logits from eager that a compiled model may show on its first batch."""

DEFAULT_WINDOW_SECONDS = 10.0
"""Window of a model whose checkpoint does not say how long its validation crops were."""


def window_starts(n: int, window: int, hop: int) -> np.ndarray:
    """Start samples of windows of ``window`` samples every ``hop`` covering ``n`` samples.

    The last window ends at ``n``; a signal no longer than one window gives the single start 0.
    """
    if window < 1 or hop < 1:
        raise ValueError(f"window and hop must be positive, got window={window}, hop={hop}")
    if n < 1:
        raise ValueError(f"signal has no samples (n={n})")
    if n <= window:
        return np.zeros(1, dtype=np.int64)
    starts = np.arange(0, n - window + 1, hop, dtype=np.int64)
    if starts[-1] + window < n:
        starts = np.append(starts, n - window)
    return starts


def subset_key(mask: np.ndarray) -> str:
    """The challenge subset whose thresholds serve a present-lead mask: the largest standard subset
    with no more leads than the mask has (``"12"``, ``"6"``, ``"4"``, ``"3"`` or ``"2"``)."""
    count = int(np.asarray(mask, dtype=bool).sum())
    fitting = [size for size in LEAD_SUBSETS if size <= count]
    return str(max(fitting) if fitting else min(LEAD_SUBSETS))


COMPILE_CHOICES = {"auto": "auto", "on": True, "off": False}
"""Values of the command lines' ``--compile`` option and the ``compile`` mode each stands for."""

COMPILE_HELP = (
    "run the model through torch.compile: auto (once a job is large enough to repay compiling), on, "
    "off; falls back to eager where compiling fails (default: auto)"
)


def add_predictor_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the command-line options that set a :class:`Predictor` up: ``--window``, ``--hop``,
    ``--batch-size``, ``--device`` and ``--compile`` (read back by :func:`predictor_options`)."""
    parser.add_argument(
        "--window",
        type=float,
        help="window scored at once, in seconds (default: the checkpoint's validation window, 10 s)",
    )
    parser.add_argument("--hop", type=float, help="step between windows in seconds (default: half a window)")
    parser.add_argument("--batch-size", type=int, default=32, help="windows per forward pass (default: 32)")
    parser.add_argument(
        "--device", default="auto", help="torch device: auto, cpu, cuda, cuda:1 ... (default: auto)"
    )
    parser.add_argument("--compile", choices=tuple(COMPILE_CHOICES), default="auto", help=COMPILE_HELP)


def predictor_options(args: argparse.Namespace) -> dict[str, Any]:
    """The keyword arguments of :meth:`Predictor.from_checkpoint` given by the options of
    :func:`add_predictor_arguments`; without ``--window`` the checkpoint's window applies."""
    options: dict[str, Any] = {
        "hop_seconds": args.hop,
        "batch_size": args.batch_size,
        "device": args.device,
        "compile": COMPILE_CHOICES[args.compile],
    }
    if args.window is not None:
        options["window_seconds"] = args.window
    return options


def compile_unavailable() -> str | None:
    """Why ``torch.compile`` cannot run here (None when it may: compiling can still fail later)."""
    if not hasattr(torch, "compile"):
        return f"torch {torch.__version__} has no torch.compile"
    if not torch._dynamo.is_dynamo_supported():
        return "torch.compile does not support this Python version or platform"
    return None


class CompiledForward:
    """``model(x, lead_mask, lengths)`` through ``torch.compile``, or eager wherever that fails.

    Compiles lazily at the first call and checks that call's logits against the eager model's
    (:data:`COMPILE_ATOL`); a compiler error, an unsupported platform or a mismatch warns once and
    falls back to the eager model for good. Lengths that are all full are passed as ``None``, so
    that the compiled graph is the model's unmasked path (the eager model drops them itself).
    Shapes are static (symbolic lengths make compilation take many minutes): each new batch shape
    compiles once, which is why :func:`score_signals` pads every batch to the full window for it.
    """

    def __init__(self, model: nn.Module, atol: float = COMPILE_ATOL) -> None:
        self.model = model
        self.atol = atol
        self.failure = compile_unavailable()
        self._compiled: Forward | None = None
        self._checked = False

    @property
    def active(self) -> bool:
        """Whether calls still go through the compiled model."""
        return self.failure is None

    def __call__(self, x: torch.Tensor, lead_mask: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        if self.failure is None:
            full = None if bool((lengths == x.shape[-1]).all()) else lengths
            try:
                if self._compiled is None:
                    self._compiled = torch.compile(self.model, dynamic=False)
                logits = self._compiled(x, lead_mask, full)
            except Exception as err:  # any failure of the compiler stack means eager, not a crash
                self._fall_back(f"compilation failed ({type(err).__name__}: {str(err)[:300]})")
            else:
                if self._checked:
                    return logits
                eager = self.model(x, lead_mask, lengths)
                error = (logits.float() - eager.float()).abs().max().item()
                if error <= self.atol:
                    self._checked = True
                    return logits
                self._fall_back(f"compiled logits differ from eager by {error:.2e} > {self.atol:g}")
                return eager
        return self.model(x, lead_mask, lengths)

    def _fall_back(self, reason: str) -> None:
        self.failure = reason
        self._compiled = None
        warnings.warn(f"running the model eagerly: {reason}", RuntimeWarning, stacklevel=3)


def score_signals(
    model: nn.Module | Forward,
    signals: Sequence[np.ndarray],
    masks: np.ndarray,
    window: int,
    hop: int,
    combine: Combine = "mean",
    batch_size: int = 32,
    device: torch.device | None = None,
) -> np.ndarray:
    """Probabilities ``[records, subsets, classes]`` of preprocessed signals ``[12, T_i]``.

    ``masks`` is ``[subsets, 12]`` (the same subsets for every record) or ``[records, subsets, 12]``.
    Every (record, subset, window) runs once; windows of different records share batches, shorter
    ones padded and marked by their length. The model runs in eval mode without gradients;
    ``model`` may be a :class:`CompiledForward` of it.
    """
    if combine not in ("mean", "max"):
        raise ValueError(f"combine must be 'mean' or 'max', got {combine!r}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    masks = np.asarray(masks, dtype=bool)
    if masks.ndim == 2:
        masks = np.broadcast_to(masks, (len(signals), *masks.shape))
    if masks.ndim != 3 or masks.shape[0] != len(signals) or masks.shape[2] != len(LEADS):
        raise ValueError(f"masks must have shape [subsets, 12] or [records, subsets, 12], got {masks.shape}")
    if not masks.any(axis=2).all():
        raise ValueError("every lead mask needs at least one present lead")
    pieces = []  # (record, subset, start, length)
    for r, x in enumerate(signals):
        if x.ndim != 2 or x.shape[0] != len(LEADS):
            raise ValueError(f"signal {r} must have shape [12, samples], got {x.shape}")
        length = min(window, x.shape[1])
        for start in window_starts(x.shape[1], window, hop):
            pieces += [(r, s, int(start), length) for s in range(masks.shape[1])]
    module = model.model if isinstance(model, CompiledForward) else model
    device = device or next(module.parameters()).device
    out = np.zeros((len(pieces), NUM_CLASSES), dtype=np.float64)
    with eval_mode(module), torch.inference_mode():
        for first in range(0, len(pieces), batch_size):
            batch = pieces[first : first + batch_size]
            # A compiled model gets one length for every batch, so that it compiles once per batch size.
            longest = window if isinstance(model, CompiledForward) else max(p[3] for p in batch)
            x = np.zeros((len(batch), len(LEADS), longest), dtype=np.float32)
            for i, (r, s, start, length) in enumerate(batch):
                x[i, :, :length] = signals[r][:, start : start + length] * masks[r, s][:, None]
            lengths = torch.tensor([p[3] for p in batch], device=device)
            batch_masks = torch.from_numpy(np.stack([masks[r, s] for r, s, _, _ in batch])).to(device)
            logits = model(torch.from_numpy(x).to(device), batch_masks, lengths)
            out[first : first + len(batch)] = torch.sigmoid(logits.float()).cpu().numpy()
    result = np.zeros((len(signals), masks.shape[1], NUM_CLASSES), dtype=np.float64)
    counts = np.zeros((len(signals), masks.shape[1], 1))
    for (r, s, _, _), p in zip(pieces, out):
        if combine == "mean":
            result[r, s] += p
        else:
            result[r, s] = np.maximum(result[r, s], p)
        counts[r, s] += 1
    return result / counts if combine == "mean" else result


@dataclass(frozen=True)
class PreparedRecord:
    """A record preprocessed for the model: ``x`` ``[12, T]`` at ``fs``, ``present`` ``[12]`` (leads
    the record has, with signal), ``covered`` record samples the input spans."""

    record: Record
    x: np.ndarray
    present: np.ndarray
    fs: float
    covered: int


@dataclass(frozen=True)
class Prediction:
    """Probabilities, decisions and the thresholds behind them, for one record and lead subset."""

    name: str
    leads: tuple[str, ...]
    probabilities: np.ndarray
    outputs: np.ndarray
    thresholds: np.ndarray

    @property
    def classes(self) -> list[str]:
        """Abbreviations of the classes output positive, most probable first."""
        chosen = sorted(np.flatnonzero(self.outputs), key=lambda k: -self.probabilities[k])
        return [ABBREVIATIONS[k] for k in chosen]


class Predictor:
    """A trained model with everything needed to feed it as it was trained.

    Args:
        model: The network (``forward(x, lead_mask, lengths)``).
        preprocess: The preprocessing it was trained with.
        thresholds: Decision thresholds ``[26]`` for every subset, or a mapping from subset key
            (``"12"``, ``"6"``, ...; see :func:`subset_key`) to ``[26]``; 0.5 when ``None``.
        window_seconds: Window scored at once; hop_seconds: step between windows (half a window
            when ``None``).
        whole: Score records whole (True) or truncated like training (``preprocess.max_seconds``).
        compile: Run the model through ``torch.compile`` (see :class:`CompiledForward`): True from
            the first window, False never, ``"auto"`` once :data:`COMPILE_AFTER_WINDOWS` windows
            have been scored. Explanations (attention weights, gradients, hooks) use ``model``
            itself, never the compiled one.
    """

    def __init__(
        self,
        model: nn.Module,
        preprocess: PreprocessConfig,
        thresholds: np.ndarray | dict[str, Sequence[float]] | None = None,
        window_seconds: float = DEFAULT_WINDOW_SECONDS,
        hop_seconds: float | None = None,
        combine: Combine = "mean",
        batch_size: int = 32,
        device: str | torch.device = "auto",
        whole: bool = True,
        compile: CompileMode = False,
    ) -> None:
        if window_seconds <= 0 or (hop_seconds is not None and hop_seconds <= 0):
            raise ValueError(f"window and hop must be positive seconds, got {window_seconds}, {hop_seconds}")
        if combine not in ("mean", "max"):
            raise ValueError(f"combine must be 'mean' or 'max', got {combine!r}")
        if compile not in (True, False, "auto"):
            raise ValueError(f"compile must be True, False or 'auto', got {compile!r}")
        self.device = resolve_device(device)
        self.model = model.to(self.device)
        self.preprocess = preprocess
        self.thresholds = threshold_table(thresholds)
        self.window_seconds = float(window_seconds)
        self.hop_seconds = float(hop_seconds) if hop_seconds is not None else self.window_seconds / 2
        self.combine: Combine = combine
        self.batch_size = int(batch_size)
        self.whole = whole
        self.compile: CompileMode = compile
        self.scored_windows = 0
        self._compiled: CompiledForward | None = None

    @classmethod
    def from_checkpoint(
        cls, checkpoint: str | Path | LoadedModel, device: str | torch.device = "auto", **options
    ) -> Predictor:
        """Build from a checkpoint file or a :class:`~leadattn.checkpoint.LoadedModel`; the window
        defaults to the checkpoint's validation crop length."""
        from leadattn.checkpoint import LoadedModel, load_model

        device = resolve_device(device)
        loaded = checkpoint if isinstance(checkpoint, LoadedModel) else load_model(checkpoint, device)
        data = loaded.train_config.get("data", {}) if isinstance(loaded.train_config, dict) else {}
        options.setdefault("window_seconds", float(data.get("val_crop_seconds", DEFAULT_WINDOW_SECONDS)))
        return cls(loaded.model, loaded.preprocess, loaded.thresholds, device=device, **options)

    @property
    def fs(self) -> float:
        """The model's sampling rate."""
        return float(self.preprocess.fs)

    @property
    def window(self) -> int:
        """Window in samples at the model's rate."""
        return max(1, round(self.window_seconds * self.fs))

    @property
    def hop(self) -> int:
        """Hop in samples at the model's rate."""
        return max(1, round(self.hop_seconds * self.fs))

    def thresholds_for(self, mask: np.ndarray) -> np.ndarray:
        """Thresholds ``[26]`` for a present-lead mask (see :func:`subset_key`)."""
        return self.thresholds[subset_key(mask)]

    def prepare(self, record: Record | str | Path) -> PreparedRecord:
        """Read (when given a path) and preprocess a record as the model was trained."""
        record = record if isinstance(record, Record) else read_record(record)
        config = dataclasses.replace(self.preprocess, max_seconds=None) if self.whole else self.preprocess
        x, present = preprocess_record(record, config)
        covered = record.signal.shape[1]
        if config.max_seconds is not None:
            covered = min(covered, int(round(config.max_seconds * record.fs)))
        return PreparedRecord(record, x, np.asarray(present, dtype=bool), self.fs, covered)

    def masks(self, prepared: PreparedRecord, subsets: Sequence[LeadsSpec]) -> np.ndarray:
        """Present-lead masks ``[subsets, 12]``: each subset restricted to the leads the record has.

        Raises :class:`~leadattn.data.RecordError` when a subset has none of its leads there.
        """
        masks = np.stack([lead_mask(subset) & prepared.present for subset in subsets])
        empty = [subset for subset, m in zip(subsets, masks) if not m.any()]
        if empty:
            have = ", ".join(lead for lead, p in zip(LEADS, prepared.present) if p) or "none"
            raise RecordError(
                prepared.record.name,
                "missing_leads",
                f"no lead of subset {empty[0]} has signal in the record (leads with signal: {have})",
            )
        return masks

    def probabilities(
        self, records: Sequence[Record | str | Path | PreparedRecord], subsets: Sequence[LeadsSpec] = (None,)
    ) -> np.ndarray:
        """Probabilities ``[records, subsets, 26]`` of several records under each lead subset."""
        prepared = [r if isinstance(r, PreparedRecord) else self.prepare(r) for r in records]
        masks = np.stack([self.masks(p, subsets) for p in prepared]) if prepared else np.zeros((0, 1, 12))
        windows = sum(len(window_starts(p.x.shape[1], self.window, self.hop)) for p in prepared)
        forward = self.forward(windows * len(subsets))
        self.scored_windows += windows * len(subsets)
        return score_signals(
            forward,
            [p.x for p in prepared],
            masks,
            self.window,
            self.hop,
            self.combine,
            self.batch_size,
            self.device,
        )

    def forward(self, windows: int = 0) -> nn.Module | CompiledForward:
        """The model or its compiled form, for a job of ``windows`` more windows."""
        wanted = self.compile is True or (
            self.compile == "auto" and self.scored_windows + windows >= COMPILE_AFTER_WINDOWS
        )
        if not wanted:
            return self.model
        if self._compiled is None:
            self._compiled = CompiledForward(self.model)
        return self._compiled if self._compiled.active else self.model

    def predict(self, record: Record | str | Path | PreparedRecord, leads: LeadsSpec = None) -> Prediction:
        """Probabilities and decisions of one record under one lead subset (None: every lead it has)."""
        prepared = record if isinstance(record, PreparedRecord) else self.prepare(record)
        mask = self.masks(prepared, [leads])[0]
        probabilities = self.probabilities([prepared], [leads])[0, 0]
        thresholds = self.thresholds_for(mask)
        return Prediction(
            prepared.record.name,
            tuple(lead for lead, m in zip(LEADS, mask) if m),
            probabilities,
            probabilities >= thresholds,
            thresholds,
        )
