"""Everything about one record's explanation, written to a folder.

``predictions.json`` holds the record's class scores (the whole record, scored by the checkpoint's
:class:`leadattn.inference.Predictor` exactly as evaluation scores it), the thresholds of the explained
lead subset, the predicted classes, the classes explained and, per map, its file names and details
(method, class, output, baseline, IntegratedGradients' convergence delta...) and, with a cluster file,
the record's clusters (view, blocks, names, proportions per lead, mean entropy). Each map is a CSV (and
a Parquet file when pyarrow, the ``tables`` extra, is installed) named ``<method>_<class>``
(``attention`` for attention, which does not depend on the class), and a figure in each asked format
when pmecg is installed; clusters add ``clusters`` (cluster id per sample), ``cluster_entropy``,
``cluster_proportions`` and the ``clusters`` figure (:mod:`explain.clusters`).
"""

from __future__ import annotations

import importlib.util
import json
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from tqdm import tqdm

from explain.attribution import ConvergenceWarning
from explain.clusters import ClusterModel, plot_clusters, record_clusters
from explain.explainer import EXPLAINERS, Explainer, explainer_class, make_explainers
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
from explain.plotting import FORMATS, INSTALL_HINT, Sheet, plot, plotting_available, save_figure
from leadattn.checkpoint import load_model
from leadattn.data import Record
from leadattn.labels import ABBREVIATIONS


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


def check_output_folder(out_dir: str | Path) -> Path:
    """``out_dir`` as a path; ``ValueError`` when it, or a folder above it, is an existing file.

    Called before any work starts, so that a wrong ``--out`` costs nothing.
    """
    out = Path(out_dir)
    for path in (out, *out.parents):
        if path.exists():
            if not path.is_dir():
                what = "the output folder" if path == out else f"the output folder {out} is inside"
                raise ValueError(f"{path} is an existing file, not a folder: {what} must be a folder")
            break
    return out


def _create(out: Path) -> None:
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ValueError(f"cannot create the output folder {out}: {error.strerror or error}") from None


def _map_name(explainer: Explainer, k: int | None) -> str:
    return explainer.name if k is None else f"{explainer.name}_{ABBREVIATIONS[k]}"


def export_record(
    model: ModelLike | str | Path,
    record: Record | str | Path,
    out_dir: str | Path,
    methods: Sequence[str | Explainer] = ("attention", "integrated_gradients"),
    classes: str | Sequence[int | str] = "predicted",
    leads: LeadsSpec = None,
    formats: Sequence[str] = ("png",),
    settings: Mapping[str, Any] | None = None,
    style: str = "interval",
    layout: str = "4x3",
    seconds: float | None = 10.0,
    smooth_seconds: float | None = None,
    clusters: ClusterModel | str | Path | None = None,
    progress: bool = False,
) -> ExportResult:
    """Explain ``record`` with every method in ``methods`` for ``classes`` and write the results.

    ``model`` is a checkpoint path, a :class:`~leadattn.checkpoint.LoadedModel` or a bare network.
    ``methods`` are names from :data:`~explain.explainer.EXPLAINERS`, built with the ``settings``
    each takes (``baseline``, ``output``, ``aggregate``, ``n_steps``...), or explainers built on
    the same model. ``classes="predicted"`` explains the classes at or above their thresholds
    (the top class when none is). ``formats`` are figure formats; pass ``()`` for no figures;
    figures show ``seconds`` of the record, maps smoothed over ``smooth_seconds`` (tables are never
    smoothed). A map that does not depend on the class (attention) is written once, the others
    once per class. ``clusters`` (a :class:`~explain.clusters.ClusterModel` or its file, fitted on
    this checkpoint) adds the record's cluster frames, proportions and figure. The output folder
    is checked and created before any work starts.
    """
    bad_formats = [f for f in formats if f not in FORMATS]
    if bad_formats:
        raise ValueError(
            f"unknown figure format(s) {', '.join(bad_formats)}; choose from {', '.join(FORMATS)}"
        )
    if seconds is not None and seconds <= 0:
        raise ValueError(f"the plotted window must be positive, got {seconds} s")
    if smooth_seconds is not None and smooth_seconds <= 0:
        raise ValueError(f"the smoothing window must be positive, got {smooth_seconds} s")
    chosen = None
    if not (isinstance(classes, str) and classes == "predicted"):
        chosen = [resolve_class(c) for c in ([classes] if isinstance(classes, str | int) else classes)]
        if not chosen:
            raise ValueError("no class chosen: name classes (AF,PVC) or ask for 'predicted'")
    names = [m for m in methods if isinstance(m, str)]
    for name in names:
        explainer_class(name)
    out = check_output_folder(out_dir)
    if isinstance(clusters, str | Path):
        clusters = ClusterModel.load(clusters)
    loaded = load_model(model) if isinstance(model, str | Path) else model
    network, config = unwrap(loaded)
    built = iter(make_explainers(names, loaded, settings) if names else [])
    explainers = [next(built) if isinstance(m, str) else m for m in methods]
    if not explainers:
        raise ValueError(f"no explanation method chosen; choose from {', '.join(EXPLAINERS)}")
    for explainer in explainers:
        if explainer.model is not network:
            raise ValueError(
                f"the {explainer.name} explainer was built on another model than the one exported"
            )
    names_seen = [e.name for e in explainers]
    twice = sorted({n for n in names_seen if names_seen.count(n) > 1})
    if twice:
        raise ValueError(f"method(s) {', '.join(twice)} given twice: their files would overwrite each other")
    record = as_record(record)
    inp = prepare_input(record, config, leads)

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
    sheet = Sheet(layout=layout, rhythm_strip="II" if "II" in inp.leads else inp.leads[0], seconds=seconds)

    _create(out)
    jobs = [(e, None) for e in explainers if not e.per_class]
    jobs += [(e, k) for e in explainers if e.per_class for k in targets]
    result = ExportResult(out, {})
    maps: list[dict[str, Any]] = []
    for explainer, k in tqdm(jobs, desc=f"explaining {record.name}", disable=not progress):
        name = _map_name(explainer, k)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ConvergenceWarning)
            values, info = explainer.attribute(inp, k)
        for caught_warning in caught:
            if issubclass(caught_warning.category, ConvergenceWarning):
                notes.append(f"{name}: {caught_warning.message}")
            else:  # not ours to handle: pass it on
                warnings.warn(caught_warning.message, caught_warning.category, stacklevel=2)
        frame = to_record_frame(values, inp, mass=True, **info)
        tables = _write_table(frame, out / name)
        entry = {"name": name, **info, "files": [p.name for p in tables]}
        result.tables += tables
        if draw:
            try:
                figure = plot(record, frame, style, sheet, smooth_seconds=smooth_seconds, predictions=top)
            except EmptyMapError as error:
                notes.append(f"{name}: figure skipped ({error})")
            else:
                figures = save_figure(figure, out / name, formats)
                result.figures += figures
                entry["files"] += [p.name for p in figures]
        maps.append(entry)

    cluster_info = None
    if clusters is not None:
        found = record_clusters(loaded, clusters, record, leads)
        cluster_info = {
            "view": clusters.view,
            "blocks": list(clusters.blocks),
            "names": found.names,
            "proportions": found.proportions.dropna().to_dict("index"),
            "mean_entropy": float(np.nanmean(found.entropy.to_numpy())),
            "files": [],
        }
        for name, frame in (
            ("clusters", found.ids),
            ("cluster_entropy", found.entropy),
            ("cluster_proportions", found.proportions),
        ):
            tables = _write_table(frame, out / name)
            result.tables += tables
            cluster_info["files"] += [p.name for p in tables]
        if draw:
            figure = plot_clusters(record, found, sheet, predictions=top)
            figures = save_figure(figure, out / "clusters", formats)
            result.figures += figures
            cluster_info["files"] += [p.name for p in figures]

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
        "clusters": cluster_info,
        "notes": notes,
    }
    result.predictions = _jsonable(predictions)
    (out / "predictions.json").write_text(json.dumps(result.predictions, indent=2) + "\n", encoding="utf-8")
    result.notes = notes
    return result
