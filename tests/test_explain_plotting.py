"""Tests for explain.plotting: pmecg accepts every kind of frame, figures are drawn and saved."""

from __future__ import annotations

import sys

import matplotlib

matplotlib.use("Agg")

import matplotlib.image
import numpy as np
import pytest
from explain_helpers import OneLeadModel, make_record, small_model
from matplotlib.collections import LineCollection, PolyCollection

from explain.attention import AttentionExplainer
from explain.attribution import IntegratedGradientsExplainer, SaliencyExplainer
from explain.frames import make_frame
from explain.normalise import EmptyMapError
from explain.plotting import PlotUnavailableError, Sheet, plot, save_figure

pytestmark = [
    pytest.mark.usefixtures("one_torch_thread"),
    # few Integrated Gradients steps keep these tests fast; the maps need not be accurate
    pytest.mark.filterwarnings("ignore::explain.attribution.ConvergenceWarning"),
]


def _pixels(figure) -> np.ndarray:
    figure.canvas.draw()
    return np.asarray(figure.canvas.buffer_rgba())[..., :3].astype(float)


def _assert_not_blank(pixels: np.ndarray) -> None:
    non_white = (pixels < 235).any(axis=-1).mean()
    assert non_white > 0.02, f"only {non_white:.3%} of the figure is drawn"
    assert pixels.std() > 10


@pytest.fixture(scope="module")
def record():
    return make_record(seconds=3.0)


@pytest.fixture(scope="module")
def frames(record):
    network = small_model()
    return {
        "attention": AttentionExplainer(network, "rollout").explain(record),
        "integrated_gradients": IntegratedGradientsExplainer(network, n_steps=4).explain(record, "AF"),
        "saliency_abs": SaliencyExplainer(network, absolute=True).explain(record, "AF"),
    }


@pytest.mark.parametrize("style", ["interval", "background", "line"])
@pytest.mark.parametrize("kind", ["attention", "integrated_gradients", "saliency_abs"])
def test_pmecg_draws_every_kind_of_frame_in_every_style(record, frames, kind, style):
    figure = plot(record, frames[kind], style=style, predictions={"AF": 0.9}, sheet=Sheet(seconds=None))
    axis = figure.axes[0]
    overlay = LineCollection if style == "line" else PolyCollection
    assert any(isinstance(c, overlay) for c in axis.collections)
    assert "AF 0.90" in _texts(figure)
    _assert_not_blank(_pixels(figure))


def _texts(figure) -> str:
    return "\n".join(t.get_text() for t in [*figure.texts, *figure.axes[0].texts])


def _greens_and_purples(pixels: np.ndarray) -> tuple[float, float]:
    red, green, blue = pixels[..., 0], pixels[..., 1], pixels[..., 2]
    return ((green > red + 30) & (green > blue)).mean(), ((blue > green + 30) & (red > green + 10)).mean()


def test_background_overlay_shows_both_colours_of_a_signed_map(record, frames):
    sheet = Sheet(layout="2x6", seconds=None)
    figure = plot(record, frames["integrated_gradients"], style="background", sheet=sheet)
    green, purple = _greens_and_purples(_pixels(figure))
    assert green > 1e-4 and purple > 1e-4


def test_the_band_stands_out_from_the_pink_paper(record, frames):
    """Attention is drawn green: a hue the red grid never has (a red band vanished into it)."""
    bare = plot(record, frames["attention"], style="interval", sheet=Sheet(seconds=None))
    green, _ = _greens_and_purples(_pixels(bare))
    assert green > 0.01


def test_the_pdf_is_true_to_scale_and_says_so(tmp_path, record, frames):
    """One axis unit is one inch of paper: a 5 mm grid box prints at 5 mm from the PDF."""
    figure = plot(record, frames["attention"], sheet=Sheet(seconds=None))
    axis = figure.axes[0]
    x0, y0, width, height = axis.get_position().bounds
    assert (x0, y0, width) == (0.0, 0.0, 1.0) and height < 1.0  # the sheet fills the figure below the title
    inch = np.diff(axis.transData.transform([[0.0, 0.0], [1.0, 1.0]]), axis=0)[0]
    np.testing.assert_allclose(inch, [figure.dpi, figure.dpi])
    assert axis.get_xlim()[1] == pytest.approx(figure.get_size_inches()[0])
    pdf = save_figure(figure, tmp_path / "scale", ("pdf",))[0].read_bytes()
    box = pdf.split(b"/MediaBox [")[1].split(b"]")[0].split()
    np.testing.assert_allclose([float(v) for v in box[2:]], figure.get_size_inches() * 72, rtol=1e-6)
    assert "true to scale at 100 % print size: 1 mm squares" in _texts(figure)


def test_the_figure_names_labels_age_sex_and_the_colour_scale(record, frames):
    figure = plot(record, frames["integrated_gradients"], predictions={"AF": 0.9}, sheet=Sheet(seconds=None))
    text = _texts(figure)
    assert "labels: NSR" in text and "predicted: AF 0.90" in text  # make_record's Dx is sinus rhythm
    assert "T0001, Female, 50 yrs" in text
    assert "overlay: map scaled per record to [-1, 1], colour scale at right" in text
    right_margin = figure.get_size_inches()[0] - 25 / 25.4  # the scale sits in the last 25 mm
    assert any(image.get_extent()[0] > right_margin for image in figure.axes[0].images)


@pytest.mark.parametrize("layout", ["4x3", "2x6", "1x12"])
def test_layouts_and_the_rhythm_strip(record, frames, layout):
    with_strip = plot(record, frames["attention"], sheet=Sheet(layout=layout, seconds=None))
    without = plot(record, frames["attention"], sheet=Sheet(layout=layout, rhythm_strip=None, seconds=None))
    assert with_strip.get_size_inches()[1] > without.get_size_inches()[1]


def test_lead_subset_record_at_another_rate_and_an_all_negative_map():
    record = make_record(seconds=3.0, fs=250.0, leads=("I", "II", "V2"))
    frame = SaliencyExplainer(OneLeadModel("II")).explain(record, "AF")
    _assert_not_blank(_pixels(plot(record, frame, sheet=Sheet(layout="4x3", seconds=None))))
    negative = make_frame(-np.abs(np.random.default_rng(0).standard_normal((3, 750))), record.leads, 250.0)
    _assert_not_blank(_pixels(plot(record, negative, style="line", sheet=Sheet(seconds=2.0))))


def test_figures_are_saved_as_png_svg_and_pdf(tmp_path, record, frames):
    figure = plot(record, frames["attention"], sheet=Sheet(seconds=None))
    paths = save_figure(figure, tmp_path / "map.png", ("png", "svg", "pdf"))
    assert [p.name for p in paths] == ["map.png", "map.svg", "map.pdf"]
    assert all(p.stat().st_size > 1000 for p in paths)
    _assert_not_blank(matplotlib.image.imread(paths[0])[..., :3] * 255)
    with pytest.raises(ValueError, match="unknown figure format"):
        save_figure(figure, tmp_path / "map", ("jpg",))


def test_inputs_are_checked_before_pmecg_sees_them(record, frames):
    frame = frames["attention"]
    with pytest.raises(ValueError, match="style must be one of"):
        plot(record, frame, style="heat")
    with pytest.raises(ValueError, match="layout must be one of"):
        plot(record, frame, sheet=Sheet(layout="3x4"))
    with pytest.raises(ValueError, match="rhythm strip lead 'V7' is not in the map"):
        plot(record, frame, sheet=Sheet(rhythm_strip="V7"))
    with pytest.raises(ValueError, match="start 5 s is outside the record"):
        plot(record, frame, sheet=Sheet(start=5))
    with pytest.raises(ValueError, match="the map has 1499 rows, the record 1500 samples"):
        plot(record, frame.iloc[:-1])
    with pytest.raises(EmptyMapError, match="zero everywhere"):
        plot(record, frame * 0.0)


def test_missing_pmecg_is_reported_with_the_install_command(record, frames, monkeypatch):
    monkeypatch.setitem(sys.modules, "pmecg", None)
    with pytest.raises(PlotUnavailableError, match=r'pip install "leadattn\[plot\]"'):
        plot(record, frames["attention"])
