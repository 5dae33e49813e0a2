"""Scoring a predictions table and writing the report: ``report.json``, ``report.md`` and figures.

Every number comes from :mod:`leadattn.metrics`, so it is what the challenge's scorer would report
for the same outputs. Headline metrics carry percentile bootstrap intervals over records.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from leadattn import metrics
from leadattn.evaluation import plots
from leadattn.evaluation.predictions import prediction_arrays
from leadattn.labels import ABBREVIATIONS, scored_classes

METRIC_TITLES = {
    "auroc": "AUROC",
    "auprc": "AUPRC",
    "accuracy": "Accuracy",
    "f_measure": "F-measure",
    "challenge_metric": "Challenge metric",
}
FIGURES = {"roc": "roc_curves.png", "pr": "pr_curves.png", "f_measure": "f_measure.png"}


@dataclass
class SubsetResult:
    """Metrics of one lead subset: overall with intervals, per class and per source data set."""

    subset: str
    records: int
    scores: dict
    intervals: dict[str, tuple[float, float]]
    support: np.ndarray
    by_source: dict[str, dict]


def summarise_subset(frame: pd.DataFrame, subset: str, bootstrap: int = 1000, seed: int = 0) -> SubsetResult:
    """Score the rows of one lead subset; ``bootstrap`` 0 skips the intervals."""
    labels, scores, outputs = prediction_arrays(frame)
    overall = metrics.score(labels, scores, outputs)
    intervals = metrics.bootstrap(labels, scores, outputs, bootstrap, seed) if bootstrap > 0 else {}
    by_source = {}
    for source, rows in frame.groupby("source", sort=True):
        part = metrics.score(*prediction_arrays(rows))
        by_source[str(source)] = {"records": len(rows), **{name: part[name] for name in metrics.HEADLINE}}
    return SubsetResult(subset, len(frame), overall, intervals, labels.sum(axis=0), by_source)


def _finite(value: float) -> float | None:
    value = float(value)
    return value if math.isfinite(value) else None


def _per_class(values: np.ndarray) -> dict[str, float | None]:
    return {a: _finite(v) for a, v in zip(ABBREVIATIONS, values)}


def _number(value: float | None, digits: int = 3) -> str:
    return "n/a" if value is None or not math.isfinite(value) else f"{value:.{digits}f}"


MIN_RECORDS = 30
"""Fewest records of a split whose metrics the report presents without a warning."""
MIN_CLASS_POSITIVES = 10
"""Fewest positives of a class whose per-class figures the report presents without a mark."""


def split_warnings(labels: np.ndarray) -> list[str]:
    """Warnings about a split too small for its figures to mean much: few records, or classes with
    only a handful of positives (their AUROC and F-measure swing with a single record)."""
    found = []
    if labels.shape[0] < MIN_RECORDS:
        found.append(
            f"only {labels.shape[0]} records were scored (fewer than {MIN_RECORDS}): every figure and "
            "interval here is unreliable"
        )
    positives = labels.sum(axis=0)
    few = [ABBREVIATIONS[k] for k in np.flatnonzero((positives > 0) & (positives < MIN_CLASS_POSITIVES))]
    if few:
        found.append(
            f"classes with fewer than {MIN_CLASS_POSITIVES} positives, whose per-class figures are "
            f"unreliable: {', '.join(few)}"
        )
    return found


@dataclass
class Report:
    """An evaluation: settings, skipped records, the predictions table and its metrics per subset.

    ``info`` holds the settings (checkpoint, manifest, data directory, split, thresholds' origin,
    windows, bootstrap); ``results`` maps each subset name to its :class:`SubsetResult`, the first
    being the headline subset.
    """

    info: dict
    thresholds: dict[str, np.ndarray]
    predictions: pd.DataFrame
    results: dict[str, SubsetResult]
    skipped: list[dict] = field(default_factory=list)

    @property
    def headline(self) -> SubsetResult:
        return next(iter(self.results.values()))

    def to_dict(self) -> dict:
        """JSON-ready contents (NaN written as null)."""
        subsets = {}
        for name, result in self.results.items():
            subsets[name] = {
                "records": result.records,
                **{m: _finite(result.scores[m]) for m in metrics.HEADLINE},
                "intervals": {m: [_finite(v) for v in ci] for m, ci in result.intervals.items()},
                "per_class": {
                    "support": {a: int(n) for a, n in zip(ABBREVIATIONS, result.support)},
                    "auroc": _per_class(result.scores["auroc_classes"]),
                    "auprc": _per_class(result.scores["auprc_classes"]),
                    "f_measure": _per_class(result.scores["f_measure_classes"]),
                },
                "by_source": {
                    source: {k: (_finite(v) if k != "records" else v) for k, v in values.items()}
                    for source, values in result.by_source.items()
                },
            }
        return {
            **self.info,
            "records_scored": int(self.headline.records),
            "records_skipped": len(self.skipped),
            "skipped": self.skipped,
            "thresholds": {name: _per_class(values) for name, values in self.thresholds.items()},
            "subsets": subsets,
            "figures": dict(FIGURES),
        }

    def to_markdown(self) -> str:
        """The human-readable report; figures are referenced by the file names :meth:`write` uses."""
        info, head = self.info, self.headline
        confidence = f"{100 * info.get('confidence', 0.95):.0f} %"
        lines = [
            "# Evaluation report",
            "",
            f"- Checkpoint: `{info.get('checkpoint', '')}`",
            f"- Manifest: `{info.get('manifest', '')}`, data directory `{info.get('data_dir', '')}`",
            f"- Split: {info.get('split', '')}; {head.records} records scored, {len(self.skipped)} skipped",
            f"- Thresholds: {info.get('thresholds_source', '')}",
            f"- Inference: windows of {info.get('window_seconds')} s every {info.get('hop_seconds')} s, "
            f"window probabilities combined by {info.get('combine')}",
            f"- Intervals: {confidence} percentile bootstrap over records, "
            f"{info.get('bootstrap', 0)} resamples (seed {info.get('seed', 0)})",
            "",
            *[f"- **Warning**: {text}" for text in info.get("warnings", [])],
            *(
                [
                    f"- Thresholds not tuned (too few validation positives), kept at 0.5: "
                    f"{', '.join(info['threshold_fallback'])}"
                ]
                if info.get("threshold_fallback")
                else []
            ),
            "",
            f"## Headline metrics ({head.subset} leads)",
            "",
            f"| metric | value | {confidence} interval |",
            "|---|---|---|",
        ]
        for name in metrics.HEADLINE:
            low, high = head.intervals.get(name, (float("nan"), float("nan")))
            interval = f"{_number(low)} - {_number(high)}" if head.intervals else "not computed"
            lines.append(f"| {METRIC_TITLES[name]} | {_number(head.scores[name])} | {interval} |")
        lines += ["", "## By lead subset", "", _table_header(["leads", "records"]), _table_rule(7)]
        for name, result in self.results.items():
            lines.append(_metric_row([name, str(result.records)], result.scores, result.intervals))
        lines += ["", f"Intervals in brackets ({confidence}).", ""]
        lines += [f"## By source ({head.subset} leads)", ""]
        lines += [_table_header(["source", "records"]), _table_rule(7)]
        for source, values in head.by_source.items():
            lines.append(_metric_row([source, str(values["records"])], values, {}))
        lines += [
            "",
            f"## Per class ({head.subset} leads)",
            "",
            "| class | name | support | AUROC | AUPRC | F-measure | threshold |",
            "|---|---|---|---|---|---|---|",
        ]
        thresholds = self.thresholds[head.subset]
        for k, c in enumerate(scored_classes()):
            few = " (few)" if 0 < head.support[k] < MIN_CLASS_POSITIVES else ""
            lines.append(
                f"| {c.abbreviation} | {c.name} | {int(head.support[k])}{few} "
                f"| {_number(head.scores['auroc_classes'][k])} | {_number(head.scores['auprc_classes'][k])} "
                f"| {_number(head.scores['f_measure_classes'][k])} | {_number(thresholds[k], 4)} |"
            )
        lines += [
            "",
            "n/a: undefined for these records (AUROC needs positives and negatives, AUPRC positives, "
            "F-measure a positive label or output); macro values average the defined classes.",
            "",
            "## Figures",
            "",
            f"![ROC curves per class]({FIGURES['roc']})",
            "",
            f"![Precision-recall curves per class]({FIGURES['pr']})",
            "",
            f"![F-measure per class]({FIGURES['f_measure']})",
            "",
            "## Skipped records",
            "",
        ]
        if self.skipped:
            lines += ["| record | problem | message |", "|---|---|---|"]
            lines += [f"| {s['name']} | {s['kind']} | {s['message']} |" for s in self.skipped]
        else:
            lines.append("None.")
        return "\n".join(lines) + "\n"

    def figures(self) -> dict[str, object]:
        """The report's figures, keyed as :data:`FIGURES`."""
        labels, scores, f_measures = {}, {}, {}
        for name, result in self.results.items():
            rows = self.predictions[self.predictions["subset"] == name]
            labels[name], scores[name], _ = prediction_arrays(rows)
            f_measures[name] = result.scores["f_measure_classes"]
        return {
            "roc": plots.roc_curves(labels, scores),
            "pr": plots.pr_curves(labels, scores),
            "f_measure": plots.f_measure_bars(f_measures, self.headline.support),
        }

    def write(self, out_dir: str | Path) -> dict[str, Path]:
        """Write ``predictions.csv``, ``report.json``, the figures and ``report.md`` into ``out_dir``."""
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        paths = {"predictions": out_dir / "predictions.csv", "json": out_dir / "report.json"}
        self.predictions.to_csv(paths["predictions"], index=False)
        paths["json"].write_text(json.dumps(self.to_dict(), indent=2) + "\n")
        for key, fig in self.figures().items():
            paths[key] = out_dir / FIGURES[key]
            fig.savefig(paths[key], dpi=110)
        paths["markdown"] = out_dir / "report.md"
        paths["markdown"].write_text(self.to_markdown())
        return paths


def _table_header(first: list[str]) -> str:
    return "| " + " | ".join(first + [METRIC_TITLES[m] for m in metrics.HEADLINE]) + " |"


def _table_rule(columns: int) -> str:
    return "|" + "---|" * columns


def _metric_row(first: list[str], values: dict, intervals: dict) -> str:
    cells = []
    for name in metrics.HEADLINE:
        cell = _number(values[name])
        if name in intervals:
            low, high = intervals[name]
            cell += f" [{_number(low)}, {_number(high)}]"
        cells.append(cell)
    return "| " + " | ".join(first + cells) + " |"


def summarise(predictions: pd.DataFrame, bootstrap: int = 1000, seed: int = 0) -> dict[str, SubsetResult]:
    """Score every lead subset of a predictions table, in the order the subsets first appear."""
    if predictions.empty:
        raise ValueError("the predictions table is empty")
    return {
        str(name): summarise_subset(rows, str(name), bootstrap, seed)
        for name, rows in predictions.groupby("subset", sort=False)
    }
