"""The ``leadattn`` command: one entry point whose subcommands live beside the code they drive."""

from __future__ import annotations

import argparse
import importlib
import sys

from leadattn.checkpoint import CheckpointError
from leadattn.data.records import RecordError

_MODULES = (
    "leadattn.data.cli",
    "leadattn.synth.cli",
    "leadattn.training.cli",
    "leadattn.pretrain.cli",
    "leadattn.evaluation.cli",
    "leadattn.prediction",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="leadattn", description=__doc__)
    subparsers = parser.add_subparsers(dest="command", required=True)
    for name in _MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run a subcommand; expected failures print one line and exit 2 instead of a traceback."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (CheckpointError, RecordError, FileNotFoundError, ValueError, KeyError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
