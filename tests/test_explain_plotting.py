"""Tests for explain.plotting: pmecg accepts every kind of frame, figures are drawn and saved."""

from __future__ import annotations

import sys

import matplotlib

matplotlib.use("Agg")

import matplotlib.image
import numpy as np
import pytest
from explain_helpers import OneLeadModel, make_record, small_model, torch_threads
from matplotlib.collections import LineCollection, PolyCollection

from explain.attention import AttentionExplainer
from explain.attribution import IntegratedGradientsExplainer, SaliencyExplainer
from explain.frames import make_frame
from explain.normalise import EmptyMapError
from explain.plotting import PlotUnavailableError, plot, save_figure

# few Integrated Gradients steps keep these tests fast; the maps need not be accurate
pytestmark = pytest.mark.filterwarnings("ignore::explain.attribution.ConvergenceWarning")


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    with torch_threads(1):
        yield


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
    figure = plot(record, frames[kind], style=style, seconds=None, predictions={"AF": 0.9})
    axis = figure.axes[0]
    overlay = LineCollection if style == "line" else PolyCollection
    assert any(isinstance(c, overlay) for c in axis.collections)
    assert "AF 0.90" in figure._suptitle.get_text()
    _assert_not_blank(_pixels(figure))


def test_background_overlay_shows_both_colours_of_a_signed_map(record, frames):
    figure = plot(record, frames["integrated_gradients"], style="background", layout="2x6", seconds=None)
    pixels = _pixels(figure)
    blue = (pixels[..., 2] > pixels[..., 0] + 60).mean()
    red = ((pixels[..., 0] > 200) & (pixels[..., 1] < 120)).mean()
    assert blue > 1e-4 and red > 1e-4


@pytest.mark.parametrize("layout", ["4x3", "2x6", "1x12"])
def test_layouts_and_the_rhythm_strip(record, frames, layout):
    with_strip = plot(record, frames["attention"], layout=layout, seconds=None)
    without = plot(record, frames["attention"], layout=layout, rhythm_strip=None, seconds=None)
    assert with_strip.get_size_inches()[1] > without.get_size_inches()[1]


def test_lead_subset_record_at_another_rate_and_an_all_negative_map():
    record = make_record(seconds=3.0, fs=250.0, leads=("I", "II", "V2"))
    frame = SaliencyExplainer(OneLeadModel("II")).explain(record, "AF")
    _assert_not_blank(_pixels(plot(record, frame, layout="4x3", seconds=None)))
    negative = make_frame(-np.abs(np.random.default_rng(0).standard_normal((3, 750))), record.leads, 250.0)
    _assert_not_blank(_pixels(plot(record, negative, style="line", seconds=2.0)))


def test_figures_are_saved_as_png_svg_and_pdf(tmp_path, record, frames):
    figure = plot(record, frames["attention"], seconds=None)
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
        plot(record, frame, layout="3x4")
    with pytest.raises(ValueError, match="rhythm strip lead 'V7' is not in the map"):
        plot(record, frame, rhythm_strip="V7")
    with pytest.raises(ValueError, match="start 5 s is outside the record"):
        plot(record, frame, start=5)
    with pytest.raises(ValueError, match="the map has 1499 rows, the record 1500 samples"):
        plot(record, frame.iloc[:-1])
    with pytest.raises(EmptyMapError, match="zero everywhere"):
        plot(record, frame * 0.0)


def test_missing_pmecg_is_reported_with_the_install_command(record, frames, monkeypatch):
    monkeypatch.setitem(sys.modules, "pmecg", None)
    with pytest.raises(PlotUnavailableError, match=r'pip install "leadattn\[plot\]"'):
        plot(record, frames["attention"])
