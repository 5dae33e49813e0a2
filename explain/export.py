"""Everything about one record's explanation, written to a folder.

``predictions.json`` holds the record's class scores (the whole record, scored by the checkpoint's
:class:`leadattn.inference.Predictor` exactly as evaluation scores it), the thresholds of the explained
lead subset, the predicted classes, the classes explained and, per map, its file names and details
(method, class, output, baseline, IntegratedGradients' convergence delta...). Each map is a CSV (and a
Parquet file when pyarrow, the ``tables`` extra, is installed) named ``<method>_<class>`` (``attention``
for attention, which does not depend on the class), and a figure in each asked format when pmecg is
installed.
"""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from tqdm import tqdm

from explain.attention import attention_map, check_aggregate
from explain.attribution import METHODS, attribution_map
from explain.baselines import BaselineProvider, resolve_baseline
from explain.frames import to_record_frame
from explain.inputs import (
    LeadsSpec,
    ModelLike,
    as_predictor,
    as_record,
    class_scores,
    predicted_classes,
    prepare_input,
    resolve_class,
    unwrap,
)
from explain.normalise import EmptyMapError
from explain.plotting import FORMATS, INSTALL_HINT, plot, plotting_available, save_figure
from leadattn.checkpoint import load_model
from leadattn.data import Record
from leadattn.labels import ABBREVIATIONS

EXPLAIN_METHODS = ("attention", *METHODS)


@dataclass
class ExportResult:
    """What :func:`export_record` wrote: the predictions it saved, tables, figures and notes."""

    directory: Path
    predictions: dict[str, Any]
    tables: list[Path] = field(default_factory=list)
    figures: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


def _write_table(frame: pd.DataFrame, stem: Path) -> list[Path]:
    paths = [stem.with_suffix(".csv")]
    frame.to_csv(paths[0], float_format="%.7g")
    if importlib.util.find_spec("pyarrow") is not None:
        paths.append(stem.with_suffix(".parquet"))
        plain = frame.copy()
        plain.attrs = {}
        plain.to_parquet(paths[1])
    return paths


def export_record(
    model: ModelLike | str | Path,
    record: Record | str | Path,
    out_dir: str | Path,
    methods: Sequence[str] = ("attention", "integrated_gradients"),
    classes: str | Sequence[int | str] = "predicted",
    leads: LeadsSpec = None,
    formats: Sequence[str] = ("png",),
    baseline: str | BaselineProvider = "zeros",
    output: str = "logit",
    aggregate: str = "mean",
    style: str = "interval",
    layout: str = "4x3",
    seconds: float | None = 10.0,
    smooth_seconds: float | None = None,
    n_steps: int = 32,
    progress: bool = False,
) -> ExportResult:
    """Explain ``record`` with every method in ``methods`` for ``classes`` and write the results.

    ``model`` is a checkpoint path, a :class:`~leadattn.checkpoint.LoadedModel` or a bare network.
    ``classes="predicted"`` explains the classes at or above their thresholds (the top class when
    none is). ``formats`` are figure formats; pass ``()`` for no figures; figures show ``seconds``
    of the record, maps smoothed over ``smooth_seconds`` (tables are never smoothed). Attention is
    written once (``aggregate``), attributions once per class. ``n_steps`` is IntegratedGradients'.
    """
    unknown = [m for m in methods if m not in EXPLAIN_METHODS]
    if unknown or not methods:
        raise ValueError(
            f"unknown method(s) {', '.join(unknown) or '(none)'}; choose from {', '.join(EXPLAIN_METHODS)}"
        )
    bad_formats = [f for f in formats if f not in FORMATS]
    if bad_formats:
        raise ValueError(
            f"unknown figure format(s) {', '.join(bad_formats)}; choose from {', '.join(FORMATS)}"
        )
    if "attention" in methods:
        check_aggregate(aggregate)
    chosen = None
    if not (isinstance(classes, str) and classes == "predicted"):
        chosen = [resolve_class(c) for c in ([classes] if isinstance(classes, str | int) else classes)]
    provider = resolve_baseline(baseline)
    loaded = load_model(model) if isinstance(model, str | Path) else model
    network, config, thresholds = unwrap(loaded)
    record = as_record(record)
    inp = prepare_input(record, config, leads)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)

    predictor = as_predictor(loaded)
    scores = predictor.probabilities([record], [inp.leads])[0, 0]
    thresholds = predictor.thresholds_for(inp.mask)
    _, explained_scores = class_scores(network, inp)
    predicted = np.flatnonzero(scores >= thresholds).tolist()
    notes: list[str] = []
    targets = chosen if chosen is not None else predicted_classes(scores, thresholds)
    if chosen is None and not predicted:
        top_class = ABBREVIATIONS[targets[0]]
        notes.append(f"no class reached its threshold; explaining the top-scoring class {top_class}")
    if inp.covered < record.signal.shape[1]:
        seen = inp.covered / record.fs
        notes.append(f"maps cover the first {seen:g} s (the checkpoint's max_seconds); later samples are NaN")
    draw = bool(formats) and plotting_available()
    if formats and not draw:
        notes.append(f"figures skipped: {INSTALL_HINT} to get them")
    ranked = [k for k in predicted_classes(scores, thresholds) if k in predicted]
    top = {ABBREVIATIONS[k]: float(scores[k]) for k in ranked}

    jobs = [(m, None) for m in methods if m == "attention"]
    jobs += [(m, k) for m in methods if m != "attention" for k in targets]
    result = ExportResult(out, {})
    maps: list[dict[str, Any]] = []
    for method, k in tqdm(jobs, desc=f"explaining {record.name}", disable=not progress):
        if method == "attention":
            values = attention_map(network, inp, aggregate)
            info: dict[str, Any] = {"method": "attention", "aggregate": aggregate, "polarity": "positive"}
            name = "attention"
        else:
            options = {"n_steps": n_steps} if method == "integrated_gradients" else {}
            values, info = attribution_map(network, inp, k, method, provider, output, **options)
            name = f"{method}_{ABBREVIATIONS[k]}"
        frame = to_record_frame(values, inp, mass=True, **info)
        tables = _write_table(frame, out / name)
        entry = {"name": name, **info, "files": [p.name for p in tables]}
        result.tables += tables
        if draw:
            rhythm = "II" if "II" in inp.leads else inp.leads[0]
            try:
                figure = plot(
                    record,
                    frame,
                    style=style,
                    layout=layout,
                    rhythm_strip=rhythm,
                    seconds=seconds,
                    smooth_seconds=smooth_seconds,
                    predictions=top,
                )
            except EmptyMapError as error:
                notes.append(f"{name}: figure skipped ({error})")
            else:
                figures = save_figure(figure, out / name, formats)
                result.figures += figures
                entry["files"] += [p.name for p in figures]
        maps.append(entry)

    predictions = {
        "record": record.name,
        "fs": float(record.fs),
        "samples": int(record.signal.shape[1]),
        "leads": list(inp.leads),
        "model_fs": float(config.fs),
        "explained_seconds": inp.covered / record.fs,
        "scores": {a: float(s) for a, s in zip(ABBREVIATIONS, scores)},
        "explained_input_scores": {a: float(s) for a, s in zip(ABBREVIATIONS, explained_scores)},
        "thresholds": {a: float(t) for a, t in zip(ABBREVIATIONS, thresholds)},
        "predicted": list(top),
        "explained_classes": [ABBREVIATIONS[k] for k in targets],
        "maps": maps,
        "notes": notes,
    }
    result.predictions = _jsonable(predictions)
    (out / "predictions.json").write_text(json.dumps(result.predictions, indent=2) + "\n", encoding="utf-8")
    result.notes = notes
    return result
