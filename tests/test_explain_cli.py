"""End-to-end tests of ``leadattn-explain`` and explain.export on a real challenge record."""

from __future__ import annotations

import importlib.util
import json
import sys

import matplotlib

matplotlib.use("Agg")

import pandas as pd
import pytest
from explain_helpers import make_record, small_model, torch_threads, write_checkpoint

from explain.cli import main
from explain.export import export_record
from leadattn.data import read_record
from leadattn.labels import ABBREVIATIONS


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    with torch_threads(1):
        yield


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    return write_checkpoint(tmp_path_factory.mktemp("ckpt") / "small.pt")


@pytest.fixture(scope="module")
def real_record(shared_records_dir):
    return sorted(shared_records_dir.glob("*.hea"))[0]


def test_cli_writes_predictions_tables_and_figures(tmp_path, checkpoint, real_record, capsys):
    out = tmp_path / "out"
    args = [str(real_record), "--checkpoint", str(checkpoint), "--out", str(out)]
    options = ["--methods", "attention,saliency", "--classes", "AF", "--seconds", "2.5", "--smooth", "0.02"]
    code = main([*args, *options, "--threads", "1"])
    assert code == 0
    assert "predicted" in capsys.readouterr().out
    record = read_record(real_record)
    predictions = json.loads((out / "predictions.json").read_text())
    assert predictions["record"] == record.name
    assert set(predictions["scores"]) == set(ABBREVIATIONS) == set(predictions["thresholds"])
    assert all(0.0 <= s <= 1.0 for s in predictions["scores"].values())
    assert predictions["explained_classes"] == ["AF"]
    assert [m["name"] for m in predictions["maps"]] == ["attention", "saliency_AF"]
    for name in ("attention", "saliency_AF"):
        frame = pd.read_csv(out / f"{name}.csv", index_col=0)
        assert list(frame.columns) == list(record.leads)
        assert len(frame) == record.signal.shape[1]
        assert frame.index.name == "time_s"
        assert (out / f"{name}.png").stat().st_size > 1000
        if importlib.util.find_spec("pyarrow") is not None:
            stored = pd.read_parquet(out / f"{name}.parquet")
            assert list(stored.columns) == list(record.leads)
            assert stored.to_numpy() == pytest.approx(frame.to_numpy(), rel=1e-6, abs=1e-12)
        else:
            assert not (out / f"{name}.parquet").exists()
    attention = pd.read_csv(out / "attention.csv", index_col=0)
    assert attention.to_numpy().sum() == pytest.approx(1.0, abs=1e-4)


def test_cli_lead_subset_without_figures(tmp_path, checkpoint, real_record):
    out = tmp_path / "subset"
    code = main(
        [
            str(real_record),
            "--checkpoint",
            str(checkpoint),
            "--out",
            str(out),
            "--leads",
            "I,II",
            "--methods",
            "integrated_gradients",
            "--steps",
            "4",
            "--classes",
            "PVC,AF",
            "--format",
            "none",
        ]
    )
    assert code == 0
    for name in ("integrated_gradients_PVC", "integrated_gradients_AF"):
        frame = pd.read_csv(out / f"{name}.csv", index_col=0)
        assert list(frame.columns) == ["I", "II"]
    assert not list(out.glob("*.png"))
    predictions = json.loads((out / "predictions.json").read_text())
    assert predictions["leads"] == ["I", "II"]
    assert predictions["maps"][0]["convergence_delta"] >= 0


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--methods", "lrp"], "unknown method"),
        (["--leads", "V9"], "unknown lead name 'V9'"),
        (["--classes", "XYZ"], "unknown class 'XYZ'"),
        (["--format", "gif"], "unknown figure format"),
        (["--aggregate", "max"], "aggregate must be"),
        (["--baseline", "sinus:/nonexistent"], "is not a directory"),
    ],
)
def test_cli_bad_options_exit_2_with_a_clear_message(
    tmp_path, checkpoint, real_record, capsys, extra, message
):
    code = main([str(real_record), "--checkpoint", str(checkpoint), "--out", str(tmp_path / "o"), *extra])
    assert code == 2
    err = capsys.readouterr().err
    assert err.startswith("leadattn-explain: error:") and message in err


def test_cli_bad_record_or_checkpoint_exit_2(tmp_path, checkpoint, real_record, capsys):
    assert main([str(tmp_path / "NOPE.hea"), "--checkpoint", str(checkpoint), "--out", str(tmp_path)]) == 2
    assert "NOPE: header file" in capsys.readouterr().err
    assert main([str(real_record), "--checkpoint", str(tmp_path / "none.pt"), "--out", str(tmp_path)]) == 2
    assert "does not exist" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        main([str(real_record), "--out", str(tmp_path)])
    assert exit_info.value.code == 2


def test_export_without_pmecg_still_writes_tables_and_json(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "pmecg", None)
    record = make_record(seconds=2.0)
    result = export_record(
        small_model(), record, tmp_path, methods=["saliency"], classes=["AF"], formats=["png"]
    )
    assert not result.figures
    assert [p.name for p in result.tables][0] == "saliency_AF.csv"
    assert any('pip install "leadattn[plot]"' in note for note in result.notes)
    assert json.loads((tmp_path / "predictions.json").read_text())["notes"] == result.notes


def test_export_explains_the_top_class_when_none_reaches_its_threshold(tmp_path, checkpoint):
    from leadattn.checkpoint import load_model

    loaded = load_model(checkpoint)
    for values in loaded.thresholds.values():
        values[:] = 1.0
    result = export_record(loaded, make_record(seconds=2.0), tmp_path, methods=["grad_cam"], formats=())
    assert result.predictions["predicted"] == []
    top = max(result.predictions["scores"], key=result.predictions["scores"].get)
    assert result.predictions["explained_classes"] == [top]
    assert any("no class reached its threshold" in note for note in result.notes)
