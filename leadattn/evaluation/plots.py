"""Figures of an evaluation: per-class ROC and precision-recall curves, per-class F-measure bars.

Pure functions from arrays to matplotlib figures, built without pyplot (no display, no global figure
state); the report saves them. Curves are the challenge's threshold walk
(:func:`leadattn.metrics.curve`), one line per lead subset. Only classes that can be scored get a
panel or a bar (a class without positives has no curve); the figure names the classes left out.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from leadattn import metrics
from leadattn.labels import ABBREVIATIONS, NUM_CLASSES

_COLUMNS = 6


def _left_out(classes: list[int], why: str) -> str:
    return f"left out ({why}): {', '.join(ABBREVIATIONS[k] for k in classes)}" if classes else ""


def _grid(title: str, panels: int, note: str) -> tuple[Figure, np.ndarray]:
    columns = min(_COLUMNS, max(panels, 1))
    rows = max(1, -(-panels // columns))
    height = 2.3 * rows + 1.1
    fig = Figure(figsize=(max(2.4 * columns, 7.0), height))
    axes = fig.subplots(rows, columns, squeeze=False, sharex=True, sharey=True)
    fig.subplots_adjust(
        left=0.06, right=0.99, bottom=0.75 / height, top=1 - 0.5 / height, wspace=0.12, hspace=0.3
    )
    for ax in axes.flat[panels:]:
        ax.set_visible(False)
    for ax in axes.flat[:panels]:
        ax.set_xticks([0, 0.5, 1], ["0", "0.5", "1"])
        ax.set_yticks([0, 0.5, 1], ["0", "0.5", "1"])
        ax.tick_params(labelsize=7, labelbottom=True)
    fig.suptitle(title, fontsize=10, x=0.01, ha="left")
    if note:
        fig.text(0.01, 0.01, note, fontsize=8, ha="left", va="bottom", wrap=True)
    return fig, axes.flat


def _curve_grid(labels: Mapping[str, np.ndarray], scores: Mapping[str, np.ndarray], roc: bool) -> Figure:
    for name, s in scores.items():
        if name not in labels or np.shape(s) != np.shape(labels[name]) or np.shape(s)[1:] != (NUM_CLASSES,):
            raise ValueError(
                f"scores of subset {name} have shape {np.shape(s)}; labels must match, 26 classes"
            )
    what = "ROC" if roc else "Precision-recall"
    headline = next(iter(scores), None)
    truth = labels[headline] if headline is not None else np.zeros((0, NUM_CLASSES), dtype=bool)
    positives = np.asarray(truth, dtype=bool).sum(axis=0)
    scorable = (positives > 0) & ((len(truth) - positives > 0) if roc else True)
    shown = np.flatnonzero(scorable).tolist()
    hidden = [k for k in range(NUM_CLASSES) if k not in shown]
    fig, axes = _grid(
        f"{what} curves per class (title: class, positives, {'AUROC' if roc else 'AUPRC'} "
        f"of the {headline}-lead subset)",
        len(shown),
        _left_out(hidden, "no positives" + (" or no negatives" if roc else "")),
    )
    for panel, (k, ax) in enumerate(zip(shown, axes)):
        area = float("nan")
        for colour, (name, s) in enumerate(scores.items()):
            c = metrics.curve(labels[name][:, k], s[:, k])
            if c.positives == 0 or (roc and c.negatives == 0):
                continue
            if name == headline:
                area = c.areas()[0 if roc else 1]
            if roc:
                ax.plot(1.0 - c.tnr, c.tpr, lw=1.0, color=f"C{colour}")
            else:
                precision = c.ppv
                precision[0] = precision[1]  # from recall 0 to the first step, the first step's precision
                ax.step(c.tpr, precision, where="pre", lw=1.0, color=f"C{colour}")
        if roc:
            ax.plot([0, 1], [0, 1], color="0.8", lw=0.6, ls="--")
        support = int(labels[headline][:, k].sum()) if headline is not None else 0
        value = "undefined" if np.isnan(area) else f"{area:.2f}"
        ax.set_title(f"{ABBREVIATIONS[k]}  n={support}  {value}", fontsize=9, pad=3)
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1.02)
        if panel % _COLUMNS == 0:
            ax.set_ylabel("sensitivity" if roc else "precision", fontsize=8)
        if panel >= len(shown) - _COLUMNS:
            ax.set_xlabel("1 - specificity" if roc else "recall", fontsize=8)
    handles = [Line2D([], [], color=f"C{i}", lw=1.5) for i in range(len(scores))]
    fig.legend(
        handles,
        [f"{name} leads" for name in scores],
        loc="upper right",
        ncols=len(scores),
        fontsize=8,
        frameon=False,
        bbox_to_anchor=(0.995, 0.995),
    )
    return fig


def roc_curves(labels: Mapping[str, np.ndarray], scores: Mapping[str, np.ndarray]) -> Figure:
    """One ROC panel per class (sensitivity against 1 - specificity), one colour per lead subset.

    ``labels`` and ``scores`` map a subset name to [records, 26] arrays; the first subset is the
    headline, whose AUROC is in each panel's title. A class without positives or negatives has no
    curve and no panel; the figure lists the classes left out.
    """
    return _curve_grid(labels, scores, roc=True)


def pr_curves(labels: Mapping[str, np.ndarray], scores: Mapping[str, np.ndarray]) -> Figure:
    """One precision-recall panel per class, drawn as the steps the challenge integrates."""
    return _curve_grid(labels, scores, roc=False)


def f_measure_bars(f_measures: Mapping[str, np.ndarray], support: np.ndarray | None = None) -> Figure:
    """Grouped bars of per-class F-measure, one colour per lead subset, for the classes with
    positives (``support`` > 0; without ``support``, those with a defined F-measure in some subset);
    the figure lists the classes left out."""
    for name, values in f_measures.items():
        if np.shape(values) != (NUM_CLASSES,):
            raise ValueError(f"F-measures of subset {name} have shape {np.shape(values)}")
    if support is not None:
        shown = np.flatnonzero(np.asarray(support) > 0)
    else:
        defined = [np.isfinite(np.asarray(v, dtype=np.float64)) for v in f_measures.values()]
        shown = np.flatnonzero(np.any(defined, axis=0)) if defined else np.arange(0)
    hidden = [k for k in range(NUM_CLASSES) if k not in set(shown.tolist())]
    fig = Figure(figsize=(max(4.0, 0.55 * len(shown) + 1.5), 4.5))
    ax = fig.subplots()
    width = 0.8 / max(len(f_measures), 1)
    x = np.arange(len(shown))
    for i, (name, values) in enumerate(f_measures.items()):
        offset = (i - (len(f_measures) - 1) / 2) * width
        heights = np.nan_to_num(np.asarray(values, dtype=np.float64)[shown])
        ax.bar(x + offset, heights, width, label=f"{name} leads")
    names = [ABBREVIATIONS[k] for k in shown]
    ticks = names if support is None else [f"{a}\n{int(support[k])}" for a, k in zip(names, shown)]
    ax.set_xticks(x, ticks, fontsize=7, rotation=0 if support is not None else 45)
    ax.set_ylim(0, 1)
    ax.set_ylabel("F-measure")
    ax.set_title("F-measure per class" + ("" if support is None else " (tick: class, positives)"))
    note = _left_out(hidden, "no positives" if support is not None else "F-measure undefined")
    if note:
        fig.text(0.01, 0.01, note, fontsize=8, ha="left", va="bottom", wrap=True)
    ax.legend(fontsize=8, ncols=len(f_measures))
    ax.grid(axis="y", color="0.9")
    ax.set_axisbelow(True)
    fig.subplots_adjust(left=0.08, right=0.99, bottom=0.2, top=0.9)
    return fig
