"""Figures of clusters: the record on ECG paper with every lead's background coloured by its cluster
and the assignment entropy as a band under the trace; proportions per class; the K sweep.

The paper figure uses the layouts of :mod:`explain.plotting` (pmecg, the optional ``plot`` extra):
the clusters are drawn by a pmecg overlay style of their own (pmecg's overlays scale one number per
sample; here each sample has a category and an entropy). Cluster colours are those of
:func:`cluster_colours` in every figure, so a legend names the same cluster everywhere.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from explain.clusters.assign import POOLED_COLUMN, RecordClusters
from explain.inputs import as_record
from explain.plotting import Sheet, _detach, _draw_paper, _paper_trace, _pmecg
from leadattn.data import Record

_ALPHA = 0.35
_ENTROPY_COLOUR = (0.25, 0.25, 0.25, 0.55)
_ENTROPY_HEIGHT = 0.35  # share of a row's half height drawn for entropy 1


def cluster_colours(k: int) -> list[tuple[float, float, float, float]]:
    """A categorical colour per cluster (matplotlib's tab10, tab20 beyond ten clusters)."""
    from matplotlib import colormaps

    palette = colormaps["tab10" if k <= 10 else "tab20"]
    return [palette(i % palette.N) for i in range(k)]


def _overlay_class(pmecg: Any) -> type:
    from matplotlib.collections import PolyCollection

    class ClusterBackground(pmecg.AbstractAttentionMap):
        """Row backgrounds coloured by cluster, with the entropy as a grey band at the row's foot.

        The values handed to pmecg are sample positions ``(lead * W + sample + 1) / (leads * W + 1)``
        (all in (0, 1], so pmecg leaves them unscaled); the overlay looks up the cluster and
        entropy of each position.
        """

        def __init__(self, codes: pd.DataFrame, ids: np.ndarray, entropy: np.ndarray, colours, strip):
            super().__init__(codes, polarity="positive", show_colormap=False, rhythm_strips_attention=strip)
            self.ids, self.entropy, self.colours = ids, entropy, colours
            self.denominator = ids.size + 1

        @property
        def shows_color_scale(self) -> bool:
            return False

        def _rgba_for_value(self, value: float) -> tuple[float, ...]:
            return (0.0, 0.0, 0.0, 0.0)

        def build_artists(self, ax, x, y, attention_values, y_offset, row_half_height_inches, *_):
            flat = np.rint(np.asarray(attention_values) * self.denominator).astype(np.int64) - 1
            valid = (flat >= 0) & (flat < self.ids.size)
            ids = np.where(valid, self.ids.ravel()[np.clip(flat, 0, self.ids.size - 1)], -1)
            entropy = np.where(valid, self.entropy.ravel()[np.clip(flat, 0, self.ids.size - 1)], np.nan)
            bottom, top = y_offset - row_half_height_inches, y_offset + row_half_height_inches
            step = np.diff(x).mean() if len(x) > 1 else 0.0
            edges = np.append(x, x[-1] + step) - step / 2
            boxes, colours = [], []
            cuts = np.flatnonzero(np.diff(ids)) + 1
            for start, stop in zip(np.r_[0, cuts], np.r_[cuts, len(ids)]):
                if ids[start] >= 0:
                    boxes.append(
                        [
                            (edges[start], bottom),
                            (edges[stop], bottom),
                            (edges[stop], top),
                            (edges[start], top),
                        ]
                    )
                    colours.append((*self.colours[ids[start]][:3], _ALPHA))
            artists = [PolyCollection(boxes, facecolors=colours, edgecolors="none", zorder=1)]
            height = np.nan_to_num(entropy) * _ENTROPY_HEIGHT * row_half_height_inches
            band = np.r_[np.c_[x, bottom + height], np.c_[x[::-1], np.full(len(x), bottom)]]
            artists.append(PolyCollection([band], facecolors=[_ENTROPY_COLOUR], edgecolors="none", zorder=2))
            return artists

    return ClusterBackground


def plot_clusters(
    record: Record | str | Path,
    clusters: RecordClusters,
    sheet: Sheet | None = None,
    predictions: Mapping[str, float] | None = None,
    title: str | None = None,
) -> Any:
    """Draw ``record`` with its clusters (:func:`explain.clusters.record_clusters`); returns the figure.

    Per-lead clusters colour each lead's own background; per-timestamp clusters colour every lead
    alike. The grey band at the foot of each row is the normalised entropy (full band: 1). ``sheet``
    (default :class:`explain.plotting.Sheet`) sets what of the record the figure shows.
    """
    record, sheet = as_record(record), sheet or Sheet()
    ids_frame, entropy_frame = clusters.ids, clusters.entropy
    if len(ids_frame) != record.signal.shape[1] or ids_frame.attrs.get("record") != record.name:
        other = ids_frame.attrs.get("record")
        raise ValueError(f"{record.name}: the clusters describe another record ({other})")
    pooled = list(ids_frame.columns) == [POOLED_COLUMN]
    leads = list(record.leads) if pooled else list(ids_frame.columns)
    sheet.check_strip(record, leads, "has no clusters")
    pmecg = _pmecg()
    from matplotlib.patches import Patch

    ecg, config, window = _paper_trace(pmecg, record, leads, sheet)

    def rows(frame: pd.DataFrame, fill: float) -> np.ndarray:
        values = frame.to_numpy(dtype=np.float64, na_value=np.nan)[window].T
        values = np.repeat(values, len(leads), axis=0) if pooled else values
        return np.where(np.isfinite(values), values, fill)

    ids = rows(ids_frame, -1).astype(np.int64)
    entropy = rows(entropy_frame, np.nan)
    count, width = ids.shape
    codes = (np.arange(count * width).reshape(count, width) + 1) / (count * width + 1)
    code_frame = pd.DataFrame(codes.T, columns=leads)
    colours = cluster_colours(len(clusters.names))
    strip_codes = None if sheet.rhythm_strip is None else code_frame[[sheet.rhythm_strip]]
    overlay = _overlay_class(pmecg)(code_frame, ids, entropy, colours, strip_codes)
    figure = _draw_paper(pmecg, record, ecg, config, overlay, sheet)
    if title is None:
        view = "per timestamp" if pooled else "per lead"
        blocks = ", ".join(map(str, ids_frame.attrs.get("blocks", [])))
        title = f"{record.name}: clusters {view} (blocks {blocks}); grey band: assignment entropy"
        if predictions is not None:
            title += "\npredicted: " + (", ".join(f"{n} {s:.2f}" for n, s in predictions.items()) or "none")
    figure.suptitle(title, fontsize=9, y=0.995)
    used = set(np.unique(ids[ids >= 0]).tolist())
    handles = [
        Patch(facecolor=(*colours[k][:3], _ALPHA + 0.2), label=name)
        for k, name in enumerate(clusters.names)
        if k in used
    ]
    figure.legend(
        handles=handles,
        loc="lower center",
        fontsize=7,
        ncol=min(len(handles), 8),
        frameon=False,
        bbox_to_anchor=(0.5, 0.0),
    )
    return _detach(figure)


def plot_class_table(table: pd.DataFrame, names: list[str], min_records: int = 1) -> Any:
    """Mean cluster proportions (stacked bars) and mean entropy per class of :func:`class_table`."""
    from matplotlib.figure import Figure

    shown = table[table["records"] >= min_records]
    if shown.empty:
        raise ValueError(f"no class has {min_records} or more records")
    colours = cluster_colours(len(names))
    figure = Figure(figsize=(9, 0.28 * len(shown) + 1.6), layout="constrained")
    bars, side = figure.subplots(1, 2, sharey=True, width_ratios=(4, 1))
    y = np.arange(len(shown))
    left = np.zeros(len(shown))
    for k, name in enumerate(names):
        share = shown[name].to_numpy()
        bars.barh(y, share, left=left, color=colours[k], label=name, height=0.8)
        left += share
    bars.set_yticks(y, [f"{c} (n={int(n)})" for c, n in zip(shown.index, shown["records"])], fontsize=7)
    bars.invert_yaxis()
    bars.set_xlim(0, 1)
    bars.set_xlabel("mean cluster proportion")
    bars.legend(fontsize=6, ncol=min(len(names), 4), loc="lower left", bbox_to_anchor=(0, 1.0), frameon=False)
    side.barh(y, shown["entropy"], color="0.4", height=0.8)
    side.set_xlim(0, 1)
    side.set_xlabel("mean entropy")
    return figure


def plot_sweep(sweep: pd.DataFrame) -> Any:
    """BIC (lower is better) and silhouette (higher is better) against K (:func:`sweep_k`)."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(7, 2.8), layout="constrained")
    bic, silhouette = figure.subplots(1, 2)
    bic.plot(sweep.index, sweep["bic"], "o-")
    bic.set(xlabel="K", ylabel="BIC", title="Gaussian mixture BIC")
    silhouette.plot(sweep.index, sweep["silhouette"], "o-", color="tab:orange")
    silhouette.set(xlabel="K", ylabel="silhouette", title="silhouette (subsample)")
    for ax in (bic, silhouette):
        ax.set_xticks(sweep.index)
        ax.grid(alpha=0.3)
    return figure
