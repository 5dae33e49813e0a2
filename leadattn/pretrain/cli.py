"""``leadattn pretrain``: a thin argparse layer over :func:`pretrain`.

Without ``--config`` the bundled ``default`` pretraining configuration applies; ``--set key=value``
changes any key. Labels in the manifest are not used, so unlabelled records are fine.
"""

from __future__ import annotations

import argparse
import os

import yaml

from leadattn.cli import Command, registrar
from leadattn.pretrain.config import PretrainConfig
from leadattn.pretrain.loop import pretrain
from leadattn.training.cli import add_run_arguments, flag_overrides
from leadattn.training.config import bundled_config, load_config
from leadattn.training.resume import run_config

DESCRIPTION = """Self-supervised pretraining of the network's encoder (JEPA): a context encoder sees part of
each record, a predictor guesses the representations an EMA target encoder gives to the hidden
parts. Labels are not used. Fine-tune the result with `leadattn train --init RUN/last.pt`."""

EXAMPLES = """examples:
  leadattn pretrain --manifest m.csv --out runs/jepa
  leadattn pretrain --manifest m.csv --set mask.kind=ecg_jepa optim.epochs=50
  leadattn pretrain --resume runs/jepa
  torchrun --standalone --nproc_per_node=4 -m leadattn.cli pretrain --manifest m.csv --out runs/jepa
  leadattn train --manifest m.csv --init runs/jepa/last.pt --out runs/finetuned"""


def resolve_config(args: argparse.Namespace) -> PretrainConfig:
    """The pretraining configuration the arguments describe."""
    overrides = flag_overrides(args)
    if args.resume is not None:
        if args.config is not None:
            raise ValueError(
                "--config cannot be combined with --resume: a run continues with its own settings"
            )
        return run_config(args.resume, PretrainConfig, overrides)
    if args.config is not None:
        return load_config(args.config, kind=PretrainConfig).replace(overrides)
    return bundled_config("default", kind=PretrainConfig, package="leadattn.pretrain").replace(overrides)


def run_pretrain(args: argparse.Namespace) -> int:
    """Pretrain, then print where the encoder is and how to fine-tune it."""
    config = resolve_config(args)
    if args.print_config:
        print(yaml.safe_dump(config.to_dict(), sort_keys=False), end="")
        return 0
    result = pretrain(config, resume=args.resume is not None, overwrite=args.overwrite)
    if int(os.environ.get("RANK", "0")) != 0:
        return 0
    last = result.history[-1] if result.history else {}
    print(
        f"done in {result.seconds / 60:.1f} min: {len(result.history)} epochs, final loss "
        f"{last.get('train_loss', float('nan')):.4f}, target std {last.get('target_std', float('nan')):.3f}"
        + ("  (collapsed)" if result.collapsed else "")
    )
    print(f"pretrained encoder: {result.checkpoint}")
    print(f"logs: {result.run_dir / 'metrics.csv'}, {result.run_dir / 'pretraining_curves.png'}")
    print(f"next: leadattn train --manifest MANIFEST --init {result.checkpoint} [--linear-probe]")
    return 0


register = registrar(
    Command(
        "pretrain",
        "self-supervised JEPA pretraining of the encoder (labels unused)",
        DESCRIPTION,
        add_run_arguments,
        run_pretrain,
        EXAMPLES,
    )
)
