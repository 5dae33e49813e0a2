"""Tests for leadattn.prediction: records without a diagnosis, folders and manifests, the CLI."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from explain_helpers import SMALL_CONFIG, checkpoint_payload

from leadattn.checkpoint import save_checkpoint
from leadattn.cli import main
from leadattn.data import read_record
from leadattn.evaluation.challenge_format import read_outputs
from leadattn.inference import Predictor
from leadattn.labels import NUM_CLASSES
from leadattn.prediction import find_records, predict_records

SMALL = replace(
    SMALL_CONFIG,
    stem_channels=(4,),
    stem_kernels=(15, 7),
    stem_strides=(8, 8),
    depths=(1, 1),
    within_heads=(2, 2),
    windows=(8, 8),
)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    payload = checkpoint_payload(
        SMALL,
        thresholds={str(n): [0.5] * NUM_CLASSES for n in (12, 6, 4, 3, 2)},
        train_config={"data": {"val_crop_seconds": 5.0}},
    )
    return save_checkpoint(tmp_path_factory.mktemp("ckpt") / "small.pt", payload)


@pytest.fixture()
def unlabelled(tmp_path, records_dir) -> Path:
    """E07500 as recorded (labelled), without its Dx line, and with ``# Dx: Unknown``."""
    folder = tmp_path / "clinic"
    folder.mkdir()
    text = (records_dir / "E07500.hea").read_text()
    for name, change in (("A1", None), ("A2", ""), ("A3", "# Dx: Unknown")):
        header = text.replace("E07500", name)
        if change is not None:
            header = "\n".join(
                change if line.startswith("# Dx") else line for line in header.splitlines() if line
            )
            header = "\n".join(line for line in header.splitlines() if line) + "\n"
        (folder / f"{name}.hea").write_text(header)
        shutil.copy(records_dir / "E07500.mat", folder / f"{name}.mat")
    return folder


def test_records_without_a_diagnosis_read_as_unlabelled(unlabelled):
    labelled, missing, unknown = (read_record(unlabelled / n) for n in ("A1", "A2", "A3"))
    assert labelled.labelled and labelled.dx
    assert not missing.labelled and missing.dx == () and not missing.labels.any()
    assert not unknown.labelled and unknown.dx == ()


def test_predict_records_scores_every_record_like_the_predictor(unlabelled, checkpoint):
    predictor = Predictor.from_checkpoint(checkpoint, "cpu")
    assert predictor.window_seconds == 5.0  # the checkpoint's validation window
    frame, skipped = predict_records(predictor, find_records([unlabelled]), leads=2, progress=False)
    assert skipped == [] and list(frame["name"]) == ["A1", "A2", "A3"]
    assert list(frame["labelled"]) == [True, False, False]
    scores = frame[[c for c in frame if c.startswith("score_")]].to_numpy()
    np.testing.assert_allclose(scores[0], scores[1])  # the same signal, labelled or not
    np.testing.assert_allclose(scores[0], predictor.predict(unlabelled / "A1", 2).probabilities)
    assert set(frame["subset"]) == {"2"}


def test_predict_cli_writes_csv_and_challenge_outputs(unlabelled, checkpoint, tmp_path, capsys):
    (unlabelled / "broken.hea").write_text("broken 12 500\n")
    out = tmp_path / "out" / "predictions.csv"
    argv = ["predict", str(checkpoint), str(unlabelled), "--out", str(out), "--quiet"]
    assert main([*argv, "--challenge-outputs", str(tmp_path / "challenge")]) == 0
    printed = capsys.readouterr()
    assert "3 records classified (1 skipped)" in printed.out and "broken" in printed.err
    frame = pd.read_csv(out)
    assert len(frame) == 3 and "predicted" in frame
    written = read_outputs(tmp_path / "challenge" / "A2.csv")
    expected = frame.loc[1, [c for c in frame if c.startswith("score_")]].to_numpy(dtype=float)
    np.testing.assert_allclose(written.scores, expected, atol=1e-6)


def test_predict_cli_errors_are_one_line(checkpoint, tmp_path, capsys):
    assert (
        main(["predict", str(checkpoint), str(tmp_path / "nothing"), "--out", str(tmp_path / "p.csv")]) == 2
    )
    assert "neither a record, a folder of records nor a manifest" in capsys.readouterr().err
    assert main(["predict", str(checkpoint), str(tmp_path), "--out", str(tmp_path)]) == 2
    assert "is a folder" in capsys.readouterr().err


def test_checkpoints_without_preprocessing_or_with_bad_thresholds_are_refused(checkpoint, tmp_path):
    from leadattn.checkpoint import CheckpointError, load_checkpoint

    payload = load_checkpoint(checkpoint)
    del payload["preprocess"]
    save_checkpoint(tmp_path / "bare.pt", payload)
    with pytest.raises(CheckpointError, match="lacks preprocess"):
        Predictor.from_checkpoint(tmp_path / "bare.pt", "cpu")
    payload = load_checkpoint(checkpoint)
    payload["thresholds"] = {"12": [0.5] * NUM_CLASSES}
    save_checkpoint(tmp_path / "partial.pt", payload)
    with pytest.raises(CheckpointError, match="thresholds lack lead subset"):
        Predictor.from_checkpoint(tmp_path / "partial.pt", "cpu")
