"""One class per explanation method, one verb, one table of methods.

An :class:`Explainer` holds a model and the method's settings; ``explain(record, target)`` returns
the map as a frame (:mod:`explain.frames`), one column per explained lead and one row per sample
of the record. ``attribute(inp, target)`` is the same map before it is brought to the record's
samples (at the model's rate, ``[12, n]``), which is what perturbation checks need.

Every method registers itself in :data:`EXPLAINERS` under its name with :func:`register`; the
command line, :func:`explain.export_record`, :func:`explain.faithfulness` and the benchmark read
that table, so a new method is one decorated class::

    explainer = IntegratedGradientsExplainer(model, baseline="lowpass")
    frame = explainer.explain("path/to/E00001", "AF")
    frames = {name: make_explainer(name, model).explain(record, "AF") for name in ("saliency", "deeplift")}
"""

from __future__ import annotations

import inspect
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from explain.frames import to_record_frame
from explain.inputs import ExplainInput, LeadsSpec, ModelLike, as_predictor, prepare_input
from leadattn.data import Record

RecordLike = Record | str | Path | ExplainInput


class Explainer(ABC):
    """A map of what a model reads in a record.

    Class attributes a method sets: ``name`` (its key in :data:`EXPLAINERS`, on the command line
    and in file names), ``title`` (in tables and figures), ``per_class`` (False when the map does
    not depend on the class, like attention) and ``uses_baseline`` (whether the map is relative to
    a reference signal, see :mod:`explain.baselines`).
    """

    name: ClassVar[str]
    title: ClassVar[str]
    per_class: ClassVar[bool] = True
    uses_baseline: ClassVar[bool] = False

    def __init__(self, model: ModelLike) -> None:
        self.predictor = as_predictor(model)
        self.model, self.preprocess = self.predictor.model, self.predictor.preprocess

    def explain(
        self, record: RecordLike, target: int | str | None = None, leads: LeadsSpec = None
    ) -> pd.DataFrame:
        """The map of ``record`` (a :class:`~leadattn.data.Record`, its path or a prepared
        :class:`~explain.inputs.ExplainInput`) for class ``target`` as a frame; details such as the
        method, class, baseline and score are in ``frame.attrs``. ``leads`` restricts the leads the
        model sees (a subset size or names); it cannot be combined with a prepared input."""
        inp = self.prepare(record, leads)
        values, info = self.attribute(inp, target)
        return to_record_frame(values, inp, mass=True, **info)

    def prepare(self, record: RecordLike, leads: LeadsSpec = None) -> ExplainInput:
        """``record`` preprocessed as the model was trained (a prepared input is returned as is)."""
        if isinstance(record, ExplainInput):
            if leads is not None:
                raise ValueError(
                    f"{record.record.name}: the input is prepared already; choose leads when preparing it"
                )
            return record
        return prepare_input(record, self.preprocess, leads)

    @abstractmethod
    def attribute(
        self, inp: ExplainInput, target: int | str | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """The map at the model's input ``[12, n]`` (zero on leads not explained) and its details."""

    @classmethod
    def parameters(cls) -> set[str]:
        """Names of the settings the class takes: by default, the parameters of ``__init__``."""
        return set(inspect.signature(cls.__init__).parameters) - {"self", "model"}

    def settings(self) -> dict[str, Any]:
        """The settings the explainer was built with (for reports)."""
        return {}


EXPLAINERS: dict[str, type[Explainer]] = {}
"""Every explanation method by name, in the order they were registered."""


def register(cls: type[Explainer]) -> type[Explainer]:
    """Class decorator adding ``cls`` to :data:`EXPLAINERS` under ``cls.name``."""
    if cls.name in EXPLAINERS and EXPLAINERS[cls.name] is not cls:
        raise ValueError(f"two explainers are named {cls.name!r}")
    EXPLAINERS[cls.name] = cls
    return cls


def explainer_class(name: str) -> type[Explainer]:
    """The registered class called ``name``; ``ValueError`` listing the choices otherwise."""
    try:
        return EXPLAINERS[name]
    except KeyError:
        choices = ", ".join(EXPLAINERS)
        raise ValueError(f"unknown explanation method {name!r}; choose from {choices}") from None


def make_explainer(name: str, model: ModelLike, **options: Any) -> Explainer:
    """The explainer called ``name`` for ``model``; ``options`` are its settings (all must apply)."""
    return explainer_class(name)(model, **options)


def own_settings(cls: type[Explainer], settings: Mapping[str, Any]) -> dict[str, Any]:
    """The part of ``settings`` that ``cls`` takes (see :meth:`Explainer.parameters`)."""
    accepted = cls.parameters()
    return {key: value for key, value in settings.items() if key in accepted}


def make_explainers(
    names: Sequence[str], model: ModelLike, settings: Mapping[str, Any] | None = None
) -> list[Explainer]:
    """One explainer per name, each taking the ``settings`` it has a parameter for.

    Shared settings (``baseline``, ``output``, ``aggregate``, ``n_steps``...) can then be given
    once for a mixed list of methods, as the command line does; a setting that none of the chosen
    methods takes is an error.
    """
    if not names:
        raise ValueError(f"no explanation method chosen; choose from {', '.join(EXPLAINERS)}")
    classes = [explainer_class(name) for name in names]
    settings = dict(settings or {})
    built = [cls(model, **own_settings(cls, settings)) for cls in classes]
    unused = sorted(set(settings).difference(*(own_settings(cls, settings) for cls in classes)))
    if unused:
        raise ValueError(f"setting(s) {', '.join(unused)} apply to none of the methods {', '.join(names)}")
    return built
