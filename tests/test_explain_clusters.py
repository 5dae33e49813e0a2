"""Time-localized clusters (explain.clusters): fitting, files, per-record frames, surrogate, landmarks,
figures and the command lines, on a small real network and a few generated records."""

from __future__ import annotations

import importlib.util
import json

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pandas as pd
import pytest
import torch
from explain_helpers import make_record, small_model, write_checkpoint
from sklearn.mixture import GaussianMixture

from explain.cli import main as explain_main
from explain.clusters import (
    LANDMARKS,
    POOLED_COLUMN,
    ClusterFileError,
    ClusterModel,
    Reservoir,
    SignalSet,
    TokenSample,
    class_table,
    collect_vectors,
    composition,
    fit_clusters,
    fit_sample,
    landmark_labels,
    landmark_names,
    landmark_nmi,
    model_digest,
    plot_class_table,
    plot_clusters,
    plot_sweep,
    record_clusters,
    resolve_blocks,
    summarise_signals,
    surrogate,
    token_batch,
)
from explain.clusters.cli import main as clusters_main
from explain.plotting import Sheet
from leadattn.checkpoint import LoadedModel, load_model
from leadattn.data import PreprocessConfig, RecordError, prepare
from leadattn.labels import ABBREVIATIONS, NUM_CLASSES
from leadattn.synth import generate_dataset, read_annotations

pytestmark = pytest.mark.usefixtures("one_torch_thread")

HAS_PMECG = importlib.util.find_spec("pmecg") is not None


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """Twelve generated 4 s records with annotation side files, and their manifest."""
    folder = tmp_path_factory.mktemp("demo")
    data = folder / "records"
    generate_dataset(data, 12, seed=3, seconds=4.0, workers=1)
    manifest = folder / "demo.csv"
    prepare(data, out=manifest, workers=1)
    return manifest, sorted(data.glob("*.hea"))


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    return write_checkpoint(tmp_path_factory.mktemp("ckpt") / "small.pt")


@pytest.fixture(scope="module")
def loaded(checkpoint):
    return load_model(checkpoint)


@pytest.fixture(scope="module")
def fitted(loaded, demo):
    manifest, _ = demo
    signals = SignalSet.from_manifest(manifest, loaded.preprocess)
    return fit_clusters(loaded, signals, 4, max_vectors=20_000)


def test_reservoir_keeps_a_bounded_uniform_sample():
    reservoir = Reservoir(1000, seed=1)
    stream = np.arange(20_000, dtype=np.float32)[:, None]
    for chunk in np.array_split(stream, 37):
        reservoir.add(chunk)
    kept = reservoir.sample[:, 0]
    assert reservoir.seen == 20_000 and kept.shape == (1000,)
    assert len(np.unique(kept)) == 1000
    assert abs(kept.mean() - 10_000) < 600  # a uniform sample's mean is 10,000 +- 183 (1 sd)
    assert (kept < 10_000).mean() == pytest.approx(0.5, abs=0.06)


def test_reservoir_keeps_each_rows_tag():
    reservoir = Reservoir(50, seed=2)
    for start in range(0, 400, 40):
        rows = np.arange(start, start + 40, dtype=np.float32)[:, None]
        reservoir.add(rows, tags=(rows[:, 0] % 12).astype(np.int16))
    np.testing.assert_array_equal(reservoir.tags, reservoir.sample[:, 0] % 12)


def test_per_lead_clusters_are_centred_on_each_leads_mean_token():
    rng = np.random.default_rng(0)
    leads = np.repeat(np.arange(12), 200)
    state = rng.integers(0, 2, leads.size)  # the wave each token is in
    offsets = rng.normal(0, 20, (12, 4))  # lead identity, much larger than the states
    vectors = (offsets[leads] + 3.0 * state[:, None] + rng.normal(0, 0.3, (leads.size, 4))).astype(np.float32)
    means = np.stack([vectors[leads == lead].mean(axis=0) for lead in range(12)])
    sample = TokenSample(vectors, (0,), "lead", 12, leads.size, [], leads, means)
    centred = fit_sample(sample, 2, "d", 500.0, pca=None)
    found = centred.responsibilities(vectors, leads).argmax(axis=1)
    assert max((found == state).mean(), (found != state).mean()) > 0.99
    plain = fit_sample(sample, 2, "d", 500.0, pca=None, center_leads=False)
    same = (plain.responsibilities(vectors).argmax(axis=1) == state).mean()
    assert max(same, 1 - same) < 0.9  # without centring the two clusters split leads, not states
    with pytest.raises(ValueError, match="give the lead slot of every vector"):
        centred.responsibilities(vectors)


def test_token_batch_takes_block_outputs_on_the_finest_grid():
    model = small_model()
    x = torch.randn(2, 12, 2000)
    mask = torch.ones(2, 12, dtype=torch.bool)
    batch = token_batch(model, x, mask, (0, 2))
    assert batch.features.shape == (2, 12, 125, 32)
    assert batch.geometry.stride == 16 and batch.geometry.num_tokens == 125
    coarse = batch.features[..., 16:]
    np.testing.assert_array_equal(coarse[:, :, 0::2][:, :, :62], coarse[:, :, 1::2])
    with torch.no_grad():
        np.testing.assert_allclose(batch.logits, model(x, mask).numpy(), rtol=1e-5, atol=1e-6)
    assert all(not block._forward_hooks for block in model.blocks)


def test_blocks_resolve_to_the_last_stage_and_reject_missing_ones():
    model = small_model()
    assert resolve_blocks(model) == (2,)
    assert resolve_blocks(model, [-1, 0]) == (0, 2)
    with pytest.raises(ValueError, match=r"block 3 does not exist: the model has 3 blocks \(0..2\)"):
        resolve_blocks(model, [3])
    with pytest.raises(ValueError, match="name a block twice"):
        resolve_blocks(model, [2, -1])


def test_a_stem_layer_gives_vectors_at_its_own_spacing():
    model = small_model()
    x = torch.randn(2, 12, 2000)
    mask = torch.ones(2, 12, dtype=torch.bool)
    batch = token_batch(model, x, mask, ("stem.0",))
    assert batch.geometry == model.stem.geometry(2000, layers=1)
    assert batch.geometry.stride == 4 and batch.features.shape == (2, 12, 500, 8)
    with torch.no_grad():
        layer = model.stem.layers[0](x)  # the first convolution, before its normalisation
    expected = layer.reshape(2, 12, 8, 500).transpose(2, 3).numpy()
    np.testing.assert_allclose(batch.features, expected, rtol=1e-5, atol=1e-6)
    last = token_batch(model, x, mask, ("stem.1",))
    assert last.geometry == model.stem.geometry(2000) and last.features.shape == (2, 12, 125, 16)
    assert all(not m._forward_hooks for m in model.stem.layers)


def test_stem_and_block_vectors_meet_on_the_stem_grid_by_nearest_centre():
    model = small_model()
    x = torch.randn(1, 12, 2000)
    mask = torch.ones(1, 12, dtype=torch.bool)
    both = token_batch(model, x, mask, ("stem.0", 0))
    block = token_batch(model, x, mask, (0,)).features
    assert both.geometry.stride == 4 and both.features.shape == (1, 12, 500, 8 + 16)
    # stem.0 token centres lie at sample 4n, block-0 token centres at 16m: stem token n takes block
    # token n / 4 rounded (ties to the later), the last one clipped to the 125 block tokens
    aligned = both.features[..., 8:]
    for n, m in [(0, 0), (1, 0), (2, 1), (5, 1), (6, 2), (499, 124)]:
        np.testing.assert_array_equal(aligned[:, :, n], block[:, :, m])


def test_token_sources_resolve_stem_layers_and_reject_unknown_names():
    model = small_model()
    assert resolve_blocks(model, [-1, "stem.1", "0", " stem.0 "]) == ("stem.0", "stem.1", 0, 2)
    with pytest.raises(ValueError, match=r"stem layer 'stem.2' does not exist: the stem has 2 layers"):
        resolve_blocks(model, ["stem.2"])
    with pytest.raises(ValueError, match=r"unknown token source 'stem1': give a block index \(0..2"):
        resolve_blocks(model, ["stem1"])
    with pytest.raises(ValueError, match="stem layer 'stem.x' does not exist"):
        resolve_blocks(model, ["stem.x"])
    with pytest.raises(ValueError, match="name a block twice"):
        resolve_blocks(model, ["stem.0", "stem.00"])
    with pytest.raises(TypeError, match="block indices or 'stem.i'"):
        resolve_blocks(model, [1.0])


def test_clusters_of_a_stem_layer_fit_save_and_segment_a_record(loaded, demo, tmp_path):
    manifest, records = demo
    signals = SignalSet.from_manifest(manifest, loaded.preprocess)
    clusters = fit_clusters(loaded, signals, 3, blocks=["stem.0", -1], pca=8, max_vectors=5000)
    assert clusters.blocks == ("stem.0", 2) and clusters.dim == 8 + 16
    again = ClusterModel.load(clusters.save(tmp_path / "stem.npz"))
    assert again.blocks == ("stem.0", 2)
    found = record_clusters(loaded, again, records[0])
    assert found.ids.attrs["blocks"] == ["stem.0", 2]
    assert found.ids.notna().all().all() and found.proportions.notna().all().all()


def _blobs(seed: int = 0) -> TokenSample:
    rng = np.random.default_rng(seed)
    centres = np.array([[0.0] * 6, [6.0] * 6, [0.0, 6, 0, 6, 0, 6]])
    vectors = np.concatenate([c + rng.normal(size=(400, 6)) for c in centres]).astype(np.float32)
    return TokenSample(vectors, (0,), "lead", 10, len(vectors), [])


def test_gmm_responsibilities_equal_scikit_learns():
    sample = _blobs()
    clusters = fit_sample(sample, 3, "d", 500.0, pca=4)
    reference = GaussianMixture(3, covariance_type="diag")
    reference.weights_, reference.means_ = clusters.weights_, clusters.means_
    reference.covariances_ = clusters.variances_
    reference.precisions_cholesky_ = 1.0 / np.sqrt(clusters.variances_)
    z = clusters.reduce(sample.vectors)
    np.testing.assert_allclose(
        clusters.responsibilities(sample.vectors), reference.predict_proba(z), atol=1e-8
    )
    hard = clusters.responsibilities(sample.vectors).argmax(axis=1).reshape(3, 400)
    assert all(len(np.unique(row)) == 1 for row in hard) and len(np.unique(hard[:, 0])) == 3


def test_soft_kmeans_is_soft_and_round_trips(tmp_path):
    sample = _blobs(1)
    clusters = fit_sample(sample, 3, "d", 500.0, method="kmeans", pca=None)
    resp = clusters.responsibilities(sample.vectors)
    np.testing.assert_allclose(resp.sum(axis=1), 1.0)
    assert 0.9 < resp.max(axis=1).mean() < 1.0
    again = ClusterModel.load(clusters.save(tmp_path / "k"))
    assert again.method == "kmeans" and again.temperature == clusters.temperature
    np.testing.assert_allclose(again.responsibilities(sample.vectors), resp)


def test_k_larger_than_the_vectors_is_an_error(loaded, demo):
    manifest, _ = demo
    sample = collect_vectors(
        loaded, SignalSet.from_manifest(manifest, loaded.preprocess, folds=None), max_vectors=5
    )
    assert sample.vectors.shape[0] == 5 and sample.vectors_seen > 5
    with pytest.raises(ValueError, match="K=8 is larger than the 5 token vectors collected"):
        fit_sample(sample, 8, "d", 500.0, pca=None)
    with pytest.raises(ValueError, match="K must be an integer of at least 2"):
        fit_sample(sample, 1, "d", 500.0, pca=None)
    with pytest.raises(ValueError, match="pca must keep between 1 and 16"):
        fit_sample(sample, 2, "d", 500.0, pca=40)


def test_cluster_file_round_trips_and_is_bound_to_its_network(fitted, loaded, tmp_path):
    path = fitted.save(tmp_path / "clusters.npz")
    with np.load(path, allow_pickle=False) as data:
        assert json.loads(str(data["header"]))["digest"] == model_digest(loaded.model)
    again = ClusterModel.load(path)
    assert again.names == fitted.names and again.blocks == (2,) and again.info == fitted.info
    np.testing.assert_array_equal(again.means_, fitted.means_)
    record = make_record(seconds=3.0)
    first = record_clusters(loaded, fitted, record).ids
    pd.testing.assert_frame_equal(record_clusters(loaded, again, record).ids, first)
    other = LoadedModel(small_model(seed=1), loaded.preprocess, loaded.classes, loaded.thresholds, {}, {})
    with pytest.raises(ClusterFileError, match="fitted on another network"):
        record_clusters(other, again, record)


def test_damaged_or_missing_cluster_files_are_named(tmp_path):
    with pytest.raises(ClusterFileError, match="does not exist"):
        ClusterModel.load(tmp_path / "none.npz")
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a zip")
    with pytest.raises(ClusterFileError, match=r"bad.npz cannot be read"):
        ClusterModel.load(bad)


def test_record_frames_follow_the_explain_conventions(fitted, loaded):
    record = make_record(seconds=3.0, fs=250.0)
    found = record_clusters(loaded, fitted, record)
    assert list(found.ids.columns) == list(record.leads) == list(found.entropy.columns)
    assert len(found.ids) == record.signal.shape[1] and found.ids.index.name == "time_s"
    assert str(found.ids.dtypes.iloc[0]) == "Int64" and not found.ids.isna().any().any()
    assert set(np.unique(found.ids.to_numpy(dtype=np.int64))) <= set(range(fitted.k))
    entropy = found.entropy.to_numpy()
    assert np.all((entropy >= 0) & (entropy <= 1 + 1e-9))
    np.testing.assert_allclose(found.proportions.sum(axis=1), 1.0)
    shares = found.ids["II"].value_counts(normalize=True).reindex(range(fitted.k), fill_value=0)
    np.testing.assert_allclose(found.proportions.loc["II"].to_numpy(), shares.to_numpy())
    assert found.ids.attrs["record"] == record.name and found.ids.attrs["clusters"] == fitted.names


def test_absent_leads_get_no_column_and_nan_proportions(fitted, loaded):
    record = make_record(seconds=2.0, leads=("I", "II", "V2"))
    found = record_clusters(loaded, fitted, record)
    assert list(found.ids.columns) == ["I", "II", "V2"]
    assert found.proportions.loc[["I", "II", "V2"]].notna().all().all()
    assert found.proportions.drop(index=["I", "II", "V2"]).isna().all().all()
    subset = record_clusters(loaded, fitted, make_record(seconds=2.0), leads="I,II")
    assert list(subset.ids.columns) == ["I", "II"]
    with pytest.raises(ValueError, match="lead.*V5 requested but the record has only I, II, V2"):
        record_clusters(loaded, fitted, record, leads="I,V5")


def test_short_and_truncated_records(fitted, loaded):
    short = record_clusters(loaded, fitted, make_record(seconds=1.2))  # shorter than the model's windows
    assert not short.ids.isna().any().any()
    with pytest.raises(RecordError, match="T0001: 0.50 s of signal; at least 1 s needed"):
        record_clusters(loaded, fitted, make_record(seconds=0.5))
    truncating = LoadedModel(
        loaded.model, PreprocessConfig(max_seconds=2.0), loaded.classes, loaded.thresholds, {}, {}
    )
    found = record_clusters(truncating, fitted, make_record(seconds=3.0))
    assert found.ids.iloc[:1000].notna().all().all() and found.ids.iloc[1000:].isna().all().all()
    assert found.entropy.iloc[1000:].isna().all().all()


def test_per_timestamp_view_has_one_pooled_column(loaded, demo):
    manifest, _ = demo
    signals = SignalSet.from_manifest(manifest, loaded.preprocess)
    pooled = fit_clusters(loaded, signals, 3, view="timestamp", blocks=[0, -1], pca=8)
    assert pooled.blocks == (0, 2) and pooled.dim == 32
    found = record_clusters(loaded, pooled, make_record(seconds=2.0, leads=("I", "II")))
    assert list(found.ids.columns) == [POOLED_COLUMN] and list(found.proportions.index) == [POOLED_COLUMN]
    with pytest.raises(ValueError, match="view must be one of"):
        fit_clusters(loaded, signals, 3, view="beat")


def test_summary_surrogate_and_class_table(fitted, loaded, demo):
    manifest, _ = demo
    signals = SignalSet.from_manifest(manifest, loaded.preprocess)
    summary = summarise_signals(loaded, fitted, signals)
    assert summary.proportions.shape == (12, 12, fitted.k) and summary.probabilities.shape == (
        12,
        NUM_CLASSES,
    )
    np.testing.assert_allclose(summary.record_proportions.sum(axis=1), 1.0)
    assert summary.features().shape == (12, 12 * fitted.k)
    result = surrogate(
        summary.features(),
        summary.probabilities,
        loaded.thresholds["12"],
        summary.labels,
        folds=3,
        n_estimators=10,
    )
    assert list(result.table.index) == list(ABBREVIATIONS) and result.summary["records"] == 12
    assert 0 <= result.summary["agreement"] <= 1
    table = class_table(summary.record_proportions, summary.entropy, summary.labels, fitted.names)
    assert (table["records"] == summary.labels.sum(axis=0)).all()
    members = table[table["records"] > 0]
    np.testing.assert_allclose(members[fitted.names].sum(axis=1), 1.0)


def test_surrogate_agrees_when_the_features_carry_the_predictions():
    rng = np.random.default_rng(0)
    features = rng.random((60, 3))
    cuts = rng.uniform(0.3, 0.7, NUM_CLASSES)
    predicted = features[:, np.arange(NUM_CLASSES) % 3] > cuts  # each class reads one feature
    probabilities = np.where(predicted, 0.9, 0.1)
    labels = predicted.copy()
    test = np.arange(60) % 4 == 0
    result = surrogate(features, probabilities, np.full(NUM_CLASSES, 0.5), labels, test=test, n_estimators=15)
    assert result.summary["records"] == 15 and result.summary["agreement"] > 0.98
    assert result.summary["auroc"] == pytest.approx(result.summary["network_auroc"], abs=0.02)
    unrelated = surrogate(
        rng.random((60, 4)), probabilities, np.full(NUM_CLASSES, 0.5), labels, folds=3, n_estimators=5
    )
    assert unrelated.summary["exact_agreement"] < 0.2
    with pytest.raises(ValueError, match="test must mark some, not all"):
        surrogate(features, probabilities, np.full(NUM_CLASSES, 0.5), labels, test=np.ones(60, bool))


def test_surrogate_targets_probabilities_or_true_labels():
    rng = np.random.default_rng(1)
    features = rng.random((80, 3))
    probabilities = features[:, np.arange(NUM_CLASSES) % 3]  # the network's output is one feature
    thresholds = np.full(NUM_CLASSES, 0.7)
    labels = features[:, (np.arange(NUM_CLASSES) + 1) % 3] > 0.5  # the truth is another one
    test = np.arange(80) % 4 == 0
    soft = surrogate(
        features, probabilities, thresholds, labels, test=test, n_estimators=15, target="probabilities"
    )
    assert np.abs(soft.probabilities - probabilities[test]).max() < 0.15  # it regresses the outputs
    assert soft.summary["agreement"] > 0.9  # and says yes where they reach the network's thresholds
    truth = surrogate(
        features, probabilities, thresholds, labels, test=test, n_estimators=15, target="labels"
    )
    assert truth.summary["auroc"] > 0.9 > soft.summary["auroc"]
    with pytest.raises(ValueError, match="target must be one of"):
        surrogate(features, probabilities, thresholds, labels, test=test, target="truth")


def test_landmarks_label_samples_and_score_a_perfect_clustering(demo):
    _, paths = demo
    notes = [read_annotations(p) for p in paths[:4]]
    marks = landmark_labels(notes[0])
    for start, stop in notes[0].ranges("qrs"):
        if not any(s <= start < e for s, e in notes[0].ranges("pvc")):
            assert (marks[start:stop] == LANDMARKS.index("QRS")).all()
    perfect = [
        pd.DataFrame({"I": landmark_labels(n), "II": landmark_labels(n)}).astype("Int64") for n in notes
    ]
    names = [f"c{k}" for k in range(len(LANDMARKS))]
    table = composition(perfect, notes, names)
    np.testing.assert_allclose(table[list(LANDMARKS)].sum(axis=1)[table["samples"] > 0], 1.0)
    assert table.loc["c2", "QRS"] == 1.0
    assert landmark_nmi(perfect, notes) == pytest.approx(1.0)
    assert landmark_names(table)[2] == "QRS 100 %"
    merged = [frame.where(frame != 3, 2) for frame in perfect]  # ST-T joins QRS
    assert landmark_nmi(merged, notes) < 1.0
    assert landmark_names(composition(merged, notes, names))[2].startswith("ST-T")
    with pytest.raises(ValueError, match="the cluster frame has 10 samples"):
        composition([perfect[0].iloc[:10]], notes[:1], names)


@pytest.mark.skipif(not HAS_PMECG, reason="pmecg (the plot extra) is not installed")
def test_figures(fitted, loaded, demo):
    _, paths = demo
    found = record_clusters(loaded, fitted, paths[0])
    figure = plot_clusters(paths[0], found, sheet=Sheet(seconds=4.0))
    legend = figure.legends[0]
    assert {t.get_text() for t in legend.get_texts()} <= set(fitted.names)
    assert "clusters per lead" in figure._suptitle.get_text()
    with pytest.raises(ValueError, match="rhythm strip lead 'V9' has no clusters"):
        plot_clusters(paths[0], found, sheet=Sheet(rhythm_strip="V9"))
    with pytest.raises(ValueError, match="the clusters describe another record"):
        plot_clusters(paths[1], found)
    table = class_table(
        np.full((2, fitted.k), 1 / fitted.k),
        np.array([0.1, 0.2]),
        np.eye(2, NUM_CLASSES, dtype=bool),
        fitted.names,
    )
    assert len(plot_class_table(table, fitted.names).axes) == 2
    sweep = pd.DataFrame({"bic": [3.0, 2.0], "silhouette": [0.2, 0.3]}, index=pd.Index([2, 3], name="k"))
    assert len(plot_sweep(sweep).axes) == 2


def test_fit_command_then_explain_with_clusters(tmp_path, checkpoint, demo, capsys):
    manifest, paths = demo
    out = tmp_path / "clusters.npz"
    code = clusters_main(
        [
            "fit",
            str(checkpoint),
            str(manifest),
            "--out",
            str(out),
            "--k",
            "auto",
            "--sweep",
            "2-3",
            "--threads",
            "1",
            "--name-records",
            "3",
        ]
    )
    assert code == 0, capsys.readouterr().err
    report = json.loads(out.with_suffix(".report.json").read_text())
    assert report["k"] in (2, 3) and set(report["sweep"]) == {"2", "3"}
    assert report["landmarks"]["records"] == 3 and 0 <= report["landmarks"]["nmi"] <= 1
    assert ClusterModel.load(out).names == report["names"] and "%" in report["names"][0]
    assert out.with_suffix(".sweep.png").stat().st_size > 1000 and out.with_suffix(".report.md").is_file()
    explained = tmp_path / "explained"
    args = [str(paths[0]), "--checkpoint", str(checkpoint), "--out", str(explained), "--methods", "attention"]
    code = explain_main(
        [*args, "--clusters", str(out), "--threads", "1", "--format", "png" if HAS_PMECG else "none"]
    )
    assert code == 0, capsys.readouterr().err
    predictions = json.loads((explained / "predictions.json").read_text())
    assert predictions["clusters"]["names"] == report["names"]
    ids = pd.read_csv(explained / "clusters.csv", index_col=0)
    assert list(ids.columns) == list(read_annotations(paths[0]).details.get("leads", ids.columns))
    assert len(ids) == read_annotations(paths[0]).samples
    assert (explained / "cluster_entropy.csv").is_file() and (explained / "cluster_proportions.csv").is_file()
    if HAS_PMECG:
        assert (explained / "clusters.png").stat().st_size > 1000


def test_commands_reject_bad_input_with_one_line(tmp_path, checkpoint, demo, capsys):
    manifest, paths = demo
    other = write_checkpoint(tmp_path / "other.pt", small_model(seed=5))
    out = tmp_path / "c.npz"
    assert (
        clusters_main(
            [
                "fit",
                str(other),
                str(manifest),
                "--out",
                str(out),
                "--k",
                "2",
                "--threads",
                "1",
                "--name-records",
                "0",
            ]
        )
        == 0
    )
    capsys.readouterr()
    args = [
        str(paths[0]),
        "--checkpoint",
        str(checkpoint),
        "--out",
        str(tmp_path / "e"),
        "--methods",
        "attention",
    ]
    assert explain_main([*args, "--clusters", str(out), "--format", "none"]) == 2
    assert "fitted on another network" in capsys.readouterr().err
    bad_block = ["fit", str(checkpoint), str(manifest), "--out", str(out), "--blocks", "7"]
    assert clusters_main(bad_block) == 2
    assert "block 7 does not exist" in capsys.readouterr().err
    bad_layer = ["fit", str(checkpoint), str(manifest), "--out", str(out), "--blocks", "stem.0,stem.5"]
    assert clusters_main(bad_layer) == 2
    assert "stem layer 'stem.5' does not exist: the stem has 2 layers" in capsys.readouterr().err
    assert clusters_main(["fit", str(checkpoint), str(manifest), "--out", str(out), "--k", "auto"]) == 2
    assert "--k auto needs --sweep" in capsys.readouterr().err
