"""The input an explanation is computed on: a record preprocessed exactly as the model was trained.

Every map in :mod:`explain` is computed on one :class:`ExplainInput`: the record's signal after the
checkpoint's :class:`~leadattn.data.PreprocessConfig` (resampled to the model's rate, filtered,
standardised, truncated to ``max_seconds``), in the 12 canonical slots, with the leads that are not
explained masked out so that the model does not see them. Maps are computed at the model's rate and
mapped back to the record's own samples by :mod:`explain.frames`.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from leadattn.checkpoint import LoadedModel
from leadattn.data import PreprocessConfig, Record, preprocess_record, read_record
from leadattn.inference import Predictor
from leadattn.labels import ABBREVIATIONS, NUM_CLASSES, class_index
from leadattn.leads import LEADS, resolve_leads
from leadattn.models import eval_mode

LeadsSpec = int | str | Sequence[str] | None
ModelLike = nn.Module | LoadedModel | Predictor


@dataclass(frozen=True)
class ExplainInput:
    """One record ready for the model.

    Attributes:
        record: The record as read, in mV at its own rate.
        leads: Leads explained (canonical order; a subset of ``record.leads``).
        x: Model input float32 ``[12, n]`` at ``fs``; rows of leads not explained are zero.
        mask: Present-lead mask ``[12]``: True exactly for ``leads``.
        fs: The model's sampling rate.
        covered: Record samples the model input covers (fewer than the record's when the
            checkpoint's preprocessing truncates long records).
    """

    record: Record
    leads: tuple[str, ...]
    x: np.ndarray
    mask: np.ndarray
    fs: float
    covered: int

    @property
    def samples(self) -> int:
        """Length of the model input."""
        return self.x.shape[1]

    @property
    def rows(self) -> list[int]:
        """Canonical slot of every explained lead, in the order of :attr:`leads`."""
        return [LEADS.index(lead) for lead in self.leads]

    def tensor(self, device: torch.device | str = "cpu") -> torch.Tensor:
        """The input as a ``[1, 12, n]`` tensor."""
        return torch.from_numpy(self.x).unsqueeze(0).to(device)

    def mask_tensor(self, device: torch.device | str = "cpu") -> torch.Tensor:
        """The present-lead mask as a bool ``[12]`` tensor."""
        return torch.from_numpy(self.mask).to(device)


class BareModelWarning(UserWarning):
    """A network was given without the preprocessing it was trained with."""


def as_predictor(model: ModelLike) -> Predictor:
    """The :class:`~leadattn.inference.Predictor` of a predictor, a loaded checkpoint or a bare model.

    A bare model carries no record of how it was trained: it is fed with the default preprocessing
    and thresholds 0.5, and a :class:`BareModelWarning` says so. Pass a checkpoint's ``LoadedModel`` or
    ``Predictor(model, preprocess)`` to explain a model trained otherwise.
    """
    if isinstance(model, Predictor):
        return model
    if isinstance(model, LoadedModel):
        return Predictor.from_checkpoint(model, device="cpu")
    if isinstance(model, nn.Module):
        defaults = PreprocessConfig()
        warnings.warn(
            f"a bare model is fed with the default preprocessing ({defaults.fs:g} Hz, "
            f"normalise={defaults.normalise!r}) and thresholds 0.5; pass Predictor(model, preprocess) or a "
            "loaded checkpoint if it was trained otherwise",
            BareModelWarning,
            stacklevel=3,
        )
        return Predictor(model, defaults, device="cpu")
    raise TypeError(f"expected a Predictor, a LoadedModel or a model, got {type(model).__name__}")


def unwrap(model: ModelLike) -> tuple[nn.Module, PreprocessConfig]:
    """Network and preprocessing of anything :func:`as_predictor` takes; decision thresholds depend on
    the leads explained, so ask the predictor (``as_predictor(model).thresholds_for(mask)``)."""
    predictor = as_predictor(model)
    return predictor.model, predictor.preprocess


def as_record(record: Record | str | Path) -> Record:
    """A record, reading it first when given as a path."""
    if isinstance(record, Record):
        return record
    if isinstance(record, str | Path):
        return read_record(record)
    raise TypeError(f"expected a Record or a path to a record, got {type(record).__name__}")


def explained_leads(record: Record, leads: LeadsSpec) -> tuple[str, ...]:
    """The leads to explain: ``leads`` (a subset size, names or None for all of the record's)."""
    if leads is None:
        return tuple(record.leads)
    try:
        wanted = resolve_leads(leads)
    except KeyError as error:
        raise ValueError(f"{record.name}: {error.args[0]}") from None
    missing = [lead for lead in wanted if lead not in record.leads]
    if missing:
        raise ValueError(
            f"{record.name}: lead(s) {', '.join(missing)} requested but the record has only "
            f"{', '.join(record.leads)}"
        )
    return wanted


def prepare_input(
    record: Record | str | Path, config: PreprocessConfig, leads: LeadsSpec = None
) -> ExplainInput:
    """Preprocess ``record`` with ``config`` and mask every lead outside ``leads``."""
    record = as_record(record)
    chosen = explained_leads(record, leads)
    x, _ = preprocess_record(record, config)
    mask = np.array([lead in chosen for lead in LEADS], dtype=bool)
    x = np.where(mask[:, None], x, 0.0).astype(np.float32)
    covered = record.signal.shape[1]
    if config.max_seconds is not None:
        covered = min(covered, int(round(config.max_seconds * record.fs)))
    return ExplainInput(record, chosen, x, mask, float(config.fs), covered)


def class_scores(model: nn.Module, inp: ExplainInput) -> tuple[np.ndarray, np.ndarray]:
    """Logits and sigmoid probabilities ``[classes]`` of the exact input that is explained."""
    with eval_mode(model), torch.no_grad():
        logits = model(inp.tensor(device_of(model)), inp.mask_tensor(device_of(model)))[0].float().cpu()
    return logits.numpy().astype(np.float64), torch.sigmoid(logits).numpy().astype(np.float64)


def resolve_class(target: int | str) -> int:
    """Class index of ``target``: an index, an abbreviation (``AF``) or a SNOMED CT code."""
    if isinstance(target, bool):
        raise TypeError(f"class must be an index or a name, got {target!r}")
    if isinstance(target, int | np.integer):
        if not 0 <= int(target) < NUM_CLASSES:
            raise ValueError(f"class index {target} out of range 0..{NUM_CLASSES - 1}")
        return int(target)
    try:
        return class_index(str(target))
    except KeyError:
        raise ValueError(
            f"unknown class {target!r}; expected an index or one of {', '.join(ABBREVIATIONS)}"
        ) from None


def predicted_classes(probabilities: np.ndarray, thresholds: np.ndarray) -> list[int]:
    """Classes whose probability reaches its threshold, highest first; the top class if none does."""
    chosen = np.flatnonzero(probabilities >= thresholds)
    if chosen.size == 0:
        chosen = np.array([int(np.argmax(probabilities))])
    return sorted(chosen.tolist(), key=lambda k: -probabilities[k])


def device_of(model: nn.Module) -> torch.device:
    """Device of the model's parameters (CPU for a model without any)."""
    parameter = next(model.parameters(), None)
    return parameter.device if parameter is not None else torch.device("cpu")
