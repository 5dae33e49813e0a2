"""Tests for explain.attribution and explain.baselines: every method, lead subsets, lead importance."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from explain_helpers import OneLeadModel, make_record, small_model
from tests_paths import TEST_PTBXL

from explain.attribution import (
    CONVERGENCE_BOUND,
    CaptumExplainer,
    ConvergenceWarning,
    FeatureAblationExplainer,
    IntegratedGradientsExplainer,
    SaliencyExplainer,
    attribution_classes,
    lead_importance,
)
from explain.baselines import LowPassBaseline, SinusRhythmBaseline, ZeroBaseline, resolve_baseline
from explain.explainer import EXPLAINERS, make_explainer
from explain.frames import TIME_INDEX
from explain.inputs import class_scores
from leadattn.data import PreprocessConfig
from leadattn.inference import Predictor
from leadattn.labels import ABBREVIATIONS
from leadattn.leads import LEADS

METHODS = [name for name, cls in EXPLAINERS.items() if issubclass(cls, CaptumExplainer)]
FAST = {"integrated_gradients": {"n_steps": 8}, "gradient_shap": {"n_samples": 4}}


def attribution_frame(model, record, target, method="integrated_gradients", leads=None, **options):
    return make_explainer(method, model, **options).explain(record, target, leads=leads)


pytestmark = [
    pytest.mark.usefixtures("one_torch_thread"),
    # few Integrated Gradients steps keep these tests fast; the maps need not be accurate
    pytest.mark.filterwarnings("ignore::explain.attribution.ConvergenceWarning"),
]


@pytest.fixture(scope="module")
def one_lead():
    return OneLeadModel("II")


@pytest.mark.parametrize("method", METHODS)
def test_a_model_reading_one_lead_gets_attributions_on_that_lead_only(one_lead, method):
    record = make_record(seconds=1.5)
    frame = attribution_frame(one_lead, record, "AF", method, **FAST.get(method, {}))
    assert frame.shape == (750, 12)
    assert list(frame.columns) == list(LEADS)
    assert frame.index.name == TIME_INDEX
    others = frame.drop(columns="II").to_numpy()
    assert np.all(others == 0.0)
    assert np.abs(frame["II"].to_numpy()).max() > 0
    assert frame.attrs["method"] == method and frame.attrs["class"] == "AF"


def test_integrated_gradients_reports_its_convergence_delta(one_lead):
    frame = attribution_frame(one_lead, make_record(seconds=1.5), 0, "integrated_gradients", n_steps=32)
    difference = frame.attrs["score_difference"]
    assert frame.attrs["convergence_delta"] < 1e-3 * max(1.0, abs(difference))
    assert frame.to_numpy().sum() == pytest.approx(difference, rel=1e-3, abs=1e-5)
    assert frame.attrs["baseline"] == "zeros" and frame.attrs["output"] == "logit"


def test_integrated_gradients_warns_when_its_integral_is_inaccurate():
    # An untrained network's score difference is small, so its relative delta swings with the draw;
    # this draw sits far from the bound on both sides (about 100 % with 2 steps, 0.4 % with 256).
    network, record = small_model(seed=1), make_record(seconds=2.0)
    with pytest.warns(ConvergenceWarning, match=r"T0001 AF: .* convergence delta is .* pass more steps"):
        coarse = IntegratedGradientsExplainer(network, n_steps=2).explain(record, "AF")
    assert coarse.attrs["relative_delta"] > CONVERGENCE_BOUND
    expected = coarse.attrs["convergence_delta"] / abs(coarse.attrs["score_difference"])
    assert coarse.attrs["relative_delta"] == pytest.approx(expected)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        fine = IntegratedGradientsExplainer(network, n_steps=256).explain(record, "AF")
    assert fine.attrs["relative_delta"] <= CONVERGENCE_BOUND


def test_absolute_values_probabilities_and_the_lowpass_baseline(one_lead):
    record = make_record(seconds=1.5)
    signed = attribution_frame(one_lead, record, "AF", "saliency")
    magnitude = attribution_frame(one_lead, record, "AF", "saliency", absolute=True)
    np.testing.assert_allclose(magnitude.to_numpy(), np.abs(signed.to_numpy()))
    probability = attribution_frame(
        one_lead, record, "AF", "integrated_gradients", baseline="lowpass", n_steps=8
    )
    assert probability.attrs["baseline"] == "lowpass"
    prob = attribution_frame(one_lead, record, "AF", "saliency", output="probability")
    assert prob.attrs["output"] == "probability"
    assert not np.allclose(prob.to_numpy(), signed.to_numpy())


def test_real_network_every_method_for_a_lead_subset():
    network = small_model()
    record = make_record(seconds=2.0, leads=("I", "II", "V2"))
    for method in METHODS:
        frame = attribution_frame(network, record, "PVC", method, leads=3, **FAST.get(method, {}))
        assert list(frame.columns) == ["I", "II", "V2"], method
        assert frame.shape == (1000, 3), method
        assert np.isfinite(frame.to_numpy()).all(), method
        assert np.abs(frame.to_numpy()).max() > 0, method


def test_frames_for_every_predicted_class_follow_the_thresholds(one_lead):
    record = make_record(seconds=1.5)
    explainer = SaliencyExplainer(one_lead)
    _, probabilities = class_scores(one_lead, explainer.prepare(record))
    order = np.argsort(-probabilities)
    # thresholds between the third and fourth highest scores: exactly the top three are predicted
    between = (probabilities[order[2]] + probabilities[order[3]]) / 2
    explainer = SaliencyExplainer(
        Predictor(one_lead, PreprocessConfig(), np.full(len(probabilities), between))
    )
    frames = attribution_classes(explainer, record)
    assert list(frames) == [ABBREVIATIONS[k] for k in order[:3]]
    assert all(name == f.attrs["class"] for name, f in frames.items())
    explainer = SaliencyExplainer(Predictor(one_lead, PreprocessConfig(), np.ones(len(probabilities))))
    assert list(attribution_classes(explainer, record)) == [ABBREVIATIONS[order[0]]]  # none reached: the top
    chosen = attribution_classes(explainer, record, ["AF", "PVC"])
    assert list(chosen) == ["AF", "PVC"]


def test_lead_importance_is_a_records_by_leads_share():
    model = OneLeadModel("V1")
    records = [
        make_record(seconds=1.5, name="R1"),
        make_record(seconds=1.5, leads=("I", "II", "V1"), name="R2"),
    ]
    table = lead_importance(FeatureAblationExplainer(model), records, "AF")
    assert list(table.index) == ["R1", "R2"] and list(table.columns) == list(LEADS)
    assert table.loc["R1", "V1"] == pytest.approx(1.0, abs=1e-4)  # float32 noise of the other leads
    assert table.loc["R2"].drop(["I", "II", "V1"]).isna().all()
    np.testing.assert_allclose(table.sum(axis=1), 1.0)
    saliency = lead_importance(SaliencyExplainer(model), records[:1], "AF")
    assert saliency.loc["R1", "V1"] == pytest.approx(1.0)


def test_baselines():
    x = np.random.default_rng(0).standard_normal((12, 1000)).astype(np.float32)
    mask = np.ones(12, dtype=bool)
    mask[5] = False
    assert ZeroBaseline()(x, mask, 500.0).shape == (1, 12, 1000)
    smooth = LowPassBaseline(cutoff_hz=3.0)(x, mask, 500.0)[0]
    assert np.abs(np.diff(smooth, axis=1)).max() < np.abs(np.diff(x, axis=1)).max() / 10
    assert not smooth[5].any()
    normal = [make_record(seconds=1.0, name="N1"), make_record(seconds=3.0, name="N2", leads=("I", "II"))]
    sinus = SinusRhythmBaseline.from_records(normal, PreprocessConfig())
    reference = sinus(x, mask, 500.0)
    assert reference.shape == (2, 12, 1000)
    np.testing.assert_array_equal(reference[0, :, 500:], reference[0, :, :500])  # 1 s repeated
    assert not reference[1, 2:].any()  # the second record has leads I and II only
    with pytest.raises(ValueError, match="prepared at 500.0 Hz"):
        sinus(x, mask, 250.0)
    with pytest.raises(ValueError, match="needs records"):
        resolve_baseline("sinus")
    with pytest.raises(ValueError, match="unknown baseline 'noise'"):
        resolve_baseline("noise")


def test_sinus_baseline_from_a_directory():
    sinus = SinusRhythmBaseline.from_directory(TEST_PTBXL, PreprocessConfig(), limit=2)
    assert len(sinus.signals) == 2
    frame = attribution_frame(
        OneLeadModel(), make_record(seconds=1.5), "AF", "integrated_gradients", baseline=sinus, n_steps=4
    )
    assert frame.attrs["baseline"] == "sinus"


def test_bad_targets_methods_and_options_are_named(one_lead):
    record = make_record(seconds=1.5)
    with pytest.raises(ValueError, match="unknown class 'XYZ'"):
        attribution_frame(one_lead, record, "XYZ")
    with pytest.raises(ValueError, match="class index 26 out of range"):
        attribution_frame(one_lead, record, 26)
    with pytest.raises(ValueError, match="unknown explanation method 'lrp'"):
        attribution_frame(one_lead, record, "AF", "lrp")
    with pytest.raises(TypeError, match="n_steps"):
        attribution_frame(one_lead, record, "AF", "saliency", n_steps=4)
    with pytest.raises(ValueError, match="explains one class at a time"):
        SaliencyExplainer(one_lead).explain(record)
    with pytest.raises(ValueError, match="output must be one of"):
        attribution_frame(one_lead, record, "AF", "saliency", output="odds")


@pytest.mark.parametrize("method", ["saliency", "integrated_gradients"])
def test_explaining_runs_in_eval_mode_and_gives_each_module_its_mode_back(method):
    model = small_model().train()
    model.head_drop.eval()  # a mixed state must come back as it was
    before = {name: module.training for name, module in model.named_modules()}
    seen: list[bool] = []
    model.blocks[0].drop_mlp.register_forward_hook(lambda module, args, out: seen.append(module.training))
    record = make_record(seconds=4.0)
    options = {"n_steps": 4} if method == "integrated_gradients" else {}
    first = attribution_frame(model, record, "AF", method, **options)
    second = attribution_frame(model, record, "AF", method, **options)
    assert seen and not any(seen)
    assert {name: module.training for name, module in model.named_modules()} == before
    assert np.allclose(first.to_numpy(), second.to_numpy())  # dropout was off


def test_a_bare_model_is_explained_with_a_warning_naming_the_defaults():
    from explain.inputs import BareModelWarning, as_predictor

    with pytest.warns(BareModelWarning, match="default preprocessing \\(500 Hz"):
        predictor = as_predictor(small_model())
    assert predictor.preprocess == PreprocessConfig()
