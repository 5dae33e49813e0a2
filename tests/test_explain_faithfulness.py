"""Tests for explain.faithfulness: perturbation curves, localisation on generated records, the table."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from explain_helpers import make_record, small_model
from torch import nn

from explain.faithfulness import (
    PerturbationCurve,
    faithfulness,
    faithfulness_table,
    localisation,
    perturbation_curves,
    readme_table,
)
from explain.frames import make_frame
from explain.inputs import prepare_input
from leadattn.data import PreprocessConfig, read_record
from leadattn.leads import LEADS
from leadattn.synth import generate_record, read_annotations

II = LEADS.index("II")


pytestmark = [
    pytest.mark.usefixtures("one_torch_thread"),
    # few Integrated Gradients steps keep these tests fast; the maps need not be accurate
    pytest.mark.filterwarnings("ignore::explain.attribution.ConvergenceWarning"),
]


class RegionModel(nn.Module):
    """Every logit rises with the energy of lead II in samples 200-300 and ignores the rest."""

    def forward(self, x: torch.Tensor, lead_mask: torch.Tensor | None = None) -> torch.Tensor:
        energy = x[:, II, 200:300].square().mean(dim=1, keepdim=True)
        return (20.0 * energy - 3.0).expand(-1, 26)


def test_area_under_a_curve():
    curve = PerturbationCurve(np.array([0.0, 0.5, 1.0]), np.array([1.0, 0.0, 0.0]))
    assert curve.auc == pytest.approx(0.25)


def test_a_map_on_the_evidence_deletes_faster_and_inserts_faster_than_random():
    inp = prepare_input(make_record(seconds=2.0), PreprocessConfig())
    values = np.zeros_like(inp.x)
    values[II, 200:300] = 1.0
    model = RegionModel()
    deletion, insertion = perturbation_curves(model, inp, values, "AF", steps=10)
    random_deletion, random_insertion = perturbation_curves(model, inp, None, "AF", steps=10)
    assert deletion.scores[0] == pytest.approx(random_deletion.scores[0]) and deletion.scores[0] > 0.9
    assert deletion.scores[1] < 0.1 and insertion.scores[1] > 0.9
    assert deletion.auc < random_deletion.auc - 0.2
    assert insertion.auc > random_insertion.auc + 0.2
    np.testing.assert_allclose(deletion.fractions, np.linspace(0, 1, 11))


@pytest.fixture(scope="module")
def pvc_record(tmp_path_factory):
    folder = tmp_path_factory.mktemp("demo")
    return generate_record(7, ["PVC"], name="SYN00001", seconds=4.0).write(folder)


def test_localisation_scores_a_map_against_the_annotated_pvc_beats(pvc_record):
    annotations = read_annotations(pvc_record)
    region = np.zeros(annotations.samples)
    for start, stop in annotations.ranges("pvc"):
        region[start:stop] = 1.0
    assert 0 < region.mean() < 1
    on_target = make_frame(np.tile(region, (2, 1)), ["I", "II"], annotations.fs)
    scores = localisation(on_target, annotations, "PVC")
    assert scores["mass_in_region"] == pytest.approx(1.0)
    assert scores["relevance_ratio"] == pytest.approx(1.0 / region.mean())
    assert scores["pointing_game"] == 1.0
    uniform = localisation(
        make_frame(np.ones((2, annotations.samples)), ["I", "II"], 500.0), annotations, "PVC"
    )
    assert uniform["relevance_ratio"] == pytest.approx(1.0)
    assert np.isnan(localisation(on_target, annotations, "AF")["relevance_ratio"])  # a rhythm: no region


def test_faithfulness_rows_table_and_readme_markdown(pvc_record):
    model = small_model()
    results = faithfulness(
        model, [pvc_record], methods=("attention", "saliency", "integrated_gradients"), steps=4,
        settings={"n_steps": 4}, random_seeds=3,
    )  # fmt: skip
    record = read_record(pvc_record)
    labelled = int(record.labels.sum())
    # attention, saliency, IG from zeros, IG from low-pass and the random reference, under two fills
    assert len(results) == labelled * 5 * 2
    assert set(results["method"]) == {"attention", "saliency", "integrated_gradients", "random"}
    assert set(results["fill"]) == {"zeros", "lowpass"}
    ig = results[results["method"] == "integrated_gradients"]
    assert set(zip(ig["baseline"], ig["fill"])) == {
        (b, f) for b in ("zeros", "lowpass") for f in ("zeros", "lowpass")
    }
    assert results[["deletion_auc", "insertion_auc"]].notna().all().all()
    pvc_rows = results[(results["class"] == "PVC") & (results["method"] != "random")]
    assert pvc_rows["relevance_ratio"].notna().all()
    table = faithfulness_table(results)
    assert list(table.index) == [
        "attention (mean)",
        "saliency",
        "integrated gradients, zeros baseline",
        "integrated gradients, lowpass baseline",
        "random ranking (3 seeds)",
    ]
    assert {"deletion_auc@zeros", "deletion_auc@lowpass", "insertion_auc@lowpass"} <= set(table.columns)
    assert isinstance(table, pd.DataFrame) and table.loc["saliency", "pairs"] == labelled
    assert table.loc["saliency", "localised"] >= 1 and table.loc["random ranking (3 seeds)", "localised"] == 0
    markdown = readme_table(
        model, pvc_record.parent, records=1, methods=("saliency",), steps=2, progress=False
    )
    lines = markdown.splitlines()
    assert lines[0].startswith("| method | pairs | localised | deletion AUC, zeros fill (lower is better)")
    assert lines[2].startswith("| saliency |") and lines[3].startswith("| random ranking (5 seeds) |")


def test_the_random_reference_is_the_mean_over_its_seeds(pvc_record):
    model = small_model()
    results = faithfulness(
        model, [pvc_record], methods=("saliency",), targets=["PVC"], steps=4, random_seeds=3
    )
    inp = prepare_input(read_record(pvc_record), PreprocessConfig())
    for fill in ("zeros", "lowpass"):
        curves = [perturbation_curves(model, inp, None, "PVC", fill, steps=4, seed=seed) for seed in range(3)]
        row = results[(results["method"] == "random") & (results["fill"] == fill)].iloc[0]
        assert row["deletion_auc"] == pytest.approx(np.mean([d.auc for d, _ in curves]))
        assert row["insertion_auc"] == pytest.approx(np.mean([i.auc for _, i in curves]))
    assert len({round(d.auc, 9) for d, _ in curves}) > 1  # the seeds do rank differently


def test_the_fill_decides_what_deleting_a_segment_means():
    inp = prepare_input(make_record(seconds=2.0), PreprocessConfig())
    values = np.zeros_like(inp.x)
    values[II, 200:300] = 1.0
    zeros, _ = perturbation_curves(RegionModel(), inp, values, "AF", "zeros", steps=10)
    lowpass, _ = perturbation_curves(RegionModel(), inp, values, "AF", "lowpass", steps=10)
    assert zeros.scores[1] < 0.1  # the region's energy is gone
    assert lowpass.scores[1] != pytest.approx(zeros.scores[1])


def test_bad_inputs_are_named(tmp_path):
    with pytest.raises(ValueError, match="unknown explanation method 'lrp'"):
        faithfulness(small_model(), [make_record()], methods=("lrp",))
    with pytest.raises(FileNotFoundError, match="no demo records with annotation side files"):
        readme_table(small_model(), tmp_path)
