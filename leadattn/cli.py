"""The ``leadattn`` command: prepare data, train, evaluate, predict and explain.

Each subcommand lives beside the code it drives, declared there as a :class:`Command`;
``leadattn SUBCOMMAND --help`` describes it. Packages built on leadattn add subcommands through the
``leadattn.commands`` entry-point group (a ``register(subparsers)`` function, such as one made by
:func:`registrar`), which is how ``leadattn explain`` comes from the ``explain`` package without
leadattn importing it.
"""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
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
Register = Callable[[argparse._SubParsersAction], None]


def add_workers_argument(parser: argparse.ArgumentParser) -> None:
    """``--workers``: the processes of a step that runs over many records at once."""
    parser.add_argument("--workers", type=int, default=None, help="processes (default: all cores)")


@dataclass(frozen=True)
class Command:
    """A subcommand: its name, its line in ``leadattn --help`` (``summary``), its own help (the
    description, the options ``arguments`` adds and an epilog of examples) and the function it runs."""

    name: str
    summary: str
    description: str
    arguments: Arguments
    run: Run
    epilog: str | None = None
    formatter: type[argparse.HelpFormatter] = argparse.RawDescriptionHelpFormatter

    def add_to(self, subparsers: argparse._SubParsersAction) -> None:
        """Add this subcommand to ``leadattn``."""
        parser = subparsers.add_parser(
            self.name,
            help=self.summary,
            description=self.description,
            epilog=self.epilog,
            formatter_class=self.formatter,
        )
        self.arguments(parser)
        parser.set_defaults(func=self.run)

    def standalone(self, prog: str, argv: Sequence[str] | None = None) -> int:
        """Run this subcommand as a console script of its own (``leadattn-train``, ``train.py``, ...)."""
        parser = argparse.ArgumentParser(
            prog=prog, description=self.description, epilog=self.epilog, formatter_class=self.formatter
        )
        self.arguments(parser)
        args = parser.parse_args(argv)
        return run_cli(lambda: self.run(args))


def registrar(*commands: Command) -> Register:
    """The ``register(subparsers)`` function of a module: it adds ``commands`` to ``leadattn``."""

    def register(subparsers: argparse._SubParsersAction) -> None:
        for command in commands:
            command.add_to(subparsers)

    register.__doc__ = f"Add {', '.join(f'``{c.name}``' for c in commands)} to the ``leadattn`` command."
    return register


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
