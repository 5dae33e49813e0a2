"""Figures of an evaluation: per-class ROC and precision-recall curves, per-class F-measure bars.

Pure functions from arrays to matplotlib figures, built without pyplot (no display, no global figure
state); the report saves them. Curves are the challenge's threshold walk
(:func:`leadattn.metrics.curve`), one line per lead subset.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from matplotlib.figure import Figure

from leadattn import metrics
from leadattn.labels import ABBREVIATIONS, NUM_CLASSES

_COLUMNS = 6


def _grid(title: str) -> tuple[Figure, np.ndarray]:
    rows = -(-NUM_CLASSES // _COLUMNS)
    fig = Figure(figsize=(2.4 * _COLUMNS, 2.3 * rows))
    axes = fig.subplots(rows, _COLUMNS, squeeze=False, sharex=True, sharey=True)
    fig.subplots_adjust(left=0.05, right=0.99, bottom=0.05, top=0.94, wspace=0.12, hspace=0.25)
    for ax in axes.flat[NUM_CLASSES:]:
        ax.set_visible(False)
    for ax in axes.flat[:NUM_CLASSES]:
        ax.set_xticks([0, 0.5, 1], ["0", "0.5", "1"])
        ax.set_yticks([0, 0.5, 1], ["0", "0.5", "1"])
        ax.tick_params(labelsize=7, labelbottom=True)
    fig.suptitle(title)
    return fig, axes.flat


def _check(labels: np.ndarray, scores: Mapping[str, np.ndarray]) -> None:
    for name, s in scores.items():
        if np.shape(s) != np.shape(labels) or np.shape(labels)[1:] != (NUM_CLASSES,):
            raise ValueError(f"scores of subset {name} have shape {np.shape(s)}, labels {np.shape(labels)}")


def roc_curves(labels: Mapping[str, np.ndarray], scores: Mapping[str, np.ndarray]) -> Figure:
    """One ROC panel per class (sensitivity against 1 - specificity), one line per lead subset.

    ``labels`` and ``scores`` map a subset name to [records, 26] arrays.
    """
    fig, axes = _grid("ROC curves per class (legend: lead subset, AUROC)")
    for name in scores:
        _check(labels[name], {name: scores[name]})
    for k, ax in enumerate(axes[:NUM_CLASSES]):
        for name, s in scores.items():
            c = metrics.curve(labels[name][:, k], s[:, k])
            if c.positives == 0 or c.negatives == 0:
                continue
            ax.plot(1.0 - c.tnr, c.tpr, lw=1.0, label=f"{name}: {c.areas()[0]:.2f}")
        ax.plot([0, 1], [0, 1], color="0.8", lw=0.6, ls="--")
        _decorate(ax, k, labels, "1 - specificity", "sensitivity")
    return fig


def pr_curves(labels: Mapping[str, np.ndarray], scores: Mapping[str, np.ndarray]) -> Figure:
    """One precision-recall panel per class (steps, as the challenge integrates), one line per subset."""
    fig, axes = _grid("Precision-recall curves per class (legend: lead subset, AUPRC)")
    for name in scores:
        _check(labels[name], {name: scores[name]})
    for k, ax in enumerate(axes[:NUM_CLASSES]):
        for name, s in scores.items():
            c = metrics.curve(labels[name][:, k], s[:, k])
            if c.positives == 0:
                continue
            precision = c.ppv
            precision[0] = precision[1]  # the first step, from recall 0, has the precision of step 1
            ax.step(c.tpr, precision, where="pre", lw=1.0, label=f"{name}: {c.areas()[1]:.2f}")
        _decorate(ax, k, labels, "recall", "precision")
    return fig


def _decorate(ax, k: int, labels: Mapping[str, np.ndarray], xlabel: str, ylabel: str) -> None:
    support = int(next(iter(labels.values()))[:, k].sum()) if labels else 0
    ax.set_title(f"{ABBREVIATIONS[k]} (n={support})", fontsize=9, pad=3)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    if k % _COLUMNS == 0:
        ax.set_ylabel(ylabel, fontsize=8)
    if k >= NUM_CLASSES - _COLUMNS:
        ax.set_xlabel(xlabel, fontsize=8)
    if ax.lines and any(line.get_label()[:1] != "_" for line in ax.lines):
        ax.legend(fontsize=6, loc="lower right" if xlabel != "recall" else "lower left")
    else:
        ax.text(0.5, 0.5, "undefined\n(no positives or negatives)", ha="center", va="center", fontsize=7)


def f_measure_bars(f_measures: Mapping[str, np.ndarray], support: np.ndarray | None = None) -> Figure:
    """Grouped bars of per-class F-measure, one colour per lead subset; NaN classes are left empty."""
    for name, values in f_measures.items():
        if np.shape(values) != (NUM_CLASSES,):
            raise ValueError(f"F-measures of subset {name} have shape {np.shape(values)}")
    fig = Figure(figsize=(14, 4.5))
    ax = fig.subplots()
    width = 0.8 / max(len(f_measures), 1)
    x = np.arange(NUM_CLASSES)
    for i, (name, values) in enumerate(f_measures.items()):
        offset = (i - (len(f_measures) - 1) / 2) * width
        heights = np.nan_to_num(np.asarray(values, dtype=np.float64))
        ax.bar(x + offset, heights, width, label=f"{name} leads")
    ticks = ABBREVIATIONS if support is None else [f"{a}\n{int(n)}" for a, n in zip(ABBREVIATIONS, support)]
    ax.set_xticks(x, ticks, fontsize=7, rotation=0 if support is not None else 45)
    ax.set_ylim(0, 1)
    ax.set_ylabel("F-measure")
    ax.set_title("F-measure per class" + ("" if support is None else " (tick: class, positives)"))
    ax.legend(fontsize=8, ncols=len(f_measures))
    ax.grid(axis="y", color="0.9")
    ax.set_axisbelow(True)
    fig.subplots_adjust(left=0.05, right=0.99, bottom=0.15, top=0.92)
    return fig
