"""Tests for leadattn.evaluation: challenge files, splits, thresholds files, and whole evaluations of a
small random-init LocalLeadAttentionNet on the shared records, through Python and through the CLI."""

from __future__ import annotations

import argparse
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from explain_helpers import SMALL_CONFIG, checkpoint_payload

from leadattn import metrics
from leadattn.checkpoint import CheckpointError, save_checkpoint
from leadattn.data import PreprocessConfig, read_manifest, read_record
from leadattn.errors import run_cli
from leadattn.evaluation import (
    evaluate,
    export_outputs,
    read_label_file,
    read_outputs,
    read_predictions,
    read_thresholds,
    score_outputs,
    select_split,
    write_outputs,
)
from leadattn.evaluation.cli import main, register
from leadattn.evaluation.predictions import SCORE_COLUMNS, prediction_arrays
from leadattn.evaluation.report import split_warnings
from leadattn.labels import ABBREVIATIONS, CLASS_KEYS, NUM_CLASSES, class_index

SMALL = replace(SMALL_CONFIG, stem_strides=(8, 8), depths=(1, 1), within_heads=(2, 2), windows=(8, 8))
"""A two-stage network of a few thousand parameters: fast enough for every record in the tests."""


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    return save_checkpoint(tmp_path_factory.mktemp("ckpt") / "small.pt", checkpoint_payload(SMALL))


@pytest.fixture(scope="module")
def few_records(tmp_path_factory, records_manifest) -> Path:
    """A manifest of real test records (up to two per source) plus one whose files do not exist."""
    frame = read_manifest(records_manifest)
    chosen = frame.groupby("source").head(2).copy()
    ghost = chosen.iloc[[0]].copy()
    ghost["name"], ghost["path"] = "E99999", "missing/E99999"
    path = tmp_path_factory.mktemp("manifest") / "few.csv"
    pd.concat([chosen, ghost]).to_csv(path, index=False)
    return path


# ---------------------------------------------------------------------------------------------------
# Challenge output files


def test_output_file_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    scores, outputs = rng.random(NUM_CLASSES), rng.random(NUM_CLASSES) > 0.5
    path = write_outputs(tmp_path / "A0001.csv", "A0001", scores, outputs)
    lines = path.read_text().splitlines()
    assert lines[0] == "#A0001" and len(lines) == 4
    assert lines[1].split(",")[class_index("RBBB")] == "713427006"
    read = read_outputs(path)
    assert read.record == "A0001"
    np.testing.assert_array_equal(read.outputs, outputs)
    np.testing.assert_array_equal(read.scores, scores)  # repr() keeps every bit


def test_output_file_merges_equivalent_codes_like_the_challenge(tmp_path):
    path = tmp_path / "r.csv"
    path.write_text(
        "#r\n"
        "713427006, 59118001, 164889003, 17338001, 427172004, 55827005, 733534002|164909002\n"
        "0, 1, False, 0, 0, 1, T\n"
        "0.2, 0.6, 0.9, 0.1, 0.3, 0.8, 0.7\n"
    )
    read = read_outputs(path)
    rbbb, af, pvc, lbbb = (class_index(c) for c in ("RBBB", "AF", "PVC", "LBBB"))
    assert read.outputs[rbbb] and read.outputs[lbbb] and not read.outputs[af] and not read.outputs[pvc]
    assert read.scores[rbbb] == pytest.approx(0.4) and read.scores[pvc] == pytest.approx(0.2)
    assert read.scores[af] == pytest.approx(0.9) and read.scores[lbbb] == pytest.approx(0.7)
    assert read.outputs.sum() == 2 and read.scores[class_index("NSR")] == 0.0  # absent class: 0
    # 55827005 (left ventricular hypertrophy) is an unscored diagnosis: accepted and ignored


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("164889003,999\n1,0\n0.5,0.5\n", r"unknown class code\(s\) 999"),
        ("164889003\n1\nnan\n", "score 'nan' is NaN or infinite"),
        ("164889003\n1\nhigh\n", "score 'high' is not a number"),
        ("164889003\nyes\n0.5\n", "binary output 'yes' is not 0/1"),
        ("164889003,164890007\n1\n0.5,0.5\n", "different numbers of fields"),
        ("164889003\n1\n", "expected 3 lines"),
    ],
)
def test_bad_output_files_are_named_in_the_error(tmp_path, body, message):
    path = tmp_path / "bad.csv"
    path.write_text("#bad\n" + body)
    with pytest.raises(ValueError, match=message) as error:
        read_outputs(path)
    assert "bad.csv" in str(error.value)


def test_label_file_reads_dx(tmp_path, records_dir):
    np.testing.assert_array_equal(
        read_label_file(records_dir / "E07500.hea"), read_record(records_dir / "E07500").labels
    )
    (tmp_path / "x.hea").write_text("x 1 500 10\n#Dx: 59118001,164889003, 251146004\n")
    assert set(np.flatnonzero(read_label_file(tmp_path / "x.hea"))) == {
        class_index("RBBB"),
        class_index("AF"),
        class_index("LQRSV"),
    }
    (tmp_path / "y.hea").write_text("y 1 500 10\n#Age: 50\n")
    with pytest.raises(ValueError, match=r"y.hea: no '#Dx:' line"):
        read_label_file(tmp_path / "y.hea")


def test_score_outputs_equals_scoring_the_arrays(tmp_path, records_dir):
    names = sorted(p.stem for p in records_dir.glob("*.hea"))
    labels = np.stack([read_record(records_dir / n).labels for n in names])
    rng = np.random.default_rng(1)
    scores = np.clip(0.3 * labels + 0.7 * rng.random(labels.shape), 0, 1)
    outputs = scores > 0.5
    for name, s, o in zip(names, scores, outputs):
        write_outputs(tmp_path / f"{name}.csv", name, s, o)
    result = score_outputs(tmp_path, records_dir)
    expected = metrics.score(labels, scores, outputs)
    assert result["records"] == len(names)
    for name in metrics.HEADLINE:
        assert result[name] == pytest.approx(expected[name], abs=1e-12)
    (tmp_path / f"{names[3]}.csv").unlink()
    with pytest.raises(ValueError, match=f"1 record\\(s\\) of .* have no output file .* {names[3]}"):
        score_outputs(tmp_path, records_dir)


# ---------------------------------------------------------------------------------------------------
# Splits and thresholds files


def _empty_fold(frame: pd.DataFrame) -> int:
    """A fold without records: the 50 sample records leave one out."""
    return next(f for f in range(10) if f not in set(frame["fold"]))


def test_select_split(sample_manifest):
    frame = read_manifest(sample_manifest)
    chosen, text = select_split(frame, folds=[3, 4])
    assert set(chosen["fold"]) == {3, 4} and text == "folds 3, 4"
    chosen, _ = select_split(frame, records=["E07502", "E07500"])
    assert list(chosen["name"]) == ["E07502", "E07500"]
    assert len(select_split(frame)[0]) == len(frame)
    empty = _empty_fold(frame)
    with pytest.raises(ValueError, match=rf"the split \(fold {empty}\) selects no records"):
        select_split(frame, folds=empty)
    with pytest.raises(ValueError, match="not in the manifest, e.g. NOPE"):
        select_split(frame, records=["NOPE"])
    with pytest.raises(ValueError, match="not both"):
        select_split(frame, folds=1, records=["E07500"])


def test_read_thresholds_formats(tmp_path):
    values = np.linspace(0.1, 0.9, NUM_CLASSES)
    (tmp_path / "list.json").write_text(json.dumps(values.tolist()))
    (tmp_path / "map.json").write_text(json.dumps({"thresholds": dict(zip(ABBREVIATIONS, values))}))
    rows = "".join(f"{a},{v}\n" for a, v in zip(CLASS_KEYS, values))
    (tmp_path / "t.csv").write_text("class,threshold\n" + rows)
    for name in ("list.json", "map.json", "t.csv"):
        np.testing.assert_allclose(read_thresholds(tmp_path / name), values)
    (tmp_path / "short.json").write_text(json.dumps(values[:3].tolist()))
    with pytest.raises(ValueError, match="3 thresholds, expected 26"):
        read_thresholds(tmp_path / "short.json")
    (tmp_path / "partial.json").write_text(json.dumps({"AF": 0.3, "XYZ": 0.2}))
    with pytest.raises(ValueError, match="unknown class 'XYZ'"):
        read_thresholds(tmp_path / "partial.json")
    (tmp_path / "partial.json").write_text(json.dumps({"AF": 0.3}))
    with pytest.raises(ValueError, match="no threshold for AFL, BBB"):
        read_thresholds(tmp_path / "partial.json")


# ---------------------------------------------------------------------------------------------------
# Whole evaluations


def test_evaluate_writes_a_consistent_report_and_skips_unreadable_records(
    tmp_path, checkpoint, few_records, records_dir
):
    report = evaluate(
        checkpoint,
        few_records,
        data_dir=records_dir,
        out_dir=tmp_path,
        leads=[12, 2],
        bootstrap=50,
        progress=False,
        challenge_outputs=True,
    )
    assert report.skipped == [
        {"name": "E99999", "kind": "missing_file", "message": report.skipped[0]["message"]}
    ]
    assert "E99999" in report.skipped[0]["message"]
    predictions = read_predictions(tmp_path / "predictions.csv")
    assert len(predictions) == 12 and list(predictions["subset"].unique()) == ["12", "2"]
    assert set(predictions["source"]) == {"Georgia", "Ningbo", "PTB", "PTB-XL"}
    labels, scores, outputs = prediction_arrays(predictions)
    assert ((scores > 0) & (scores < 1)).all()
    np.testing.assert_array_equal(outputs, scores >= 0.5)
    twelve = predictions["subset"] == "12"
    assert not np.allclose(scores[twelve], scores[~twelve])  # the 2-lead subset sees less

    saved = json.loads((tmp_path / "report.json").read_text())
    expected = metrics.score(labels[twelve], scores[twelve], outputs[twelve])
    for name in metrics.HEADLINE:
        assert saved["subsets"]["12"][name] == pytest.approx(expected[name], abs=1e-9)
        low, high = saved["subsets"]["12"]["intervals"][name]
        assert low <= high  # a percentile interval over six records need not contain the estimate
    assert saved["records_skipped"] == 1 and saved["skipped"][0]["name"] == "E99999"
    assert set(saved["subsets"]["12"]["by_source"]) == {"Georgia", "Ningbo", "PTB", "PTB-XL"}

    markdown = (tmp_path / "report.md").read_text()
    for figure in ("roc_curves.png", "pr_curves.png", "f_measure.png"):
        assert f"]({figure})" in markdown
        assert (tmp_path / figure).read_bytes()[:4] == b"\x89PNG"
    assert "| E99999 | missing_file |" in markdown
    assert "## By source (12 leads)" in markdown and "| NSR | sinus rhythm |" in markdown

    exported = sorted((tmp_path / "challenge_outputs" / "2").glob("*.csv"))
    assert len(exported) == 6
    again = read_outputs(exported[0])
    row = predictions[(predictions["subset"] == "2") & (predictions["name"] == again.record)]
    np.testing.assert_allclose(again.scores, row[list(SCORE_COLUMNS)].to_numpy()[0])


def test_evaluate_honours_a_thresholds_override_and_record_list(tmp_path, checkpoint, records_manifest):
    (tmp_path / "t.json").write_text(json.dumps([0.0] * NUM_CLASSES))
    (tmp_path / "names.txt").write_text("# two records\nE07500\nJS20019\n")
    report = evaluate(
        checkpoint,
        records_manifest,
        records=tmp_path / "names.txt",
        leads=["I,II,V1"],
        thresholds=tmp_path / "t.json",
        bootstrap=0,
        progress=False,
    )
    assert list(report.results) == ["I II V1"]
    _, _, outputs = prediction_arrays(report.predictions)
    assert outputs.all() and report.headline.intervals == {}
    assert "t.json" in report.info["thresholds_source"]


def test_cli_end_to_end_on_the_fifty_shared_records(
    tmp_path, checkpoint, sample_manifest, shared_records_dir, capsys
):
    argv = [str(checkpoint), str(sample_manifest), "--out", str(tmp_path), "--bootstrap", "100", "--quiet"]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "50 records scored, 0 skipped" in printed
    saved = json.loads((tmp_path / "report.json").read_text())
    assert list(saved["subsets"]) == ["12", "6", "4", "3", "2"]
    assert all(saved["subsets"][s]["records"] == 50 for s in saved["subsets"])
    assert len(read_predictions(tmp_path / "predictions.csv")) == 250


def _error(capsys, argv: list[str]) -> str:
    """Run the CLI expecting exit status 2 and an ``error:`` message instead of a traceback."""
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "Traceback" not in err, err
    return err


def test_cli_reports_bad_input_in_one_line(tmp_path, checkpoint, records_manifest, capsys):
    out = ["--out", str(tmp_path / "out"), "--quiet"]
    message = _error(capsys, [str(tmp_path / "none.pt"), str(records_manifest), *out])
    assert message.startswith("error: checkpoint") and "does not exist" in message
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    assert "cannot be read" in _error(capsys, [str(tmp_path / "junk.pt"), str(records_manifest), *out])
    other = save_checkpoint(
        tmp_path / "other.pt", checkpoint_payload(SMALL, classes=list(reversed(CLASS_KEYS)))
    )
    assert "other classes" in _error(capsys, [str(other), str(records_manifest), *out])
    broken = save_checkpoint(
        tmp_path / "pre.pt",
        checkpoint_payload(SMALL, preprocess={**PreprocessConfig().to_dict(), "fs": -1.0}),
    )
    message = _error(capsys, [str(broken), str(records_manifest), *out])
    assert message.startswith(f"error: checkpoint {broken}: preprocess.fs must be > 0, got -1.0")
    empty = str(_empty_fold(read_manifest(records_manifest)))
    argv = [str(checkpoint), str(records_manifest), "--folds", empty, *out]
    assert "selects no records" in _error(capsys, argv)
    assert "no scored lead subset of size 5" in _error(
        capsys, [str(checkpoint), str(records_manifest), "--leads", "5", *out]
    )


def test_manifest_with_other_class_definitions_is_refused(tmp_path, checkpoint, sample_manifest):
    frame = read_manifest(sample_manifest).head(3)
    frame.loc[0, "labels"] = "AF"
    frame.to_csv(tmp_path / "m.csv", index=False)
    with pytest.raises(ValueError, match="prepared with other class definitions: record E07500"):
        evaluate(checkpoint, tmp_path / "m.csv", data_dir=sample_manifest.parent, bootstrap=0, progress=False)


def test_export_refuses_a_table_with_several_subsets(tmp_path, checkpoint, records_manifest):
    report = evaluate(
        checkpoint, records_manifest, records=["E07500"], leads=[12, 6], bootstrap=0, progress=False
    )
    with pytest.raises(ValueError, match="one lead subset at a time"):
        export_outputs(report.predictions, tmp_path)


def test_score_outputs_cli(tmp_path, records_dir, capsys):
    names = sorted(p.stem for p in records_dir.glob("*.hea"))
    for name in names:
        write_outputs(tmp_path / f"{name}.csv", name, np.full(NUM_CLASSES, 0.5), np.zeros(NUM_CLASSES, bool))
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())  # as the `leadattn` command registers `score-outputs`
    json_path = str(tmp_path / "s.json")
    args = parser.parse_args(["score-outputs", str(tmp_path), str(records_dir), "--json", json_path])
    assert args.func(args) == 0
    printed = capsys.readouterr().out
    assert printed.splitlines()[0] == f"{len(names)} records"
    saved = json.loads((tmp_path / "s.json").read_text())
    assert saved["auroc"] == pytest.approx(0.5) and saved["challenge_metric"] < 0.5
    (tmp_path / f"{names[0]}.csv").write_text("#x\n1\n")
    args = parser.parse_args(["score-outputs", str(tmp_path), str(records_dir)])
    assert run_cli(lambda: args.func(args)) == 2  # as `leadattn` runs every subcommand
    assert "expected 3 lines" in capsys.readouterr().err


def test_python_api_raises_the_checkpoint_error(tmp_path, sample_manifest):
    with pytest.raises(CheckpointError, match="does not exist"):
        evaluate(tmp_path / "missing.pt", sample_manifest, progress=False)


def test_each_subset_is_decided_with_its_own_thresholds_and_small_splits_warn(tmp_path, records_manifest):
    table = {"12": [0.0] * NUM_CLASSES, "6": [1.1] * NUM_CLASSES, "4": [1.1] * NUM_CLASSES}
    table.update({"3": [1.1] * NUM_CLASSES, "2": [0.0] * NUM_CLASSES})
    path = save_checkpoint(
        tmp_path / "subsets.pt",
        checkpoint_payload(SMALL, thresholds=table, threshold_fallback=["PVC"]),
    )
    names = ["E07500", "JS20019", "HR06000"]
    report = evaluate(path, records_manifest, records=names, bootstrap=0, progress=False)
    _, _, outputs = prediction_arrays(report.predictions)
    by_subset = {s: outputs[(report.predictions["subset"] == s).to_numpy()] for s in ("12", "6", "2")}
    assert by_subset["12"].all() and by_subset["2"].all() and not by_subset["6"].any()
    assert any("only 3 records" in text for text in report.info["warnings"])
    markdown = report.to_markdown()
    assert "**Warning**: only 3 records" in markdown and "kept at 0.5: PVC" in markdown


def test_split_warnings_name_classes_with_few_positives():
    labels = np.zeros((40, NUM_CLASSES), bool)
    labels[:3, 0] = True
    labels[:, 1] = True
    (warning,) = split_warnings(labels)
    assert ABBREVIATIONS[0] in warning and ABBREVIATIONS[1] not in warning


def test_figures_show_only_classes_with_positives_and_name_the_others() -> None:
    from leadattn.evaluation import plots

    rng = np.random.default_rng(0)
    labels = np.zeros((40, 26), dtype=bool)
    labels[:10, 0] = labels[5:25, 3] = labels[::4, 7] = True
    scores = {"12": rng.random((40, 26)), "2": rng.random((40, 26))}
    for figure in (
        plots.roc_curves({"12": labels, "2": labels}, scores),
        plots.pr_curves({"12": labels, "2": labels}, scores),
    ):
        panels = [ax for ax in figure.axes if ax.get_visible()]
        assert [ax.get_title().split()[0] for ax in panels] == [ABBREVIATIONS[k] for k in (0, 3, 7)]
        note = " ".join(t.get_text() for t in figure.texts)
        assert (
            "left out (no positives" in note
            and ABBREVIATIONS[1] in note
            and ABBREVIATIONS[0] not in note.split(":")[1]
        )
    support = labels.sum(axis=0)
    bars = plots.f_measure_bars({"12": np.where(support > 0, 0.5, np.nan)}, support)
    ticks = [t.get_text().split("\n")[0] for t in bars.axes[0].get_xticklabels()]
    assert ticks == [ABBREVIATIONS[k] for k in (0, 3, 7)]
    assert ABBREVIATIONS[25] in " ".join(t.get_text() for t in bars.texts)
