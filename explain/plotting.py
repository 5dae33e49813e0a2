"""ECG-paper figures of a map over its record, drawn by pmecg (the optional ``plot`` extra).

This is the only module that imports pmecg, and only when a figure is asked for, so everything
else works without it. pmecg checks some of its inputs with assertions, so every input is
validated here first and a bad one raises ``ValueError`` naming the record.

Paper: 25 mm/s, 10 mm/mV, 1 mm grid with every fifth line heavier, a 1 mV calibration pulse at the
start of every row. The figure is true to scale: its size is the paper's size and the sheet fills
it, so a PDF printed at 100 % (no "fit to page") gives 1 mm squares and intervals can be measured
with callipers; the footer says so. A band above the sheet holds the title, the record's labels
and the predictions; pmecg's header gives the record's name, age and sex. The trace is the record
in mV with its baseline wander removed for display (zero-phase 0.5 Hz high-pass); the map is
normalised with :func:`explain.normalise.normalise` and its colour scale is drawn at the right.
Overlay colours are chosen to stand out on the pink grid: green for positive values (attention,
evidence for the class), purple for negative ones.
Layouts (columns x rows): ``"4x3"`` (the clinical sheet, 2.5 s per lead when 10 s are shown),
``"2x6"`` and ``"1x12"``. A record without all 12 leads is drawn one lead per row whatever the
layout. ``rhythm_strip`` adds a full-width row of one lead below the sheet.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import signal as sps

from explain.frames import check_frame
from explain.inputs import as_record
from explain.normalise import SCOPES, EmptyMapError, normalise
from leadattn.data import Record
from leadattn.errors import MissingExtraError
from leadattn.labels import ABBREVIATIONS
from leadattn.leads import LEADS, canonical_lead

STYLES = ("interval", "background", "line")
LAYOUTS = {"4x3": 4, "2x6": 2, "1x12": 1}
FORMATS = ("png", "svg", "pdf")
INSTALL_HINT = 'pip install "leadattn[plot]"'
SPEED_MM_S = 25.0
GAIN_MM_MV = 10.0
_MIN_FILTER_SAMPLES = 30
_NEGATIVE_COLOUR = "#6a3d9a"  # purple
_POSITIVE_COLOUR = "#1b9e77"  # green; red or pink bands vanish into the grid
_TITLE_BAND_MM = 20.0
_BAND_MV = 0.4
_MM_PER_INCH = 25.4
SCALE_NOTE = "true to scale at 100 % print size: 1 mm squares"


class PlotUnavailableError(MissingExtraError):
    """pmecg, the optional plotting dependency, is not installed."""


@dataclass(frozen=True)
class Sheet:
    """What a figure shows of its record, shared by every overlay drawn on ECG paper.

    ``layout``: one of :data:`LAYOUTS`; ``rhythm_strip``: the lead of a full-width strip below the
    sheet (None: no strip); ``seconds`` from ``start`` are shown (None: the whole record); ``dpi`` of
    the on-screen figure (its size in inches is the paper's whatever the dpi).
    """

    layout: str = "4x3"
    rhythm_strip: str | None = "II"
    start: float = 0.0
    seconds: float | None = 10.0
    dpi: int = 100

    def __post_init__(self) -> None:
        if self.layout not in LAYOUTS:
            raise ValueError(f"layout must be one of {tuple(LAYOUTS)}, got {self.layout!r}")

    def check_strip(self, record: Record, leads: Sequence[str], what: str) -> None:
        """Raise ``ValueError`` naming ``record`` unless the rhythm strip is among ``leads``."""
        if self.rhythm_strip is not None and self.rhythm_strip not in leads:
            raise ValueError(
                f"{record.name}: rhythm strip lead {self.rhythm_strip!r} {what} ({', '.join(leads)}); "
                "pass another lead or None"
            )


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


def _paper_trace(
    pmecg: Any, record: Record, leads: Sequence[str], sheet: Sheet
) -> tuple[pd.DataFrame, Any, slice]:
    """The display trace of ``leads`` in the sheet's window, the pmecg configuration of its layout
    for them and the window (samples of the record)."""
    ecg = pd.DataFrame(_display_signal(record, leads).T, columns=list(leads))
    config, columns = _configuration(pmecg, sheet.layout, ecg)
    window = _window(record, sheet.start, sheet.seconds, columns)
    return ecg.iloc[window].reset_index(drop=True), config, window


def _draw_paper(
    pmecg: Any,
    record: Record,
    ecg: pd.DataFrame,
    config: Any,
    attention: Any,
    sheet: Sheet,
    information: Any = None,
) -> Any:
    """The pmecg figure of ``ecg`` on ECG paper with the overlay ``attention`` and, when the sheet
    names one, a rhythm strip."""
    lead = sheet.rhythm_strip
    strip = None if lead is None else pmecg.RhythmStripsConfig(ecg_data=ecg[[lead]])
    plotter = pmecg.ECGPlotter(speed=SPEED_MM_S, voltage=GAIN_MM_MV, print_information=True)
    figure = plotter.plot(
        ecg,
        configuration=config,
        sampling_frequency=float(record.fs),
        show=False,
        information=information,
        attention_map=attention,
        rhythm_strips=strip,
    )
    figure.set_dpi(sheet.dpi)
    return figure


def _detach(figure: Any) -> Any:
    """``figure`` closed in pyplot, which then keeps no reference (drawing many figures does not
    pile them up), with an Agg canvas of its own."""
    import matplotlib.pyplot as plt
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    plt.close(figure)
    FigureCanvasAgg(figure)
    return figure


def _labels_line(record: Record) -> str:
    scored = [ABBREVIATIONS[k] for k in np.flatnonzero(record.labels)]
    other = len(record.dx) - len(scored)
    line = f"labels: {', '.join(scored) or 'none scored'}"
    return line + (f" (+{other} unscored code{'s' * (other > 1)})" if other > 0 else "")


def _title(record: Record, frame: pd.DataFrame, predictions: Mapping[str, float] | None) -> str:
    what = str(frame.attrs.get("method", "map")).replace("_", " ")
    if frame.attrs.get("aggregate"):
        what += f" ({frame.attrs['aggregate']})"
    if frame.attrs.get("class"):
        what += f" for {frame.attrs['class']}"
        if frame.attrs.get("output"):
            what += f" [{frame.attrs['output']}]"
    line = f"{record.name}: {what}\n{_labels_line(record)}"
    if predictions is not None:
        scored = ", ".join(f"{name} {score:.2f}" for name, score in predictions.items())
        line += f";  predicted: {scored or 'none'}"
    return line


def _true_scale(figure: Any, title: str) -> None:
    """Make the sheet fill the figure (one axis inch is one inch of paper) and put ``title`` in a
    band added above it."""
    width, height = figure.get_size_inches()
    band = _TITLE_BAND_MM / _MM_PER_INCH
    figure.set_size_inches(width, height + band)
    figure.axes[0].set_position((0.0, 0.0, 1.0, height / (height + band)))
    figure.text(
        0.5, 1.0 - 0.45 * band / (height + band), title, ha="center", va="center", fontsize=9, linespacing=1.4
    )


def plot(
    record: Record | str | Path,
    frame: pd.DataFrame,
    style: str = "interval",
    sheet: Sheet | None = None,
    polarity: str | None = None,
    scope: str = "record",
    absolute: bool = False,
    smooth_seconds: float | None = None,
    quantile: float = 0.995,
    predictions: Mapping[str, float] | None = None,
    title: str | None = None,
) -> Any:
    """Draw ``record`` (a :class:`~leadattn.data.Record` or its path) with ``frame`` overlaid;
    returns the matplotlib figure.

    ``frame`` must be a map of this record (columns among its leads, one row per sample), as made
    by an explainer's ``explain`` (:mod:`explain.explainer`). ``polarity``,
    ``scope``, ``absolute``, ``smooth_seconds`` and ``quantile`` (the magnitude drawn at full
    strength; larger values are clipped) go to :func:`explain.normalise.normalise`. ``sheet``
    (default :class:`Sheet`: 4x3 with a lead II strip, the first 10 s) sets what of the record the
    figure shows. ``predictions`` (class ->
    score) are listed in the title with the record's labels. A map whose values are all negative
    is drawn by magnitude in the negative colour, since pmecg's signed maps need both signs. The
    figure is detached from pyplot (it has an Agg canvas): save it with :func:`save_figure` or
    display it; its size is the paper's, so keep it (no ``bbox_inches="tight"``) to print to scale.
    """
    record, sheet = as_record(record), sheet or Sheet()
    if style not in STYLES:
        raise ValueError(f"style must be one of {STYLES}, got {style!r}")
    if scope not in SCOPES:
        raise ValueError(f"scope must be one of {SCOPES}, got {scope!r}")
    checked = check_frame(frame, record)
    sheet.check_strip(record, list(checked.columns), "is not in the map")
    pmecg = _pmecg()
    scaled = normalise(
        checked,
        scope=scope,
        polarity=polarity,
        absolute=absolute,
        smooth_seconds=smooth_seconds,
        quantile=quantile,
    )
    ecg, config, window = _paper_trace(pmecg, record, list(scaled.columns), sheet)
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
    strip_map = None if sheet.rhythm_strip is None else overlay[[sheet.rhythm_strip]]
    overlay_classes = {
        "interval": pmecg.IntervalAttentionMap,
        "background": pmecg.BackgroundAttentionMap,
        "line": pmecg.LineColorAttentionMap,
    }
    options: dict[str, Any] = {"polarity": kind, "color": colour, "rhythm_strips_attention": strip_map}
    options["show_colormap"] = True
    if style == "interval":
        options.update(max_attention_mV=_BAND_MV, alpha=0.5)
    attention = overlay_classes[style](overlay, **options)
    information = pmecg.ECGInformation(
        patient_name=record.name,
        age=None if record.age is None else int(round(record.age)),
        sex=record.sex,
        filter="0.5 Hz high-pass (display)",
        machine_model=SCALE_NOTE,
    )
    figure = _draw_paper(pmecg, record, ecg, config, attention, sheet, information)
    heading = title if title is not None else _title(record, frame, predictions)
    low = "-1" if kind == "signed" else "0"
    key = f"overlay: map scaled per {scope} to [{low}, 1], colour scale at right"
    if style == "interval":
        key += f"; band half-width {_BAND_MV:g} mV at 1"
    _true_scale(figure, f"{heading}\n{key}")
    return _detach(figure)


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
