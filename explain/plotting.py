"""ECG-paper figures of a map over its record, drawn by pmecg (the optional ``plot`` extra).

This is the only module that imports pmecg, and only when a figure is asked for, so everything
else works without it. pmecg checks some of its inputs with assertions, so every input is
validated here first and a bad one raises ``ValueError`` naming the record.

Paper: 25 mm/s, 10 mm/mV, 1 mm grid with every fifth line heavier, a 1 mV calibration pulse at the
start of every row. The trace is the record in mV with its baseline wander removed for display
(zero-phase 0.5 Hz high-pass); the map is normalised with :func:`explain.normalise.normalise`.
Layouts (columns x rows): ``"4x3"`` (the clinical sheet, 2.5 s per lead when 10 s are shown),
``"2x6"`` and ``"1x12"``. A record without all 12 leads is drawn one lead per row whatever the
layout. ``rhythm_strip`` adds a full-width row of one lead below the sheet.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import signal as sps

from explain.frames import check_frame
from explain.inputs import as_record
from explain.normalise import SCOPES, EmptyMapError, normalise
from leadattn.data import Record
from leadattn.leads import LEADS, canonical_lead

STYLES = ("interval", "background", "line")
LAYOUTS = {"4x3": 4, "2x6": 2, "1x12": 1}
FORMATS = ("png", "svg", "pdf")
INSTALL_HINT = 'pip install "leadattn[plot]"'
SPEED_MM_S = 25.0
GAIN_MM_MV = 10.0
_MIN_FILTER_SAMPLES = 30
_NEGATIVE_COLOUR = "blue"
_POSITIVE_COLOUR = "red"


class PlotUnavailableError(ImportError):
    """pmecg, the optional plotting dependency, is not installed."""


def _pmecg() -> Any:
    try:
        import pmecg
    except ImportError:
        raise PlotUnavailableError(
            f"figures need the optional plotting package pmecg: {INSTALL_HINT}"
        ) from None
    return pmecg


def plotting_available() -> bool:
    """Whether pmecg can be imported."""
    try:
        _pmecg()
    except PlotUnavailableError:
        return False
    return True


def _display_signal(record: Record, leads: Sequence[str]) -> np.ndarray:
    rows = [record.leads.index(lead) for lead in leads]
    signal = record.signal[rows].astype(np.float64)
    if signal.shape[1] > _MIN_FILTER_SAMPLES:
        sos = sps.butter(2, 0.5, btype="highpass", fs=record.fs, output="sos")
        signal = sps.sosfiltfilt(sos, signal, axis=1)
    return signal - np.median(signal, axis=1, keepdims=True)


def _window(record: Record, start: float, seconds: float | None, columns: int) -> slice:
    samples = record.signal.shape[1]
    first = int(round(start * record.fs))
    if start < 0 or first >= samples:
        raise ValueError(
            f"{record.name}: start {start} s is outside the record ({samples / record.fs:.2f} s)"
        )
    if seconds is not None and seconds <= 0:
        raise ValueError(f"{record.name}: the plotted window must be positive, got {seconds} s")
    stop = samples if seconds is None else min(samples, first + int(round(seconds * record.fs)))
    stop -= (stop - first) % columns  # pmecg splits a row into equal parts
    if stop - first < 2 * columns:
        raise ValueError(f"{record.name}: the plotted window is too short")
    return slice(first, stop)


def _configuration(pmecg: Any, layout: str, ecg: pd.DataFrame) -> tuple[Any, int]:
    names = list(ecg.columns)
    canonical = [canonical_lead(name) for name in names]
    if sorted(canonical, key=LEADS.index) != list(LEADS):
        return [[name] for name in names], 1
    renamed = {c: n for c, n in zip(canonical, names) if c != n}
    leads_map = pmecg.LeadsMap(**renamed) if renamed else None
    return pmecg.template_factory(layout, ecg, leads_map=leads_map), LAYOUTS[layout]


def _title(record: Record, frame: pd.DataFrame, predictions: Mapping[str, float] | None) -> str:
    what = str(frame.attrs.get("method", "map")).replace("_", " ")
    if frame.attrs.get("aggregate"):
        what += f" ({frame.attrs['aggregate']})"
    if frame.attrs.get("class"):
        what += f" for {frame.attrs['class']}"
        if frame.attrs.get("output"):
            what += f" [{frame.attrs['output']}]"
    line = f"{record.name}: {what}"
    if predictions is not None:
        scored = ", ".join(f"{name} {score:.2f}" for name, score in predictions.items())
        line += f"\npredicted: {scored or 'none'}"
    return line


def plot(
    record: Record | str | Path,
    frame: pd.DataFrame,
    style: str = "interval",
    layout: str = "4x3",
    rhythm_strip: str | None = "II",
    polarity: str | None = None,
    scope: str = "record",
    absolute: bool = False,
    smooth_seconds: float | None = None,
    quantile: float = 0.995,
    start: float = 0.0,
    seconds: float | None = 10.0,
    predictions: Mapping[str, float] | None = None,
    title: str | None = None,
    dpi: int = 100,
) -> Any:
    """Draw ``record`` (a :class:`~leadattn.data.Record` or its path) with ``frame`` overlaid;
    returns the matplotlib figure.

    ``frame`` must be a map of this record (columns among its leads, one row per sample), as made
    by :func:`explain.attention_frame` or :func:`explain.attribution_frame`. ``polarity``,
    ``scope``, ``absolute``, ``smooth_seconds`` and ``quantile`` (the magnitude drawn at full
    strength; larger values are clipped) go to :func:`explain.normalise.normalise`. The
    figure shows ``seconds`` from ``start`` (None: the whole record). ``predictions`` (class ->
    score) are listed in the title. A map whose values are all negative is drawn by magnitude in
    the negative colour (blue), since pmecg's signed maps need both signs. The figure is detached
    from pyplot (it has an Agg canvas): save it with :func:`save_figure` or display it.
    """
    record = as_record(record)
    if style not in STYLES:
        raise ValueError(f"style must be one of {STYLES}, got {style!r}")
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {tuple(LAYOUTS)}, got {layout!r}")
    if scope not in SCOPES:
        raise ValueError(f"scope must be one of {SCOPES}, got {scope!r}")
    checked = check_frame(frame, record)
    if rhythm_strip is not None and rhythm_strip not in checked.columns:
        raise ValueError(
            f"{record.name}: rhythm strip lead {rhythm_strip!r} is not in the map "
            f"({', '.join(checked.columns)}); pass another lead or None"
        )
    pmecg = _pmecg()
    import matplotlib.pyplot as plt
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    scaled = normalise(
        checked,
        scope=scope,
        polarity=polarity,
        absolute=absolute,
        smooth_seconds=smooth_seconds,
        quantile=quantile,
    )
    leads = list(scaled.columns)
    ecg_all = pd.DataFrame(_display_signal(record, leads).T, columns=leads)
    config, columns = _configuration(pmecg, layout, ecg_all)
    window = _window(record, start, seconds, columns)
    ecg = ecg_all.iloc[window].reset_index(drop=True)
    overlay = scaled.iloc[window].reset_index(drop=True)
    values = overlay.to_numpy()
    finite = values[np.isfinite(values)]
    if finite.size == 0 or not np.any(finite != 0):
        raise EmptyMapError(f"{record.name}: the map is zero or missing in the plotted window")
    kind = scaled.attrs["polarity"]
    colour: Any = (_NEGATIVE_COLOUR, _POSITIVE_COLOUR)
    if kind == "signed" and finite.max() <= 0:
        overlay, kind, colour = overlay.abs(), "positive", _NEGATIVE_COLOUR
    elif kind == "positive" or finite.min() >= 0:
        kind, colour = "positive", _POSITIVE_COLOUR
    strip_ecg = strip_map = None
    if rhythm_strip is not None:
        strip_ecg = pmecg.RhythmStripsConfig(ecg_data=ecg[[rhythm_strip]])
        strip_map = overlay[[rhythm_strip]]
    overlay_classes = {
        "interval": pmecg.IntervalAttentionMap,
        "background": pmecg.BackgroundAttentionMap,
        "line": pmecg.LineColorAttentionMap,
    }
    options: dict[str, Any] = {"polarity": kind, "color": colour, "rhythm_strips_attention": strip_map}
    if style == "interval":
        options.update(max_attention_mV=0.4, alpha=0.35)
    attention = overlay_classes[style](overlay, **options)
    plotter = pmecg.ECGPlotter(speed=SPEED_MM_S, voltage=GAIN_MM_MV, print_information=True)
    figure = plotter.plot(
        ecg,
        configuration=config,
        sampling_frequency=float(record.fs),
        show=False,
        attention_map=attention,
        rhythm_strips=strip_ecg,
    )
    figure.set_dpi(dpi)
    figure.suptitle(title if title is not None else _title(record, frame, predictions), fontsize=9, y=0.995)
    plt.close(figure)  # pyplot keeps no reference, so explaining many records does not pile up figures
    FigureCanvasAgg(figure)
    return figure


def save_figure(
    figure: Any, path: str | Path, formats: Sequence[str] = ("png",), dpi: int = 150
) -> list[Path]:
    """Write ``figure`` as ``path`` with each suffix of ``formats`` (png, svg, pdf)."""
    bad = [f for f in formats if f not in FORMATS]
    if bad:
        raise ValueError(f"unknown figure format(s) {', '.join(bad)}; choose from {', '.join(FORMATS)}")
    stem = Path(path)
    stem = stem.with_suffix("") if stem.suffix.lstrip(".") in FORMATS else stem
    stem.parent.mkdir(parents=True, exist_ok=True)
    written = []
    for fmt in formats:
        target = stem.with_name(f"{stem.name}.{fmt}")
        figure.savefig(target, format=fmt, dpi=dpi)
        written.append(target)
    return written
