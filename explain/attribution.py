"""Attribution maps from Captum: how much each sample of each lead moved one class's score.

One :class:`~explain.explainer.Explainer` per method: :class:`IntegratedGradientsExplainer`,
:class:`SaliencyExplainer`, :class:`GradientShapExplainer`, :class:`OcclusionExplainer`,
:class:`FeatureAblationExplainer`, :class:`DeepLiftExplainer` and :class:`GradCamExplainer`.
Scores are logits by default (``output="logit"``) or sigmoid probabilities (``"probability"``);
one class is explained at a time. Maps keep their sign unless ``absolute=True``. Only the explained
leads are inputs of the attribution: the other leads are masked out of the model, so they cannot
receive any attribution and are not in the frame. Baselines: see :mod:`explain.baselines`.
"""

from __future__ import annotations

import warnings
from abc import abstractmethod
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import torch
from captum.attr import (
    DeepLift,
    FeatureAblation,
    GradientShap,
    IntegratedGradients,
    LayerGradCam,
    Occlusion,
    Saliency,
)
from torch import nn

from explain.baselines import BaselineProvider, resolve_baseline
from explain.explainer import Explainer, RecordLike, register
from explain.frames import tokens_to_samples
from explain.inputs import (
    ExplainInput,
    ModelLike,
    class_scores,
    device_of,
    predicted_classes,
    resolve_class,
)
from leadattn.data import Record
from leadattn.labels import ABBREVIATIONS
from leadattn.leads import LEADS
from leadattn.models import eval_mode

OUTPUTS = ("logit", "probability")
IG_STEPS = 64
"""Integrated Gradients' default number of steps (see the README for the deltas it leaves)."""
CONVERGENCE_BOUND = 0.05
"""Largest relative convergence delta of Integrated Gradients accepted without a warning: the
delta divided by the score difference the map explains."""


class ConvergenceWarning(UserWarning):
    """Integrated Gradients' integral is inaccurate: its delta exceeds :data:`CONVERGENCE_BOUND`."""


class ClassScore(nn.Module):
    """The network as Captum sees it: explained leads ``[B, L, n]`` in, class scores out.

    The ``L`` rows are placed into their canonical slots of a zero ``[B, 12, n]`` input and the
    network runs with the explained leads marked present; scores are logits or, with
    ``probability``, sigmoid outputs (an ``nn.Sigmoid`` module, so DeepLift treats it properly).
    The scores of the latest call are kept in ``last_scores`` (detached).
    """

    def __init__(self, model: nn.Module, mask: np.ndarray, probability: bool = False) -> None:
        super().__init__()
        self.model = model
        device = device_of(model)
        self.register_buffer("mask", torch.from_numpy(np.asarray(mask, dtype=bool)).to(device))
        self.register_buffer("rows", torch.from_numpy(np.flatnonzero(mask)).to(device))
        self.sigmoid = nn.Sigmoid() if probability else None
        self.last_scores = torch.empty(0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        full = x.new_zeros(x.shape[0], self.mask.shape[0], x.shape[-1]).index_copy(1, self.rows, x)
        logits = self.model(full, self.mask)
        scores = self.sigmoid(logits) if self.sigmoid is not None else logits
        self.last_scores = scores.detach()
        return scores


_MASKED_SCORE = -1.0e4


def _finite_masked_scores(module: nn.Module, args: tuple[Any, ...]) -> tuple[Any, ...]:
    return (torch.nan_to_num(args[0], neginf=_MASKED_SCORE), *args[1:])


@contextmanager
def _finite_softmax_inputs(model: nn.Module) -> Iterator[None]:
    """Replace the ``-inf`` of masked attention scores by a large negative number for DeepLift.

    DeepLift's softmax rule divides by the difference between input and baseline scores, which is
    NaN for masked (``-inf``) positions. A finite stand-in leaves the softmax output unchanged
    (its exponential is exactly 0 in float32) and makes that difference 0. The hooks are
    registered before Captum's, so Captum records the finite scores.
    """
    handles = [
        m.register_forward_pre_hook(_finite_masked_scores)
        for m in model.modules()
        if isinstance(m, nn.Softmax)
    ]
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


def _stem_layer(model: nn.Module) -> nn.Module:
    layers = getattr(getattr(model, "stem", None), "layers", None)
    if not isinstance(layers, nn.Sequential) or len(layers) == 0:
        raise TypeError(
            f"grad_cam needs a lead-wise stem (model.stem.layers); {type(model).__name__} has none"
        )
    return layers[-1]


def _grad_cam(scorer: ClassScore, model: nn.Module, x: torch.Tensor, target: int) -> np.ndarray:
    cam = LayerGradCam(scorer, _stem_layer(model)).attribute(x, target=target, attr_dim_summation=False)
    leads = scorer.mask.shape[0]
    if cam.dim() != 3 or cam.shape[1] % leads:
        raise TypeError(f"stem output of shape {tuple(cam.shape)} is not [batch, leads x channels, tokens]")
    per_lead = cam[0].reshape(leads, cam.shape[1] // leads, cam.shape[2]).sum(dim=1)
    tokens = per_lead[scorer.rows].detach().cpu().numpy()
    return tokens_to_samples(tokens, model.stem.geometry(x.shape[-1]), x.shape[-1], mass=False)


class CaptumExplainer(Explainer):
    """What every attribution method shares: one class's score, a baseline, signed or absolute.

    ``baseline`` is a name (``"zeros"``, the default, or ``"lowpass"``) or a provider
    (:mod:`explain.baselines`), for the methods that use one (``uses_baseline``); ``output`` is
    ``"logit"`` or ``"probability"``; ``absolute`` keeps magnitudes only. A method's own settings
    are keyword arguments declared with their defaults in its ``options`` table; they become
    attributes. Subclasses implement :meth:`_attribute` on the explained rows.
    """

    options: ClassVar[dict[str, Any]] = {}
    _grad_input: ClassVar[bool] = False

    def __init__(
        self,
        model: ModelLike,
        baseline: str | BaselineProvider | None = None,
        output: str = "logit",
        absolute: bool = False,
        **options: Any,
    ) -> None:
        super().__init__(model)
        if output not in OUTPUTS:
            raise ValueError(f"output must be one of {OUTPUTS}, got {output!r}")
        if baseline is not None and not self.uses_baseline:
            raise TypeError(f"{self.name} takes no baseline")
        unknown = sorted(set(options) - set(self.options))
        if unknown:
            allowed = ", ".join(self.options) or "none"
            raise TypeError(f"{self.name} takes no setting(s) {', '.join(unknown)} (its settings: {allowed})")
        self.baseline = resolve_baseline("zeros" if baseline is None else baseline)
        self.output = output
        self.absolute = absolute
        for key, default in self.options.items():
            setattr(self, key, options.get(key, default))
        self._check()

    @classmethod
    def parameters(cls) -> set[str]:
        names = {"output", "absolute", *cls.options}
        return names | {"baseline"} if cls.uses_baseline else names

    def settings(self) -> dict[str, Any]:
        return {key: getattr(self, key) for key in self.options}

    def _check(self) -> None:
        """Validate the method's own settings (nothing to check by default)."""

    def attribute(
        self, inp: ExplainInput, target: int | str | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Attribution ``[12, n]`` of class ``target``'s score (zero on leads not explained)."""
        if target is None:
            raise ValueError(f"{self.name} explains one class at a time: pass a target class")
        k = resolve_class(target)
        rows = np.flatnonzero(inp.mask)
        device = device_of(self.model)
        x = torch.from_numpy(inp.x[rows]).unsqueeze(0).to(device)
        if self._grad_input:
            x.requires_grad_()  # Captum would set it itself, with a warning
        scorer = ClassScore(self.model, inp.mask, probability=self.output == "probability")
        baselines = self._baselines(inp, rows, device) if self.uses_baseline else None
        with eval_mode(self.model):
            values, info = self._attribute(scorer, x, baselines, k, inp.fs)
            if baselines is not None:
                with torch.no_grad():
                    scores = scorer(torch.cat([x.detach(), baselines]))[:, k].double().cpu().numpy()
            else:  # the method's one forward pass was on the record itself
                scores = scorer.last_scores[:, k].double().cpu().numpy()
        full = np.zeros((len(LEADS), inp.samples))
        full[rows] = np.abs(values) if self.absolute else values
        deltas = info.pop("deltas", None)
        info.update(
            {
                "method": self.name,
                "class": ABBREVIATIONS[k],
                "class_index": k,
                "output": self.output,
                "score": float(scores[0]),
                "baseline": self.baseline.name if baselines is not None else None,
                "absolute": self.absolute,
                "options": self.settings(),
            }
        )
        if baselines is not None:
            info["score_difference"] = float(scores[0] - scores[1:].mean())
        if deltas is not None:
            differences = np.abs(scores[0] - scores[1:])
            info["convergence_delta"] = float(np.max(deltas))
            info["relative_delta"] = float(np.max(np.asarray(deltas) / np.maximum(differences, 1e-12)))
        return full, info

    def _baselines(self, inp: ExplainInput, rows: np.ndarray, device: torch.device) -> torch.Tensor:
        reference = self.baseline(inp.x, inp.mask, inp.fs)
        if reference.ndim != 3 or reference.shape[1:] != inp.x.shape:
            raise ValueError(
                f"baseline {self.baseline.name!r} gave shape {reference.shape}, "
                f"expected [k, 12, {inp.samples}]"
            )
        return torch.from_numpy(np.ascontiguousarray(reference[:, rows])).to(device)

    @abstractmethod
    def _attribute(
        self, scorer: ClassScore, x: torch.Tensor, baselines: torch.Tensor | None, target: int, fs: float
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Attribution ``[L, n]`` of the explained rows ``x`` ``[1, L, n]``; details may include
        ``deltas``, one convergence delta per baseline."""


def _mean_over_baselines(
    baselines: torch.Tensor, one: Callable[[torch.Tensor], tuple[torch.Tensor, float | None]]
) -> tuple[np.ndarray, dict[str, Any]]:
    """Run ``one`` per baseline and average the maps (the sinus baseline holds several records)."""
    maps, deltas = [], []
    for baseline in baselines.split(1):
        result, delta = one(baseline)
        maps.append(result[0].detach().cpu().numpy())
        if delta is not None:
            deltas.append(delta)
    return np.mean(maps, axis=0), ({"deltas": deltas} if deltas else {})


@register
class IntegratedGradientsExplainer(CaptumExplainer):
    """Integrated Gradients: the path integral of gradients from the baseline to the record.

    ``n_steps`` Gauss-Legendre points, ``internal_batch_size`` inputs per pass. The convergence
    delta (the gap between the map's sum and the score difference it explains) is reported in
    ``attrs["convergence_delta"]`` and, relative to the score difference, in
    ``attrs["relative_delta"]``; above :data:`CONVERGENCE_BOUND` a :class:`ConvergenceWarning` says
    the integral is inaccurate and more steps are needed.
    """

    name = "integrated_gradients"
    title = "integrated gradients"
    uses_baseline = True

    options = {"n_steps": IG_STEPS, "internal_batch_size": 16}

    def _check(self) -> None:
        if self.n_steps < 1 or self.internal_batch_size < 1:
            raise ValueError(
                f"n_steps and internal_batch_size must be positive, "
                f"got {self.n_steps}, {self.internal_batch_size}"
            )

    def attribute(
        self, inp: ExplainInput, target: int | str | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        values, info = super().attribute(inp, target)
        if info["relative_delta"] > CONVERGENCE_BOUND:
            warnings.warn(
                f"{inp.record.name} {info['class']}: Integrated Gradients' convergence delta is "
                f"{info['relative_delta']:.1%} of the score difference (bound {CONVERGENCE_BOUND:.0%}) "
                f"with {self.n_steps} steps; pass more steps (n_steps, --steps) for an accurate map",
                ConvergenceWarning,
                stacklevel=3,
            )
        return values, info

    def _attribute(self, scorer, x, baselines, target, fs):
        method = IntegratedGradients(scorer)

        def one(baseline: torch.Tensor) -> tuple[torch.Tensor, float]:
            result, delta = method.attribute(
                x,
                baselines=baseline,
                target=target,
                n_steps=self.n_steps,
                internal_batch_size=self.internal_batch_size,
                return_convergence_delta=True,
            )
            return result, float(delta.abs().max())

        return _mean_over_baselines(baselines, one)


@register
class SaliencyExplainer(CaptumExplainer):
    """The gradient of the score with respect to every input sample (signed)."""

    name = "saliency"
    title = "saliency"
    _grad_input = True

    def _attribute(self, scorer, x, baselines, target, fs):
        return Saliency(scorer).attribute(x, target=target, abs=False)[0].detach().cpu().numpy(), {}


@register
class GradientShapExplainer(CaptumExplainer):
    """Expected gradients times input minus baseline, over ``n_samples`` draws of baseline, path
    point and Gaussian input noise (``stdevs``)."""

    name = "gradient_shap"
    title = "GradientShap"
    uses_baseline = True

    options = {"n_samples": 16, "stdevs": 0.1}

    def _attribute(self, scorer, x, baselines, target, fs):
        result = GradientShap(scorer).attribute(
            x, baselines=baselines, target=target, n_samples=self.n_samples, stdevs=self.stdevs
        )
        return result[0].detach().cpu().numpy(), {}


@register
class OcclusionExplainer(CaptumExplainer):
    """The score change when a window of ``window_seconds`` of one lead is replaced by the
    baseline, sliding by ``stride_seconds`` (the window by default)."""

    name = "occlusion"
    title = "occlusion"
    uses_baseline = True

    options = {"window_seconds": 0.25, "stride_seconds": None, "perturbations_per_eval": 16}

    def _attribute(self, scorer, x, baselines, target, fs):
        window = max(1, int(round(self.window_seconds * fs)))
        step = window if self.stride_seconds is None else max(1, int(round(self.stride_seconds * fs)))
        method = Occlusion(scorer)

        def one(baseline: torch.Tensor) -> tuple[torch.Tensor, None]:
            result = method.attribute(
                x,
                sliding_window_shapes=(1, window),
                strides=(1, step),
                baselines=baseline,
                target=target,
                perturbations_per_eval=self.perturbations_per_eval,
            )
            return result, None

        return _mean_over_baselines(baselines, one)


@register
class FeatureAblationExplainer(CaptumExplainer):
    """One feature per lead: the score change when the whole lead is replaced by the baseline
    (the same value on every sample of the lead)."""

    name = "feature_ablation"
    title = "feature ablation (per lead)"
    uses_baseline = True

    def _attribute(self, scorer, x, baselines, target, fs):
        rows = x.shape[1]
        feature_mask = torch.arange(rows, device=x.device)[None, :, None].expand_as(x)
        method = FeatureAblation(scorer)

        def one(baseline: torch.Tensor) -> tuple[torch.Tensor, None]:
            result = method.attribute(
                x, baselines=baseline, target=target, feature_mask=feature_mask, perturbations_per_eval=rows
            )
            return result, None

        return _mean_over_baselines(baselines, one)


@register
class DeepLiftExplainer(CaptumExplainer):
    """DeepLift (rescale rule). Captum's rules cover the network's softmax modules; GELU, layer
    normalisation and the products of attention weights with values are treated as linear, so the
    result is an approximation for this architecture. Its delta is reported like Integrated
    Gradients' but measures that approximation, which more computation does not reduce."""

    name = "deeplift"
    title = "DeepLift"
    uses_baseline = True
    _grad_input = True

    def _attribute(self, scorer, x, baselines, target, fs):
        method = DeepLift(scorer)

        def one(baseline: torch.Tensor) -> tuple[torch.Tensor, float]:
            with warnings.catch_warnings(), _finite_softmax_inputs(self.model):
                warnings.filterwarnings("ignore", message=".*hooks and attributes.*")
                result, delta = method.attribute(
                    x, baselines=baseline, target=target, return_convergence_delta=True
                )
            return result, float(delta.abs().max())

        return _mean_over_baselines(baselines, one)


@register
class GradCamExplainer(CaptumExplainer):
    """Grad-CAM on the stem's output, the last layer where every channel belongs to one lead: each
    lead's channels are weighted by their time-averaged gradient and summed, giving one value per
    lead and stem token, interpolated to the input's samples."""

    name = "grad_cam"
    title = "LayerGradCam (stem)"
    _grad_input = True

    def _check(self) -> None:
        _stem_layer(self.model)

    def _attribute(self, scorer, x, baselines, target, fs):
        return _grad_cam(scorer, self.model, x, target), {}


def attribution_classes(
    explainer: Explainer, record: RecordLike, classes: str | Sequence[int | str] = "predicted"
) -> dict[str, pd.DataFrame]:
    """One frame per class, keyed by abbreviation; ``classes="predicted"`` takes the classes at or
    above their thresholds on the explained input (the top class when none is)."""
    inp = explainer.prepare(record)
    if isinstance(classes, str) and classes == "predicted":
        _, probabilities = class_scores(explainer.model, inp)
        chosen = predicted_classes(probabilities, explainer.predictor.thresholds_for(inp.mask))
    else:
        chosen = [resolve_class(c) for c in ([classes] if isinstance(classes, str | int) else classes)]
    return {ABBREVIATIONS[k]: explainer.explain(inp, k) for k in chosen}


def lead_importance(
    explainer: CaptumExplainer, records: Iterable[Record | str | Path], target: int | str
) -> pd.DataFrame:
    """Records x leads: each lead's share of the record's absolute attribution for ``target``.

    Rows are records (index ``record``), columns the 12 canonical leads; a row sums to 1 over the
    leads the record has and is NaN for the others. With :class:`FeatureAblationExplainer` a
    lead's share is proportional to how much the score changes when the whole lead is replaced
    by the baseline; with other methods, to the mean absolute attribution over the lead's samples.
    """
    k = resolve_class(target)
    rows, names = [], []
    for record in records:
        inp = explainer.prepare(record)
        values, _ = explainer.attribute(inp, k)
        per_lead = np.where(inp.mask, np.abs(values).mean(axis=1), np.nan)
        total = np.nansum(per_lead)
        rows.append(per_lead / total if total > 0 else np.where(inp.mask, 0.0, np.nan))
        names.append(inp.record.name)
    if not rows:
        raise ValueError("lead_importance needs at least one record")
    table = pd.DataFrame(np.array(rows), index=pd.Index(names, name="record"), columns=list(LEADS))
    table.attrs.update({"method": explainer.name, "class": ABBREVIATIONS[k], "output": explainer.output})
    return table
