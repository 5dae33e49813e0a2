"""The ``leadattn`` command: prepare data, train, evaluate, predict and explain.

Each subcommand lives beside the code it drives; ``leadattn SUBCOMMAND --help`` describes it. Packages
built on leadattn add subcommands through the ``leadattn.commands`` entry-point group (a
``register(subparsers)`` function), which is how ``leadattn explain`` comes from the ``explain`` package
without leadattn importing it.
"""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Callable, Sequence
from importlib.metadata import entry_points

from leadattn import __version__
from leadattn.errors import run_cli

_MODULES = (
    "leadattn.data.cli",
    "leadattn.synth.cli",
    "leadattn.training.cli",
    "leadattn.pretrain.cli",
    "leadattn.evaluation.cli",
    "leadattn.prediction",
)


Arguments = Callable[[argparse.ArgumentParser], None]
Run = Callable[[argparse.Namespace], int]


def add_command(
    subparsers: argparse._SubParsersAction,
    name: str,
    summary: str,
    description: str,
    arguments: Arguments,
    run: Run,
    epilog: str | None = None,
    formatter: type[argparse.HelpFormatter] = argparse.RawDescriptionHelpFormatter,
) -> None:
    """Add subcommand ``name`` to ``leadattn``: its line in ``leadattn --help``, its own help (the
    description, options and examples) and the function it runs."""
    parser = subparsers.add_parser(
        name, help=summary, description=description, epilog=epilog, formatter_class=formatter
    )
    arguments(parser)
    parser.set_defaults(func=run)


def run_standalone(
    prog: str,
    description: str,
    arguments: Arguments,
    run: Run,
    argv: Sequence[str] | None,
    epilog: str | None = None,
) -> int:
    """A subcommand as a console script of its own (``leadattn-train``, ``train.py``, ...)."""
    parser = argparse.ArgumentParser(
        prog=prog,
        description=description,
        epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    arguments(parser)
    args = parser.parse_args(argv)
    return run_cli(lambda: run(args))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="leadattn",
        description="Train, evaluate, predict with and explain local lead-attention ECG classifiers.",
        epilog="Run `leadattn SUBCOMMAND --help` for the options of each step.",
    )
    parser.add_argument("--version", action="version", version=f"leadattn {__version__}")
    subparsers = parser.add_subparsers(dest="command", required=True)
    for name in _MODULES:
        importlib.import_module(name).register(subparsers)
    for plugin in sorted(entry_points(group="leadattn.commands"), key=lambda ep: ep.name):
        plugin.load()(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run a subcommand; expected failures print one line and exit 2 instead of a traceback."""
    args = build_parser().parse_args(argv)
    return run_cli(lambda: args.func(args))


if __name__ == "__main__":
    raise SystemExit(main())
