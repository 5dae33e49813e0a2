"""JEPA pretraining: nothing hidden reaches the context, EMA, the loop, resume, fine-tuning, errors."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import pytest
import torch
import yaml

from leadattn.checkpoint import CheckpointError, load_checkpoint, load_model
from leadattn.cli import main as leadattn_main
from leadattn.data import read_manifest
from leadattn.masks import LeadTimeMaskCollator, MaskCollator
from leadattn.pretrain import Jepa, PretrainConfig, batch_masks, ema_momentum, pretrain
from leadattn.pretrain.config import JepaConfig, PredictorConfig
from leadattn.pretrained import encoder_state, is_encoder_key
from leadattn.training import ConfigError, TrainConfig, bundled_config, train
from leadattn.training.cli import main as train_main

MODEL = {
    "stem_channels": [4],
    "stem_kernels": [5, 5],
    "stem_strides": [2, 2],
    "dims": [16, 16],
    "depths": [1, 1],
    "within_heads": [1, 1],
    "across_heads": [2, 2],
    "windows": [4, 0],
    "dropout": 0.1,
}
"""Token stride 4 x 2 = 8 samples; patches of 16 samples are two last-stage tokens."""

TINY = {
    "data": {"crop_seconds": 2.048, "val_crop_seconds": 2.048, "batch_size": 8, "workers": 0},
    "preprocess": {"fs": 125.0},
    "model": MODEL,
    "mask": {"kind": "lead_time", "patch_size": 16, "min_block_size": 2},
    "predictor": {"dim": 16, "depth": 1, "heads": 2},
    "jepa": {"ema_start": 0.9, "ema_end": 0.99},
    "optim": {"epochs": 2, "lr": 0.003, "warmup_epochs": 0.5},
    "run": {"tensorboard": False, "progress": False},
}


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("pretrain") / "sample.cache"


@pytest.fixture
def tiny(sample_manifest: Path, shared_records_dir: Path, cache_dir: Path, tmp_path: Path) -> PretrainConfig:
    return PretrainConfig.from_dict(TINY).replace(
        {
            "data.manifest": str(sample_manifest),
            "data.cache_dir": str(cache_dir),
            "run.out": str(tmp_path / "jepa"),
        }
    )


def _classifier(tiny: PretrainConfig, out: Path, **changes: object) -> TrainConfig:
    base = {
        "data.manifest": tiny.data.manifest,
        "data.cache_dir": tiny.data.cache_dir,
        "data.crop_seconds": 2.0,
        "data.val_crop_seconds": 4.0,
        "data.batch_size": 8,
        "data.workers": 0,
        "preprocess.fs": 125.0,
        "optim.epochs": 1,
        "run.out": str(out),
        "run.tensorboard": False,
        "run.progress": False,
        "run.patience": 0,
    }
    model = {f"model.{k}": v for k, v in MODEL.items()}
    return TrainConfig().replace({**base, **model, **changes})


def _training_rows(config: PretrainConfig) -> int:
    """Manifest rows outside the validation and test folds (all are readable sample records)."""
    frame = read_manifest(config.data.manifest)
    return int((~frame["fold"].isin([*config.data.val_folds, *config.data.test_folds])).sum())


def _jepa() -> Jepa:
    config = PretrainConfig.from_dict(TINY)
    torch.manual_seed(0)
    return Jepa(config.model, config.predictor, config.jepa, config.mask.patch_size).eval()


# ---------------------------------------------------------------------------------------------------
# The architecture


@pytest.mark.parametrize(
    "collator", [MaskCollator(16, 2, 0.2, 0.3, seed=0), LeadTimeMaskCollator(16, 2, seed=1)]
)
def test_changing_hidden_samples_leaves_every_context_token_unchanged(collator) -> None:
    jepa = _jepa()
    x = torch.randn(3, 12, 256)
    leads = torch.ones(3, 12, dtype=torch.bool)
    leads[2, 7] = False
    context, _ = collator.sample(3, 16).grids()
    changed = x.clone()
    hidden = ~context.repeat_interleave(16, dim=-1)
    changed[hidden] = 10 * torch.randn(int(hidden.sum()))
    per_patch = 16 // jepa.token_stride
    seen = context.repeat_interleave(per_patch, dim=-1) & leads[:, :, None]
    a = jepa.context_tokens(x, leads, context)
    b = jepa.context_tokens(changed, leads, context)
    assert torch.isfinite(a).all()
    assert torch.equal(a[seen], b[seen])
    # the hidden tokens do change when their samples are no longer hidden
    assert not torch.equal(a, jepa.context_tokens(changed, leads, torch.ones_like(context)))


def test_hidden_tokens_are_no_attention_keys() -> None:
    """Beyond zeroed samples: whatever the stem gives at hidden tokens cannot reach context tokens."""
    jepa = _jepa()
    encoder = jepa.encoder
    x = torch.randn(2, 12, 256)
    leads = torch.ones(2, 12, dtype=torch.bool)
    context, _ = LeadTimeMaskCollator(16, 2, seed=3).sample(2, 16).grids()
    keys = context.repeat_interleave(16 // encoder.config.stem_stride, dim=-1)
    tokens = encoder.embed(x)
    noisy = torch.where(keys[..., None], tokens, torch.randn_like(tokens))
    a = encoder.encode(tokens, leads, key_mask=keys)
    b = encoder.encode(noisy, leads, key_mask=keys)
    seen = context.repeat_interleave(16 // jepa.token_stride, dim=-1)
    assert torch.allclose(a[seen], b[seen], atol=1e-6)
    assert not torch.allclose(encoder.encode(tokens, leads)[seen], encoder.encode(noisy, leads)[seen])


def test_loss_trains_context_encoder_and_predictor_but_not_the_target() -> None:
    jepa = _jepa().train()
    x = torch.randn(2, 12, 256)
    leads = torch.ones(2, 12, dtype=torch.bool)
    context, target = MaskCollator(16, 2, 0.2, 0.3, seed=0).sample(2, 16).grids()
    out = jepa(x, leads, context, target)
    assert out.loss.ndim == 0 and math.isfinite(out.loss.item()) and out.target_std.item() > 0
    out.loss.backward()
    assert all(p.grad is None for p in jepa.target.parameters())
    assert jepa.encoder.stem.layers[0].weight.grad.abs().sum() > 0
    assert jepa.predictor.mask_token.grad.abs().sum() > 0
    assert jepa.encoder.head.weight.grad is None  # the classifier head is not part of pretraining


def test_ema_moves_the_target_towards_the_encoder() -> None:
    jepa = _jepa()
    with torch.no_grad():
        for p in jepa.encoder.parameters():
            p.add_(1.0)
    before = {k: v.clone() for k, v in jepa.target.state_dict().items()}
    jepa.update_target(0.75)
    online = jepa.encoder.state_dict()
    for key, value in jepa.target.state_dict().items():
        if is_encoder_key(key) and value.is_floating_point():
            assert torch.allclose(value, 0.75 * before[key] + 0.25 * online[key], atol=1e-6), key
        else:
            assert torch.equal(value, before[key]), key
    config = PretrainConfig.from_dict(TINY)
    assert ema_momentum(config, 0, 10) == 0.9 and ema_momentum(config, 10, 10) == pytest.approx(0.99)


def test_batch_masks_are_reproducible_and_sized_to_the_crop() -> None:
    config = PretrainConfig.from_dict(TINY)
    a, b = batch_masks(config, 4, 256, (1, 2, 0)), batch_masks(config, 4, 256, (1, 2, 0))
    assert torch.equal(a.context, b.context) and a.num_patches == 16
    assert not torch.equal(a.context, batch_masks(config, 4, 256, (1, 3, 0)).context)


# ---------------------------------------------------------------------------------------------------
# Configuration


def test_bundled_pretrain_config_is_complete_and_valid() -> None:
    bundled = bundled_config("default", kind=PretrainConfig, package="leadattn.pretrain")
    assert bundled == PretrainConfig()
    text = (
        Path(__file__).resolve().parents[1] / "leadattn" / "pretrain" / "configs" / "default.yaml"
    ).read_text()
    for line in text.splitlines():
        if line.startswith("  ") and ":" in line and not line.strip().startswith("#"):
            assert "#" in line or "max_keep_ratio" in line, f"undocumented key: {line.strip()}"
    assert PretrainConfig().crop_samples % PretrainConfig().mask.patch_size == 0


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"mask.patch_size": 12}, "multiple of the encoder's output token stride, 8 samples"),
        ({"data.crop_seconds": 2.0}, "250 samples at 125 Hz, which mask.patch_size 16 does not divide"),
        ({"mask.min_block_size": 15}, "too short"),
        ({"mask.kind": "ijepa", "mask.min_keep": 20}, "min_keep 20 is larger than the context"),
        ({"mask.min_keep_ratio": 0.5, "mask.max_keep_ratio": 0.4}, "keep ratios"),
    ],
)
def test_impossible_masks_are_clear_errors(changes: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        PretrainConfig.from_dict(TINY).replace(changes)


def test_predictor_and_objective_settings_are_checked() -> None:
    with pytest.raises(ConfigError, match="divisible"):
        PredictorConfig(dim=15, heads=2)
    with pytest.raises(ConfigError, match="ema_start"):
        JepaConfig(ema_start=0.999, ema_end=0.99)


# ---------------------------------------------------------------------------------------------------
# The loop, resume, fine-tuning


def test_pretraining_writes_a_resumable_run_that_matches_an_uninterrupted_one(
    tiny: PretrainConfig, tmp_path: Path
) -> None:
    whole = pretrain(tiny.replace({"run.out": str(tmp_path / "whole")}))
    run = whole.run_dir
    for name in ("config.yaml", "last.pt", "metrics.csv", "pretraining_curves.png"):
        assert (run / name).is_file(), name
    rows = list(csv.DictReader((run / "metrics.csv").open()))
    assert [int(r["epoch"]) for r in rows] == [1, 2]
    assert all(float(r["target_std"]) > 0 and math.isfinite(float(r["val_loss"])) for r in rows)
    assert whole.train_records == _training_rows(tiny) and not whole.collapsed

    class Stop(Exception):
        pass

    def kill(row: dict) -> None:
        if row["epoch"] == 1:
            raise Stop

    interrupted = tiny.replace({"run.out": str(tmp_path / "cut")})
    with pytest.raises(Stop):
        pretrain(interrupted, on_epoch_end=kill)
    resumed = pretrain(interrupted, resume=True)
    a = load_checkpoint(whole.checkpoint, required=("format_version",))
    b = load_checkpoint(resumed.checkpoint, required=("format_version",))
    assert all(torch.equal(a["jepa_state"][k], b["jepa_state"][k]) for k in a["jepa_state"])
    assert [r["train_loss"] for r in whole.history] == [r["train_loss"] for r in resumed.history]

    with pytest.raises(CheckpointError, match="pretrained encoder .* not a trained classifier"):
        load_model(whole.checkpoint)


def test_fine_tuning_loads_the_encoder_and_linear_probing_freezes_it(
    tiny: PretrainConfig, tmp_path: Path
) -> None:
    jepa_run = pretrain(tiny.replace({"optim.epochs": 1}))
    pretrained = load_checkpoint(jepa_run.checkpoint, required=("format_version",))["encoder_state"]

    probe = train(
        _classifier(
            tiny,
            tmp_path / "probe",
            **{"finetune.init": str(jepa_run.run_dir), "finetune.linear_probe": True},
        )
    )
    state = load_checkpoint(probe.last_checkpoint)["model_state"]
    assert all(torch.equal(state[k], v) for k, v in pretrained.items())  # frozen
    assert not torch.equal(state["head.bias"], torch.zeros_like(state["head.bias"]))  # the head learned

    tuned = train(_classifier(tiny, tmp_path / "tuned", **{"finetune.init": str(jepa_run.checkpoint)}))
    state = load_checkpoint(tuned.last_checkpoint)["model_state"]
    assert any(not torch.equal(state[k], v) for k, v in pretrained.items())  # fine-tuned

    scratch = train(_classifier(tiny, tmp_path / "scratch"))
    assert scratch.history[0]["train_loss"] != tuned.history[0]["train_loss"]


def test_init_and_resume_refuse_the_wrong_kind_of_checkpoint(tiny: PretrainConfig, tmp_path: Path) -> None:
    jepa_run = pretrain(tiny.replace({"optim.epochs": 1}))
    supervised = train(_classifier(tiny, tmp_path / "supervised"))

    with pytest.raises(CheckpointError, match="is a supervised training checkpoint: --init needs"):
        train(_classifier(tiny, tmp_path / "a", **{"finetune.init": str(supervised.last_checkpoint)}))
    with pytest.raises(
        CheckpointError, match=r"another architecture: dims \(\[16, 16\] pretrained, \[16, 24\] now\)"
    ):
        train(
            _classifier(
                tiny, tmp_path / "b", **{"finetune.init": str(jepa_run.checkpoint), "model.dims": [16, 24]}
            )
        )
    with pytest.raises(CheckpointError, match="differently preprocessed signals \\(fs\\)"):
        train(
            _classifier(
                tiny, tmp_path / "c", **{"finetune.init": str(jepa_run.checkpoint), "preprocess.fs": 250.0}
            )
        )
    with pytest.raises(CheckpointError, match="holds a supervised training run, not a pretraining run"):
        pretrain(tiny.replace({"run.out": str(supervised.run_dir)}), resume=True)
    with pytest.raises(CheckpointError, match="holds a pretraining run, not a training run"):
        train(_classifier(tiny, jepa_run.run_dir), resume=True)
    with pytest.raises(ConfigError, match="linear_probe needs finetune.init"):
        _classifier(tiny, tmp_path / "d", **{"finetune.linear_probe": True})
    assert (
        encoder_state(load_model(supervised.best_checkpoint).model).keys()
        == load_checkpoint(jepa_run.checkpoint, required=("format_version",))["encoder_state"].keys()
    )


def test_cli_pretrains_resumes_and_reports_errors(
    tiny: PretrainConfig, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config_file = tmp_path / "tiny.yaml"
    config_file.write_text(yaml.safe_dump(tiny.replace({"optim.epochs": 1}).to_dict()))
    assert (
        leadattn_main(
            ["pretrain", "--config", str(config_file), "--print-config", "--set", "mask.kind=ecg_jepa"]
        )
        == 0
    )
    assert yaml.safe_load(capsys.readouterr().out)["mask"]["kind"] == "ecg_jepa"
    out = tmp_path / "cli"
    assert leadattn_main(["pretrain", "--config", str(config_file), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert f"pretrained encoder: {out / 'last.pt'}" in printed and "--init" in printed
    assert leadattn_main(["pretrain", "--resume", str(out)]) == 0  # already finished: nothing to do
    assert leadattn_main(["pretrain", "--config", str(config_file), "--set", "mask.patch_size=12"]) == 2
    assert "output token stride" in capsys.readouterr().err
    assert train_main(["--resume", str(out)]) == 2
    assert "holds a pretraining run" in capsys.readouterr().err


def test_two_processes_with_gloo_pretrain_one_model(tiny: PretrainConfig, tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    repo = Path(__file__).resolve().parents[1]
    config_file = tmp_path / "ddp.yaml"
    out = tmp_path / "ddp"
    config_file.write_text(yaml.safe_dump(tiny.replace({"optim.epochs": 1, "run.out": str(out)}).to_dict()))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(repo)}
    command = [
        *(sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"),
        *("-m", "leadattn.cli", "pretrain", "--config", str(config_file), "--device", "cpu"),
    ]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300, cwd=repo)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "x2" in done.stdout
    (row,) = list(csv.DictReader((out / "metrics.csv").open()))
    # two equal shards: the sampler leaves out the odd record of an epoch
    assert int(row["train_records"]) == 2 * (_training_rows(tiny) // 2)
    assert math.isfinite(float(row["val_loss"]))
    assert load_checkpoint(out / "last.pt", required=("format_version",))["world"] == 2
