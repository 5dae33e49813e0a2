"""End-to-end tests of ``leadattn-explain`` and explain.export on a real challenge record."""

from __future__ import annotations

import importlib.util
import json
import sys

import matplotlib

matplotlib.use("Agg")

import pandas as pd
import pytest
from explain_helpers import make_record, small_model, write_checkpoint

from explain.cli import main
from explain.export import export_record
from leadattn.data import read_record
from leadattn.labels import ABBREVIATIONS

pytestmark = [
    pytest.mark.usefixtures("one_torch_thread"),
    # few Integrated Gradients steps keep these tests fast; the maps need not be accurate
    pytest.mark.filterwarnings("ignore::explain.attribution.ConvergenceWarning"),
]


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    return write_checkpoint(tmp_path_factory.mktemp("ckpt") / "small.pt")


@pytest.fixture(scope="module")
def real_record(records_dir):
    return records_dir / "E07500.hea"


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
        (["--methods", "lrp"], "unknown explanation method 'lrp'; choose from attention, integrated"),
        (["--methods", "attention", "--baseline", "lowpass"], "baseline apply to none of the methods"),
        (["--leads", "V9"], "unknown lead name 'V9'"),
        (["--classes", "XYZ"], "unknown class 'XYZ'"),
        (["--format", "gif"], "unknown figure format"),
        (["--classes", ","], "no class chosen"),
        (["--seconds", "-1"], "the plotted window must be positive"),
        (["--smooth", "-0.1"], "the smoothing window must be positive"),
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
    assert err.startswith("error:") and message in err


def test_cli_bad_record_or_checkpoint_exit_2(tmp_path, checkpoint, real_record, capsys):
    assert main([str(tmp_path / "NOPE.hea"), "--checkpoint", str(checkpoint), "--out", str(tmp_path)]) == 2
    assert "NOPE: header file" in capsys.readouterr().err
    assert main([str(real_record), "--checkpoint", str(tmp_path / "none.pt"), "--out", str(tmp_path)]) == 2
    assert "does not exist" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        main([str(real_record), "--out", str(tmp_path)])
    assert exit_info.value.code == 2


def test_an_out_path_naming_a_file_is_refused_before_any_work(tmp_path, real_record, capsys, monkeypatch):
    taken = tmp_path / "taken.txt"
    taken.write_text("keep me")

    def no_work(*args, **kwargs):
        raise AssertionError("the checkpoint was loaded although the output folder is unusable")

    monkeypatch.setattr("explain.cli.load_model", no_work)
    for out in (taken, taken / "inside"):
        assert main([str(real_record), "--checkpoint", "any.pt", "--out", str(out)]) == 2
        err = capsys.readouterr().err
        assert f"{taken} is an existing file, not a folder" in err and "Traceback" not in err
    assert taken.read_text() == "keep me"


def test_export_takes_explainers_built_on_its_model(tmp_path, checkpoint):
    from explain import AttentionExplainer, IntegratedGradientsExplainer
    from leadattn.checkpoint import load_model

    loaded = load_model(checkpoint)
    methods = [
        AttentionExplainer(loaded, "rollout"),
        IntegratedGradientsExplainer(loaded, "lowpass", n_steps=4),
    ]
    result = export_record(
        loaded, make_record(seconds=2.0), tmp_path, methods=methods, classes=["AF"], formats=()
    )
    maps = {m["name"]: m for m in result.predictions["maps"]}
    assert maps["attention"]["aggregate"] == "rollout"
    assert maps["integrated_gradients_AF"]["baseline"] == "lowpass"
    with pytest.raises(ValueError, match="another model"):
        export_record(loaded, make_record(seconds=2.0), tmp_path, methods=[AttentionExplainer(small_model())])
    with pytest.raises(ValueError, match="given twice"):
        export_record(
            loaded, make_record(seconds=2.0), tmp_path, methods=["attention", methods[0]], formats=()
        )


def test_export_notes_an_inaccurate_integral(tmp_path, checkpoint):
    result = export_record(
        checkpoint, make_record(seconds=2.0), tmp_path, methods=["integrated_gradients"], classes=["AF"],
        formats=(), settings={"n_steps": 2},
    )  # fmt: skip
    entry = result.predictions["maps"][0]
    inaccurate = entry["relative_delta"] > 0.05
    assert inaccurate == any("convergence delta" in note for note in result.notes)


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
