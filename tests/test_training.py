"""Training: configuration, augmentation, sampling, losses, schedules, the loop, checkpoints, resume, DDP."""

from __future__ import annotations

import csv
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
import yaml

from leadattn.checkpoint import CheckpointError, load_checkpoint, load_model
from leadattn.labels import ABBREVIATIONS, CLASS_KEYS
from leadattn.leads import LEAD_SUBSETS, lead_mask
from leadattn.models import LocalLeadAttentionNet
from leadattn.training import (
    Augmenter,
    ConfigError,
    EpochSampler,
    Optimiser,
    TrainConfig,
    TrainingError,
    apply_overrides,
    bundled_config,
    classifier_step,
    load_config,
    train,
)
from leadattn.training.augment import shift
from leadattn.training.average import WeightAverage
from leadattn.training.cli import keep_earlier_run, main
from leadattn.training.config import AugmentConfig, LossConfig, OptimConfig
from leadattn.training.losses import AsymmetricLoss, WeightedBCE, build_loss, positive_weights, prior_logits
from leadattn.training.sampler import rare_class_weights
from leadattn.training.schedule import ONECYCLE_START, lr_multiplier
from leadattn.training.step import parameter_groups

REPO = Path(__file__).resolve().parents[1]

TINY = {
    "data": {
        "val_folds": [8],
        "test_folds": [9],
        "crop_seconds": 2.0,
        "val_crop_seconds": 4.0,
        "batch_size": 8,
        "val_batch_size": 16,
        "workers": 0,
    },
    "preprocess": {"fs": 125.0},
    "model": {
        "stem_channels": [4],
        "stem_kernels": [5, 5],
        "stem_strides": [2, 2],
        "dims": [16],
        "depths": [1],
        "within_heads": [1],
        "across_heads": [2],
        "windows": [8],
        "dropout": 0.1,
    },
    "optim": {"epochs": 2, "lr": 0.003, "warmup_epochs": 0.5},
    "run": {"tensorboard": False, "progress": False, "patience": 0},
}


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("training") / "sample.cache"


@pytest.fixture
def tiny(sample_manifest: Path, shared_records_dir: Path, cache_dir: Path, tmp_path: Path) -> TrainConfig:
    """A model of a few thousand parameters on 2 s crops of the shared records at 125 Hz."""
    return TrainConfig.from_dict(TINY).replace(
        {
            "data.manifest": str(sample_manifest),
            "data.cache_dir": str(cache_dir),
            "run.out": str(tmp_path / "run"),
        }
    )


# ---------------------------------------------------------------------------------------------------
# Configuration


def test_bundled_default_lists_every_default() -> None:
    assert bundled_config("default") == TrainConfig()
    text = (REPO / "leadattn" / "training" / "configs" / "default.yaml").read_text()
    for line in text.splitlines():
        if line.startswith("  ") and ":" in line:
            assert "#" in line, f"undocumented key in default.yaml: {line.strip()}"


def test_demo_config_is_small_and_uses_demo_data() -> None:
    demo = bundled_config("demo")
    assert demo.data.manifest is None and demo.run.out == "runs/demo"
    assert demo.model.dims != TrainConfig().model.dims


def test_overrides_convert_values_to_the_key_types() -> None:
    config = apply_overrides(
        TrainConfig(),
        [
            "optim.lr=3e-4",
            "data.train_folds=[0, 1]",
            "preprocess.bandpass=null",
            "optim.epochs=7",
            "augment.lead_subsets=[12,2]",
            "augment.lead_subset_weights=[1,1]",
            "run.device=cuda:1",
        ],
    )
    assert config.optim.lr == 3e-4 and isinstance(config.optim.lr, float)
    assert config.data.train_folds == (0, 1)
    assert config.preprocess.bandpass is None
    assert config.optim.epochs == 7
    assert config.augment.lead_subsets == (12, 2)
    assert config.run.device == "cuda:1"


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("optim.lrr=1", r"unknown config key 'optim.lrr'; did you mean 'optim.lr'"),
        ("optimiser.lr=1", r"unknown config key 'optimiser'"),
        ("optim.lr=fast", r"optim.lr must be a number"),
        ("optim.epochs=1.5", r"optim.epochs must be an integer"),
        ("run.amp=fp8", r"run.amp must be one of"),
        ("run.compile=1", r"run.compile must be true or false"),
        ("data.val_folds=[9]", r"val_folds and data.test_folds overlap"),
        ("model.dims=[32]", r"model: .*entries"),
        ("augment.lead_subsets=[12,5]", r"lead_subsets must be among"),
        ("optim.lr=0", r"^optim.lr must be > 0, got 0.0$"),
        ("optim.betas=[0.9,1.0]", r"^every entry of optim.betas must be >= 0 and < 1, got \(0.9, 1.0\)$"),
        ("optim.grad_clip=-1", r"optim.grad_clip must be >= 0 \(0 disables clipping\)"),
        ("optim.warmup_epochs=50", r"optim.warmup_epochs must not exceed optim.epochs"),
        ("data.test_folds=[10]", r"every entry of data.test_folds must be >= 0 and < 10"),
        ("model.dropout=1", r"model.dropout must be >= 0 and < 1"),
        ("preprocess.clip_mv=0", r"preprocess.clip_mv must be > 0"),
        ("optim.lr", r"not of the form key=value"),
    ],
)
def test_bad_overrides_name_the_key(override: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        apply_overrides(TrainConfig(), [override])


def test_yaml_and_toml_files_are_merged_over_defaults(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text("optim:\n  lr: 2.0e-4\nrun:\n  seed: 3\n")
    (tmp_path / "b.toml").write_text("[optim]\nlr = 2.0e-4\n[run]\nseed = 3\n")
    (tmp_path / "bad.yaml").write_text("optim:\n  learning_rate: 1\n")
    a = load_config(tmp_path / "a.yaml", ["run.seed=4"])
    assert a == load_config(tmp_path / "b.toml").replace({"run.seed": 4})
    assert a.optim.lr == 2e-4 and a.data == TrainConfig().data
    with pytest.raises(ConfigError, match="optim.learning_rate"):
        load_config(tmp_path / "bad.yaml")
    with pytest.raises(FileNotFoundError, match="missing.yaml"):
        load_config(tmp_path / "missing.yaml")


# ---------------------------------------------------------------------------------------------------
# Augmentation, sampling, losses, schedules


def test_augmentations_keep_shape_and_draw_only_challenge_subsets() -> None:
    augment = Augmenter(AugmentConfig(probability=1.0), fs=125.0)
    x = np.random.default_rng(0).normal(size=(12, 500)).astype(np.float32)
    allowed = {tuple(lead_mask(size)) for size in LEAD_SUBSETS}
    seen = set()
    for seed in range(60):
        y, mask, length = augment(x, np.ones(12, bool), 500, np.random.default_rng(seed))
        assert 500 - 125 <= length <= 500  # a shift of at most time_shift_seconds (1 s at 125 Hz)
        assert y.shape == x.shape and y.dtype == np.float32 and mask.dtype == bool
        assert tuple(mask) in allowed
        assert not y[~mask].any()
        seen.add(int(mask.sum()))
    assert seen == set(LEAD_SUBSETS)
    assert not np.allclose(y[mask], x[mask])
    assert np.array_equal(x, np.random.default_rng(0).normal(size=(12, 500)).astype(np.float32))


def test_lead_dropout_respects_the_leads_a_record_has() -> None:
    augment = Augmenter(AugmentConfig(), fs=500.0)
    limb = lead_mask(6)
    for seed in range(30):
        _, mask, _ = augment(np.ones((12, 100), np.float32), limb, 100, np.random.default_rng(seed))
        assert mask.any() and not (mask & ~limb).any()


def test_time_shift_moves_the_signal_earlier_and_marks_its_tail_as_padding() -> None:
    config = AugmentConfig(
        probability=1.0,
        amplitude=0,
        baseline_wander=0,
        gaussian_noise=0,
        mains_noise=0,
        time_shift_seconds=0.5,
    )
    augment = Augmenter(config, fs=100.0)
    x = np.arange(300, dtype=np.float32)[None].repeat(12, 0)
    lengths = set()
    for seed in range(20):
        y, _, length = augment(x, np.ones(12, bool), 200, np.random.default_rng(seed))
        moved = 200 - length
        assert 0 <= moved <= 50
        np.testing.assert_array_equal(y[0, :length], x[0, moved:200])
        lengths.add(length)
    assert len(lengths) > 5


def test_shift_moves_and_zero_fills() -> None:
    x = np.arange(10, dtype=np.float32)[None].repeat(2, 0)
    assert shift(x, 3)[0].tolist() == [0, 0, 0, 0, 1, 2, 3, 4, 5, 6]
    assert shift(x, -3)[0].tolist() == [3, 4, 5, 6, 7, 8, 9, 0, 0, 0]
    assert not shift(x, 20).any()


def test_sampler_shards_are_disjoint_and_reproducible() -> None:
    shards = [EpochSampler(11, seed=5, rank=r, world=2) for r in range(2)]
    for s in shards:
        s.set_epoch(3)
    draws = [list(s) for s in shards]
    indices = [k for d in draws for _, k in d]
    assert len(indices) == len(set(indices)) == 10 and len(shards[0]) == 5
    assert sorted(draw for d in draws for draw, _ in d) == list(range(10))
    assert draws[0] == list(shards[0])
    shards[0].set_epoch(4)
    assert list(shards[0]) != draws[0]
    with pytest.raises(ValueError, match="cannot be shared"):
        EpochSampler(1, world=2, rank=1)


def test_rare_class_sampler_visits_rare_classes_more_often() -> None:
    labels = np.zeros((100, 26), bool)
    labels[:90, 0] = True
    labels[90:, 1] = True
    weights = rare_class_weights(labels, power=1.0)
    sampler = EpochSampler(100, seed=0, weights=weights)
    drawn = np.array([k for _, k in sampler])
    assert 0.3 < (drawn >= 90).mean() < 0.7
    assert np.allclose(rare_class_weights(labels, power=0.0), 1.0)


def test_losses_match_reference_formulas() -> None:
    torch.manual_seed(0)
    logits, targets = torch.randn(6, 26), (torch.rand(6, 26) > 0.7).float()
    reference = F.binary_cross_entropy_with_logits(logits, targets)
    assert torch.allclose(WeightedBCE()(logits, targets), reference)
    assert torch.allclose(AsymmetricLoss(0.0, 0.0, 0.0)(logits, targets), reference, atol=1e-6)
    focused = AsymmetricLoss(0.0, 4.0, 0.05)(logits, targets)
    assert 0 < focused < reference
    half = WeightedBCE(negative_weight=0.5)(logits, targets)
    assert half < reference
    labels = np.zeros((10, 26), bool)
    labels[:2, 0] = True
    weights = positive_weights(labels, "inverse_frequency", 10.0)
    assert weights[0] == 4.0 and weights[1] == 1.0
    assert positive_weights(labels, "sqrt_inverse_frequency", 10.0)[0] == 2.0
    loss = build_loss(LossConfig(kind="asymmetric", class_weighting="inverse_frequency"), labels)
    assert isinstance(loss, AsymmetricLoss) and loss.positive_weight[0] == 4.0


def test_prior_logits_are_the_class_log_odds_clipped_for_unseen_classes() -> None:
    labels = np.zeros((10, 3), bool)
    labels[:2, 0] = True
    labels[:, 2] = True
    prior = prior_logits(labels, floor=0.01)
    assert prior[0] == pytest.approx(np.log(0.2 / 0.8))
    assert prior[1] == pytest.approx(np.log(0.01 / 0.99)) and prior[2] == pytest.approx(-prior[1])


def test_prior_bias_starts_the_head_at_the_training_frequencies(tiny: TrainConfig) -> None:
    config = tiny.replace({"optim.epochs": 1, "optim.lr": 1e-12, "augment.enabled": False})
    unseen = np.log(1e-3 / (1 - 1e-3))
    biases = {}
    for prior in (False, True):
        run = train(config.replace({"loss.prior_bias": prior, "run.out": f"{config.run.out}-{prior}"}))
        biases[prior] = _state(run.run_dir / "last.pt")["head.bias"].numpy()
    assert np.abs(biases[False]).max() < 1e-6
    seen = biases[True] > unseen + 0.1
    assert 0 < seen.sum() < 26  # the classes the 41 training records hold, and the rest at the floor
    np.testing.assert_allclose(biases[True][~seen], unseen, atol=1e-5)

    def headless(c: TrainConfig) -> torch.nn.Module:
        model = LocalLeadAttentionNet(c.model)
        model.head = torch.nn.Sequential(model.head)
        return model

    with pytest.raises(TrainingError, match="loss.prior_bias"):
        train(
            config.replace({"loss.prior_bias": True, "run.out": f"{config.run.out}-headless"}),
            build_model=headless,
        )


def test_schedules_warm_up_then_decay() -> None:
    for kind in ("cosine", "onecycle", "constant"):
        factors = [lr_multiplier(step, 100, 10, kind, 0.01) for step in range(100)]
        assert max(factors) == pytest.approx(1.0) and factors[9] == pytest.approx(1.0)
        warmup, after = np.array(factors[:10]), np.array(factors[10:])
        assert np.all(np.diff(warmup) > 0)  # rises through the warm-up
        if kind == "constant":
            assert np.all(after == 1.0)
        else:  # then falls, step after step, to its floor
            assert np.all(np.diff(after) < 0)
            floor = 0.01 * (ONECYCLE_START if kind == "onecycle" else 1.0)
            assert after[-1] == pytest.approx(floor, abs=1e-3) and after.min() >= floor
    assert lr_multiplier(0, 100, 10, "onecycle", 0.01) > 0.04
    assert OptimConfig(warmup_epochs=0).warmup_epochs == 0


# ---------------------------------------------------------------------------------------------------
# The loop on the shared records


class _Stop(Exception):
    """Stands in for a run killed right after an epoch's checkpoint was written."""


def _state(path: Path) -> dict[str, torch.Tensor]:
    return load_checkpoint(path)["model_state"]


def test_training_lowers_the_loss_and_writes_a_loadable_run(tiny: TrainConfig) -> None:
    config = tiny.replace({"optim.epochs": 4, "augment.enabled": False})
    result = train(config)
    losses = [row["train_loss"] for row in result.history]
    assert losses[-1] < losses[0]
    run = result.run_dir
    for name in ("config.yaml", "last.pt", "best.pt", "metrics.csv", "learning_curves.png"):
        assert (run / name).is_file(), name
    assert TrainConfig.from_dict(yaml.safe_load((run / "config.yaml").read_text())) == config
    rows = list(csv.DictReader((run / "metrics.csv").open()))
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3, 4]
    assert int(rows[0]["val_records"]) == result.val_records == 7  # fold 8 holds E07509 and its copy E07510
    assert int(rows[0]["train_records"]) == result.train_records == 41

    loaded = load_model(result.best_checkpoint)
    assert loaded.classes == CLASS_KEYS
    assert set(loaded.thresholds) == {"12", "6", "4", "3", "2"}
    assert all(t.shape == (26,) for t in loaded.thresholds.values())
    # Six validation records: no class has 5 positives, so no threshold is tuned from them.
    assert sorted(loaded.payload["threshold_fallback"]) == sorted(ABBREVIATIONS)
    assert all((t == 0.5).all() for t in loaded.thresholds.values())
    rows = list(csv.DictReader((run / "metrics.csv").open()))
    assert {"val_auroc_12leads", "val_auroc_2leads", "val_challenge_metric_6leads"} <= set(rows[0])
    assert loaded.preprocess == config.preprocess
    assert TrainConfig.from_dict(loaded.train_config) == config
    assert loaded.payload["epoch"] == result.best_epoch
    assert all(
        torch.equal(v, loaded.model.state_dict()[k]) for k, v in _state(result.best_checkpoint).items()
    )
    x = torch.zeros(2, 12, 250)
    assert loaded.model(x, torch.ones(2, 12, dtype=torch.bool)).shape == (2, 26)


@pytest.mark.parametrize("ema_decay", [0.0, 0.8])
def test_killed_and_resumed_run_ends_where_an_uninterrupted_run_ends(
    tiny: TrainConfig, tmp_path: Path, ema_decay: float
) -> None:
    tiny = tiny.replace({"optim.ema_decay": ema_decay})
    whole = train(tiny.replace({"run.out": str(tmp_path / "whole")}))

    def kill_after_first_epoch(row: dict) -> None:
        if row["epoch"] == 1:
            raise _Stop

    interrupted = tiny.replace({"run.out": str(tmp_path / "interrupted")})
    with pytest.raises(_Stop):
        train(interrupted, on_epoch_end=kill_after_first_epoch)
    assert load_checkpoint(tmp_path / "interrupted" / "last.pt")["epoch"] == 1
    resumed = train(interrupted, resume=True)

    a, b = _state(whole.last_checkpoint), _state(resumed.last_checkpoint)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert (
        load_checkpoint(whole.last_checkpoint)["thresholds"]
        == load_checkpoint(resumed.last_checkpoint)["thresholds"]
    )
    stable = ("epoch", "train_loss", "val_loss", "val_auroc", "val_challenge_metric", "lr")
    assert [{k: r[k] for k in stable} for r in whole.history] == [
        {k: r[k] for k in stable} for r in resumed.history
    ]
    rows = list(csv.DictReader((tmp_path / "interrupted" / "metrics.csv").open()))
    assert [int(r["epoch"]) for r in rows] == [1, 2]
    if ema_decay:  # the trained weights, kept to resume from, resumed exactly as well
        a, b = (load_checkpoint(r.last_checkpoint)["trained_model_state"] for r in (whole, resumed))
        assert all(torch.equal(a[k], b[k]) for k in a)


def test_weight_average_follows_the_closed_form_and_copies_buffers() -> None:
    model = torch.nn.BatchNorm1d(3)
    average = WeightAverage(model, decay=0.9)
    expected = model.weight.detach().clone()
    for step in range(40):
        with torch.no_grad():
            model.weight.fill_(float(step))
            model.running_mean.fill_(-float(step))
        decay = min(0.9, (1 + step) / (10 + step))
        assert average.current_decay() == pytest.approx(decay)
        average.update(model)
        expected = decay * expected + (1 - decay) * model.weight.detach()
    torch.testing.assert_close(average.model.weight, expected)
    assert not torch.equal(average.model.weight, model.weight)  # an average, not a copy
    assert torch.equal(average.model.running_mean, model.running_mean)
    assert not any(p.requires_grad for p in average.model.parameters()) and not average.model.training
    with pytest.raises(ValueError, match=r"in \(0, 1\)"):
        WeightAverage(model, decay=1.0)


def test_an_averaged_run_validates_and_saves_the_average(tiny: TrainConfig) -> None:
    result = train(tiny.replace({"optim.ema_decay": 0.8, "optim.epochs": 1}))
    last, best = load_checkpoint(result.last_checkpoint), load_checkpoint(result.best_checkpoint)
    averaged, trained = last["model_state"], last["trained_model_state"]
    assert "trained_model_state" not in best and last["step"] > 0
    assert any(not torch.equal(averaged[k], trained[k]) for k in averaged)
    assert all(torch.equal(best["model_state"][k], averaged[k]) for k in averaged)
    loaded = load_model(result.best_checkpoint)  # an ordinary classifier checkpoint
    assert all(torch.equal(v, loaded.model.state_dict()[k]) for k, v in averaged.items())


def test_runs_refuse_to_clobber_or_to_resume_with_other_settings(tiny: TrainConfig) -> None:
    config = tiny.replace({"optim.epochs": 1})
    train(config)
    with pytest.raises(TrainingError, match="already holds a run"):
        train(config)
    with pytest.raises(ConfigError, match=r"optim.lr \(0.003 in the run, 0.1 now\)"):
        train(config.replace({"optim.lr": 0.1}), resume=True)
    finished = train(config, resume=True)
    assert len(finished.history) == 1


def test_damaged_checkpoints_give_a_clear_error(tiny: TrainConfig, tmp_path: Path) -> None:
    result = train(tiny.replace({"optim.epochs": 1}))
    data = result.last_checkpoint.read_bytes()
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="truncated.pt cannot be read"):
        load_model(truncated)
    result.last_checkpoint.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="last.pt cannot be read"):
        train(tiny.replace({"optim.epochs": 1}), resume=True)


def test_cli_resolves_flags_and_reports_errors(
    tiny: TrainConfig, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config_file = tmp_path / "tiny.yaml"
    config_file.write_text(yaml.safe_dump(tiny.to_dict()))
    assert (
        main(["--config", str(config_file), "--epochs", "3", "--set", "optim.lr=1e-4", "--print-config"]) == 0
    )
    printed = yaml.safe_load(capsys.readouterr().out)
    assert printed["optim"]["epochs"] == 3 and printed["optim"]["lr"] == 1e-4
    assert main(["--print-config"]) == 0
    demo = yaml.safe_load(capsys.readouterr().out)  # the demo's manifest is made only when it trains
    assert demo["run"]["out"] == "runs/demo" and demo["data"]["manifest"] is None

    out = tmp_path / "cli-run"
    assert main(["--config", str(config_file), "--epochs", "1", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert f"checkpoint: {out / 'best.pt'}" in printed and "leadattn evaluate" in printed
    assert main(["--resume", str(out), "--set", "optim.lr=0.1"]) == 2
    assert "cannot change optim.lr when resuming" in capsys.readouterr().err
    assert main(["--config", str(config_file), "--set", "optim.lrr=1"]) == 2
    assert "did you mean 'optim.lr'" in capsys.readouterr().err
    (tmp_path / "a-file").write_text("")
    assert main(["--config", str(config_file), "--out", str(tmp_path / "a-file")]) == 2
    assert "a-file is a file: name a folder" in capsys.readouterr().err


def test_an_earlier_demo_run_is_kept_with_its_outputs(tmp_path: Path) -> None:
    run = tmp_path / "demo"
    (run / "evaluation").mkdir(parents=True)
    (run / "last.pt").write_bytes(b"x")
    kept = keep_earlier_run(run)
    assert kept is not None and kept.name.startswith("demo-") and (kept / "evaluation").is_dir()
    assert not run.exists() and keep_earlier_run(run) is None


def test_two_processes_with_gloo_share_the_data_and_gather_metrics(tiny: TrainConfig, tmp_path: Path) -> None:
    config_file = tmp_path / "ddp.yaml"
    out = tmp_path / "ddp"
    config_file.write_text(yaml.safe_dump(tiny.replace({"optim.epochs": 1, "run.out": str(out)}).to_dict()))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node=2",
        str(REPO / "train.py"),
        "--config",
        str(config_file),
        "--device",
        "cpu",
    ]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "x2" in done.stdout  # rank 0 reports both processes
    (row,) = list(csv.DictReader((out / "metrics.csv").open()))
    assert int(row["train_records"]) == int(row["train_distinct"]) == 40  # two disjoint shards of 20
    assert int(row["val_records"]) == 7  # validation gathered from both ranks
    assert math.isfinite(float(row["val_loss"]))
    assert load_checkpoint(out / "last.pt")["world"] == 2


def test_additive_tables_learn_at_their_own_rate() -> None:
    model = LocalLeadAttentionNet(TrainConfig.from_dict(TINY).model)
    tables = model.additive_tables()
    assert model.lead_embedding in tables and len(tables) == 1 + 2 * len(model.blocks)
    plain = parameter_groups(model, 0.05, 1e-3)
    assert len(plain) == 2 and all(g["lr"] == 1e-3 for g in plain)
    groups = parameter_groups(model, 0.05, 1e-3, table_lr_scale=10.0)
    assert [len(g["params"]) for g in groups][2] == len(tables)
    assert groups[2]["lr"] == pytest.approx(1e-2) and groups[2]["weight_decay"] == 0.0
    counted = sum(len(g["params"]) for g in groups)
    assert counted == sum(1 for p in model.parameters() if p.requires_grad)
    # Through the schedule, the tables keep ten times the rate of everything else.
    optim = TrainConfig.from_dict(TINY).optim.replace({"table_lr_scale": 10.0})
    optimiser = Optimiser(model, optim, steps_per_epoch=4, device=torch.device("cpu"), amp="off")
    optimiser.step(model(torch.randn(2, 12, 250)).sum())
    rates = [g["lr"] for g in optimiser.optimizer.param_groups]
    assert rates[2] == pytest.approx(10 * rates[0]) and rates[0] > 0


def test_the_public_step_learns_and_its_state_resumes_an_optimiser() -> None:
    torch.manual_seed(0)
    config = TrainConfig.from_dict(TINY)
    model = LocalLeadAttentionNet(config.model)
    optim = config.optim.replace({"warmup_epochs": 0.0})
    optimiser = Optimiser(model, optim, steps_per_epoch=4, device=torch.device("cpu"), amp="off")
    x = torch.randn(4, 12, 250)
    batch = (x, torch.ones(4, 12, dtype=torch.bool), torch.full((4,), 250), torch.zeros(4, 26))
    criterion = torch.nn.BCEWithLogitsLoss()
    losses = [float(classifier_step(model, criterion, optimiser, batch)) for _ in range(6)]
    assert losses[-1] < losses[0] and all(math.isfinite(v) for v in losses)
    assert optimiser.lr < optim.lr  # the schedule moved once per step
    copy = Optimiser(LocalLeadAttentionNet(config.model), optim, 4, torch.device("cpu"), "off")
    copy.load_state_dict(optimiser.state_dict())
    assert copy.lr == optimiser.lr and copy.scheduler.last_epoch == 6


def test_a_taken_run_folder_is_refused_before_any_data_is_read(tmp_path: Path) -> None:
    taken = tmp_path / "a-file"
    taken.write_text("")
    config = TrainConfig.from_dict(TINY).replace(
        {"data.manifest": str(tmp_path / "missing.csv"), "run.out": str(taken)}
    )
    with pytest.raises(TrainingError, match="is a file: name a folder"):
        train(config)


def test_a_checkpoint_written_before_mlp_kernel_loads_as_the_network_it_holds(tmp_path):
    """Format-1 checkpoints from before ``mlp_kernel`` existed hold feed-forward layers without the
    convolution: they load as ``mlp_kernel=0``, with the same outputs."""
    from dataclasses import replace

    from leadattn.checkpoint import classifier_payload, save_checkpoint
    from leadattn.data import PreprocessConfig
    from leadattn.models import LocalLeadAttentionConfig

    config = replace(LocalLeadAttentionConfig(), mlp_kernel=0)
    torch.manual_seed(3)
    network = LocalLeadAttentionNet(config).eval()
    thresholds = {str(size): [0.5] * len(CLASS_KEYS) for size in LEAD_SUBSETS}
    payload = classifier_payload(network, config, PreprocessConfig(), thresholds)
    del payload["model_config"]["mlp_kernel"]
    loaded = load_model(save_checkpoint(tmp_path / "old.pt", payload))
    assert loaded.model.config.mlp_kernel == 0
    x = torch.randn(1, 12, 2000)
    with torch.no_grad():
        torch.testing.assert_close(loaded.model(x), network(x))
