"""``leadattn train`` / ``leadattn-train`` / ``train.py``: a thin argparse layer over :func:`train`.

Without ``--config`` and without a manifest, the bundled demo configuration trains on the synthetic
demo set (generated on first use). With a manifest and no ``--config``, the bundled defaults for
real data apply. ``--set key=value`` changes any configuration key; the common ones also have flags.
Expected failures print one ``error:`` line and exit with status 2.
"""

from __future__ import annotations

import argparse
import os
import shlex
import time
from pathlib import Path
from typing import Any

import yaml

from leadattn.cli import Command, registrar
from leadattn.config import parse_overrides
from leadattn.data import read_manifest, select_folds
from leadattn.synth import demo_manifest
from leadattn.training.config import TrainConfig, bundled_config, load_config
from leadattn.training.loop import RunResult, train
from leadattn.training.resume import run_config

DESCRIPTION = """Train a local lead-attention model on the training folds of a manifest, validating on its
validation fold after every epoch. Without --config and without a manifest, the bundled demo
configuration trains on the synthetic demo set (generated on first use)."""

EXAMPLES = """examples:
  python train.py                                    # the demo, into runs/demo
  python train.py --manifest m.csv --out runs/a      # real data with the bundled defaults
  python train.py --config my.yaml --set optim.lr=3e-4 data.sampler=rare_class
  python train.py --resume runs/a                    # continue an interrupted run
  python train.py --manifest m.csv --init runs/jepa --linear-probe  # a pretrained encoder, head only
  torchrun --standalone --nproc_per_node=4 train.py --manifest m.csv --out runs/ddp"""

_FLAGS = {
    "manifest": "data.manifest",
    "data_dir": "data.data_dir",
    "out": "run.out",
    "epochs": "optim.epochs",
    "device": "run.device",
    "batch_size": "data.batch_size",
    "workers": "data.workers",
    "init": "finetune.init",
}


def add_run_arguments(parser: argparse.ArgumentParser) -> None:
    """Options shared by ``train`` and ``pretrain``: configuration, data, run folder, resume."""
    parser.add_argument("--config", type=Path, help="YAML or TOML file of settings (partial files are fine)")
    parser.add_argument(
        "--set",
        dest="overrides",
        metavar="KEY=VALUE",
        nargs="+",
        action="extend",
        default=[],
        help="override configuration keys, e.g. --set optim.lr=3e-4 data.val_folds=[7]",
    )
    parser.add_argument("--manifest", help="manifest CSV from `leadattn prepare` (data.manifest)")
    parser.add_argument("--data-dir", help="folder the manifest's paths are relative to (data.data_dir)")
    parser.add_argument("--out", help="run folder for checkpoints and logs (run.out)")
    parser.add_argument("--epochs", type=int, help="number of epochs (optim.epochs)")
    parser.add_argument("--device", help="auto, cpu, cuda, cuda:1 ... (run.device)")
    parser.add_argument("--batch-size", type=int, help="records per batch and process (data.batch_size)")
    parser.add_argument("--workers", type=int, help="DataLoader worker processes (data.workers)")
    parser.add_argument("--resume", type=Path, metavar="RUN_DIR", help="continue the run saved in RUN_DIR")
    parser.add_argument("--overwrite", action="store_true", help="replace a run already in the run folder")
    parser.add_argument(
        "--print-config", action="store_true", help="print the resolved configuration and exit"
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``train``."""
    add_run_arguments(parser)
    parser.add_argument(
        "--init",
        metavar="PRETRAINED",
        help="pretrained encoder to start from: checkpoint or run folder of `leadattn pretrain`",
    )
    parser.add_argument(
        "--linear-probe",
        action="store_true",
        help="with --init: freeze the encoder and train the head only (finetune.linear_probe)",
    )


def flag_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """Dotted-key overrides from ``--set`` and the flags that name configuration keys."""
    flags: dict[str, Any] = {key: getattr(args, name, None) for name, key in _FLAGS.items()}
    flags = {k: v for k, v in flags.items() if v is not None}
    if getattr(args, "linear_probe", False):
        flags["finetune.linear_probe"] = True
    return {**parse_overrides(args.overrides), **flags}


def resolve_config(args: argparse.Namespace) -> tuple[TrainConfig, bool]:
    """The configuration the arguments describe, and whether it is the no-argument demo."""
    overrides = flag_overrides(args)
    if args.resume is not None:
        if args.config is not None:
            raise ValueError(
                "--config cannot be combined with --resume: a run continues with its own settings"
            )
        return run_config(args.resume, TrainConfig, overrides), False
    if args.config is not None:
        return load_config(args.config).replace(overrides), False
    if "data.manifest" in overrides:
        return bundled_config("default").replace(overrides), False
    return bundled_config("demo").replace(overrides), True


def keep_earlier_run(run_dir: Path) -> Path | None:
    """Move a finished or interrupted run (and its evaluation and explanation folders) aside to
    ``<run>-<time>``, so that a new demo run neither replaces it nor mixes with its stale outputs."""
    if not (run_dir / "last.pt").exists():
        return None
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime((run_dir / "last.pt").stat().st_mtime))
    target = run_dir.with_name(f"{run_dir.name}-{stamp}")
    run_dir.rename(target)
    return target


def _next_steps(result: RunResult, config: TrainConfig) -> list[str]:
    checkpoint = str(result.best_checkpoint)
    folds = config.data.test_folds or config.data.val_folds
    frame = read_manifest(result.manifest)
    held_out = select_folds(frame, folds)
    lines = [
        "leadattn evaluate "
        + shlex.join(
            [
                checkpoint,
                str(result.manifest),
                "--folds",
                ",".join(map(str, folds)),
                "--out",
                str(result.run_dir / "evaluation"),
            ]
        )
    ]
    if len(held_out):
        record = result.data_dir / held_out["path"].iloc[0]
        lines.append(
            "leadattn-explain "
            + shlex.join([str(record), "--checkpoint", checkpoint, "--out", str(result.run_dir / "explain")])
        )
    return lines


def run_train(args: argparse.Namespace) -> int:
    """Train, then print where the model is and what to run next."""
    config, demo = resolve_config(args)
    if args.print_config:
        print(yaml.safe_dump(config.to_dict(), sort_keys=False), end="")
        return 0
    if demo:
        config = config.replace({"data.manifest": str(demo_manifest())})
        kept = None if args.overwrite else keep_earlier_run(Path(config.run.out))
        if kept is not None:
            print(f"the earlier demo run in {config.run.out} is kept as {kept}")
    result = train(config, resume=args.resume is not None, overwrite=args.overwrite)
    if int(os.environ.get("RANK", "0")) != 0:
        return 0
    best = result.best_metrics
    print(
        f"done in {result.seconds / 60:.1f} min: best epoch {result.best_epoch} "
        f"(validation AUROC {best['auroc']:.3f}, AUPRC {best['auprc']:.3f}, "
        f"challenge metric {best['challenge_metric']:.3f})"
        + (" - stopped early" if result.stopped_early else "")
    )
    print(f"checkpoint: {result.best_checkpoint}  (last epoch: {result.last_checkpoint})")
    print(f"logs: {result.run_dir / 'metrics.csv'}, {result.run_dir / 'learning_curves.png'}")
    print("next:")
    for line in _next_steps(result, config):
        print(f"  {line}")
    return 0


_TRAIN = Command(
    "train",
    "train a lead-attention model (no arguments: the demo)",
    DESCRIPTION,
    add_arguments,
    run_train,
    EXAMPLES,
)
register = registrar(_TRAIN)


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``leadattn-train`` and ``train.py``."""
    return _TRAIN.standalone("leadattn-train", argv)
