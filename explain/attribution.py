"""Attribution maps from Captum: how much each sample of each lead moved one class's score.

Methods (``method=``):

* ``integrated_gradients`` - path integral of gradients from the baseline to the record
  (``n_steps`` Gauss-Legendre points, ``internal_batch_size`` inputs per pass). Its convergence
  delta (the gap between the attributions' sum and the score difference) is reported in
  ``attrs["convergence_delta"]``; small relative to ``attrs["score_difference"]`` means the
  integral is accurate.
* ``saliency`` - the gradient of the score (signed).
* ``gradient_shap`` - expected gradients times input minus baseline, over ``n_samples`` draws of
  baseline, path point and Gaussian input noise (``stdevs``).
* ``occlusion`` - score change when a window of ``window_seconds`` of one lead is replaced by the
  baseline, sliding by ``stride_seconds`` (the window by default).
* ``feature_ablation`` - one feature per lead: the score change when the whole lead is replaced
  by the baseline (the same value on every sample of the lead).
* ``deeplift`` - DeepLift (rescale rule). Captum's rules cover the network's softmax modules; GELU,
  layer normalisation and the products of attention weights with values are treated as linear,
  so the result is an approximation for this architecture. Its delta is reported like IG's.
* ``grad_cam`` - Grad-CAM on the stem's output, the last layer where every channel belongs to one
  lead: each lead's channels are weighted by their time-averaged gradient and summed, giving one
  value per lead and stem token, interpolated to the input's samples.

Scores are logits by default (``output="logit"``) or sigmoid probabilities (``"probability"``);
one class is explained at a time. Maps keep their sign unless ``absolute=True``. Only the explained
leads are inputs of the attribution: the other leads are masked out of the model, so they cannot
receive any attribution and are not in the frame. Baselines: see :mod:`explain.baselines`.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

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
from explain.frames import to_record_frame, tokens_to_samples
from explain.inputs import (
    ExplainInput,
    LeadsSpec,
    ModelLike,
    class_scores,
    device_of,
    predicted_classes,
    prepare_input,
    resolve_class,
    unwrap,
)
from leadattn.data import Record
from leadattn.labels import ABBREVIATIONS
from leadattn.leads import LEADS
from leadattn.models import eval_mode

METHODS = (
    "integrated_gradients",
    "saliency",
    "gradient_shap",
    "occlusion",
    "feature_ablation",
    "deeplift",
    "grad_cam",
)
OUTPUTS = ("logit", "probability")
_GRADIENT_METHODS = ("saliency", "deeplift", "grad_cam")
_GRADIENT_ONLY = ("saliency", "grad_cam")
_OPTIONS: dict[str, dict[str, Any]] = {
    "integrated_gradients": {"n_steps": 32, "internal_batch_size": 16},
    "saliency": {},
    "gradient_shap": {"n_samples": 16, "stdevs": 0.1},
    "occlusion": {"window_seconds": 0.25, "stride_seconds": None, "perturbations_per_eval": 16},
    "feature_ablation": {},
    "deeplift": {},
    "grad_cam": {},
}


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


def _options(method: str, given: dict[str, Any]) -> dict[str, Any]:
    defaults = _OPTIONS[method]
    unknown = sorted(set(given) - set(defaults))
    if unknown:
        allowed = ", ".join(defaults) or "none"
        raise TypeError(f"{method} takes no option(s) {', '.join(unknown)} (options: {allowed})")
    return {**defaults, **given}


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


def _attribute(
    method: str,
    scorer: ClassScore,
    model: nn.Module,
    x: torch.Tensor,
    baselines: torch.Tensor,
    target: int,
    fs: float,
    options: dict[str, Any],
) -> tuple[np.ndarray, dict[str, Any]]:
    """Attribution ``[L, n]`` for the explained rows and method-specific details."""
    info: dict[str, Any] = {}
    if method == "saliency":
        result = Saliency(scorer).attribute(x, target=target, abs=False)
        return result[0].detach().cpu().numpy(), info
    if method == "grad_cam":
        return _grad_cam(scorer, model, x, target), info
    if method == "gradient_shap":
        result = GradientShap(scorer).attribute(
            x, baselines=baselines, target=target, n_samples=options["n_samples"], stdevs=options["stdevs"]
        )
        return result[0].detach().cpu().numpy(), info
    maps, deltas = [], []
    for baseline in baselines.split(1):
        if method == "integrated_gradients":
            result, delta = IntegratedGradients(scorer).attribute(
                x,
                baselines=baseline,
                target=target,
                n_steps=options["n_steps"],
                internal_batch_size=options["internal_batch_size"],
                return_convergence_delta=True,
            )
            deltas.append(float(delta.abs().max()))
        elif method == "deeplift":
            with warnings.catch_warnings(), _finite_softmax_inputs(model):
                warnings.filterwarnings("ignore", message=".*hooks and attributes.*")
                result, delta = DeepLift(scorer).attribute(
                    x, baselines=baseline, target=target, return_convergence_delta=True
                )
            deltas.append(float(delta.abs().max()))
        elif method == "occlusion":
            window = max(1, int(round(options["window_seconds"] * fs)))
            stride = options["stride_seconds"]
            step = window if stride is None else max(1, int(round(stride * fs)))
            result = Occlusion(scorer).attribute(
                x,
                sliding_window_shapes=(1, window),
                strides=(1, step),
                baselines=baseline,
                target=target,
                perturbations_per_eval=options["perturbations_per_eval"],
            )
        else:  # feature_ablation
            rows = x.shape[1]
            feature_mask = torch.arange(rows, device=x.device)[None, :, None].expand_as(x)
            result = FeatureAblation(scorer).attribute(
                x, baselines=baseline, target=target, feature_mask=feature_mask, perturbations_per_eval=rows
            )
        maps.append(result[0].detach().cpu().numpy())
    if deltas:
        info["convergence_delta"] = max(deltas)
    return np.mean(maps, axis=0), info


def attribution_map(
    model: nn.Module,
    inp: ExplainInput,
    target: int | str,
    method: str = "integrated_gradients",
    baseline: str | BaselineProvider = "zeros",
    output: str = "logit",
    absolute: bool = False,
    **options: Any,
) -> tuple[np.ndarray, dict[str, Any]]:
    """Attribution ``[12, n]`` at the model's input (zero on leads not explained) and its details."""
    if method not in METHODS:
        raise ValueError(f"unknown attribution method {method!r}; choose from {', '.join(METHODS)}")
    if output not in OUTPUTS:
        raise ValueError(f"output must be one of {OUTPUTS}, got {output!r}")
    options = _options(method, options)
    k = resolve_class(target)
    provider = resolve_baseline(baseline)
    device = device_of(model)
    reference = provider(inp.x, inp.mask, inp.fs)
    if reference.ndim != 3 or reference.shape[1:] != inp.x.shape:
        raise ValueError(
            f"baseline {provider.name!r} gave shape {reference.shape}, expected [k, 12, {inp.samples}]"
        )
    rows = np.flatnonzero(inp.mask)
    x = torch.from_numpy(inp.x[rows]).unsqueeze(0).to(device)
    if method in _GRADIENT_METHODS:
        x.requires_grad_()  # Captum would set it itself, with a warning
    baselines = torch.from_numpy(np.ascontiguousarray(reference[:, rows])).to(device)
    scorer = ClassScore(model, inp.mask, probability=output == "probability")
    with eval_mode(model):
        values, info = _attribute(method, scorer, model, x, baselines, k, inp.fs, options)
        uses_baseline = method not in _GRADIENT_ONLY
        if uses_baseline:
            with torch.no_grad():
                scores = scorer(torch.cat([x.detach(), baselines]))[:, k]
        else:  # the method's one forward pass was on the record itself
            scores = scorer.last_scores[:, k]
    full = np.zeros((len(LEADS), inp.samples))
    full[rows] = np.abs(values) if absolute else values
    info.update(
        {
            "method": method,
            "class": ABBREVIATIONS[k],
            "class_index": k,
            "output": output,
            "score": scores[0].item(),
            "baseline": provider.name if uses_baseline else None,
            "absolute": absolute,
            "options": options,
        }
    )
    if uses_baseline:
        info["score_difference"] = (scores[0] - scores[1:].mean()).item()
    return full, info


def attribution_frame(
    model: ModelLike,
    record: Record | str | Path,
    target: int | str,
    method: str = "integrated_gradients",
    leads: LeadsSpec = None,
    baseline: str | BaselineProvider = "zeros",
    output: str = "logit",
    absolute: bool = False,
    **options: Any,
) -> pd.DataFrame:
    """Attribution of one class's score on ``record`` as a frame (see :mod:`explain.frames`).

    ``target`` is a class index, abbreviation or SNOMED CT code. Details (method, class, output,
    baseline, options, convergence delta, score) are in ``frame.attrs``. Values are per-sample
    attributions at the record's rate (when the record's rate differs from the model's, they are
    interpolated and scaled so that each lead's sum is unchanged).
    """
    network, config, _ = unwrap(model)
    inp = prepare_input(record, config, leads)
    values, info = attribution_map(network, inp, target, method, baseline, output, absolute, **options)
    return to_record_frame(values, inp, mass=True, **info)


def attribution_frames(
    model: ModelLike,
    record: Record | str | Path,
    targets: str | Sequence[int | str] = "predicted",
    method: str = "integrated_gradients",
    leads: LeadsSpec = None,
    baseline: str | BaselineProvider = "zeros",
    output: str = "logit",
    absolute: bool = False,
    **options: Any,
) -> dict[str, pd.DataFrame]:
    """One frame per class, keyed by abbreviation; ``targets="predicted"`` takes the classes at or
    above their thresholds (the top class when none is)."""
    network, config, thresholds = unwrap(model)
    inp = prepare_input(record, config, leads)
    if isinstance(targets, str) and targets == "predicted":
        _, probabilities = class_scores(network, inp)
        chosen = predicted_classes(probabilities, thresholds)
    else:
        chosen = [resolve_class(t) for t in ([targets] if isinstance(targets, str | int) else targets)]
    frames = {}
    for k in chosen:
        values, info = attribution_map(network, inp, k, method, baseline, output, absolute, **options)
        frames[ABBREVIATIONS[k]] = to_record_frame(values, inp, mass=True, **info)
    return frames


def lead_importance(
    model: ModelLike,
    records: Iterable[Record | str | Path],
    target: int | str,
    method: str = "feature_ablation",
    baseline: str | BaselineProvider = "zeros",
    output: str = "logit",
    **options: Any,
) -> pd.DataFrame:
    """Records x leads: each lead's share of the record's absolute attribution for ``target``.

    Rows are records (index ``record``), columns the 12 canonical leads; a row sums to 1 over the
    leads the record has and is NaN for the others. With the default ``feature_ablation`` a lead's
    share is proportional to how much the score changes when the whole lead is replaced by the
    baseline; with other methods, to the mean absolute attribution over the lead's samples.
    """
    network, config, _ = unwrap(model)
    k = resolve_class(target)
    rows, names = [], []
    for record in records:
        inp = prepare_input(record, config)
        values, _ = attribution_map(network, inp, k, method, baseline, output, absolute=True, **options)
        per_lead = np.where(inp.mask, values.mean(axis=1), np.nan)
        total = np.nansum(per_lead)
        rows.append(per_lead / total if total > 0 else np.where(inp.mask, 0.0, np.nan))
        names.append(inp.record.name)
    if not rows:
        raise ValueError("lead_importance needs at least one record")
    table = pd.DataFrame(np.array(rows), index=pd.Index(names, name="record"), columns=list(LEADS))
    table.attrs.update({"method": method, "class": ABBREVIATIONS[k], "output": output})
    return table
