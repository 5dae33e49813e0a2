"""``leadattn-explain``: explain one record with a trained checkpoint and write maps and figures.

Example::

    leadattn-explain data/E07500.hea --checkpoint runs/demo/best.pt --out explanations/E07500 \\
        --methods attention,integrated_gradients --classes predicted --leads 12 --format png,svg
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

import torch

from explain.attribution import IG_STEPS
from explain.baselines import BASELINES, SinusRhythmBaseline
from explain.explainer import EXPLAINERS, explainer_class
from explain.export import check_output_folder, export_record
from explain.plotting import FORMATS, LAYOUTS, STYLES
from leadattn.checkpoint import load_model
from leadattn.cli import Command, registrar


def _names(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


DESCRIPTION = "Explain one ECG record: attention and attribution maps, figures and predictions."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``explain``."""
    parser.add_argument("record", help="record to explain (.hea, .mat or the record's path without suffix)")
    parser.add_argument("--checkpoint", required=True, help="trained checkpoint (.pt)")
    parser.add_argument("--out", required=True, help="folder to write into (created if missing)")
    parser.add_argument(
        "--methods",
        default="attention,integrated_gradients",
        help=f"comma-separated methods from: {', '.join(EXPLAINERS)} (default: %(default)s)",
    )
    parser.add_argument(
        "--classes",
        default="predicted",
        help="'predicted' or comma-separated class abbreviations/SNOMED codes (default: %(default)s)",
    )
    parser.add_argument(
        "--leads", default=None, help="lead subset: 12, 6, 4, 3, 2 or names such as I,II,V2 (default: all)"
    )
    parser.add_argument(
        "--format",
        default="png",
        help=f"comma-separated figure formats from {', '.join(FORMATS)}; 'none' for none",
    )
    parser.add_argument(
        "--baseline",
        default=None,
        help=f"attribution baseline: {', '.join(BASELINES)} or sinus:DIR (normal sinus records in DIR) "
        "(default: zeros)",
    )
    parser.add_argument(
        "--output", choices=("logit", "probability"), default=None, help="score explained (default: logit)"
    )
    parser.add_argument(
        "--aggregate", default=None, help="attention: mean, rollout or block:<i> (default: mean)"
    )
    parser.add_argument("--style", choices=STYLES, default="interval", help="figure overlay style")
    parser.add_argument(
        "--layout", choices=tuple(LAYOUTS), default="4x3", help="figure layout (columns x rows)"
    )
    parser.add_argument(
        "--seconds", type=float, default=10.0, help="seconds drawn in figures (0: whole record)"
    )
    parser.add_argument("--smooth", type=float, default=None, help="smooth maps in figures over SECONDS")
    parser.add_argument(
        "--steps", type=int, default=None, help=f"Integrated Gradients steps (default: {IG_STEPS})"
    )
    parser.add_argument(
        "--clusters",
        default=None,
        help="cluster file fitted on this checkpoint (leadattn-explain-clusters fit): add the clusters",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch threads (default: torch's; 1 is faster on a busy CPU)",
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command; bad input prints one line naming the problem and returns 2."""
    return _EXPLAIN.standalone("leadattn-explain", argv)


def run(args: argparse.Namespace) -> int:
    """Explain the record the arguments name, then say what was written."""
    if args.threads is not None:
        torch.set_num_threads(max(1, args.threads))
    out = check_output_folder(args.out)
    methods = _names(args.methods)
    for method in methods:
        explainer_class(method)
    settings = {
        key: value
        for key, value in (
            ("baseline", args.baseline),
            ("output", args.output),
            ("aggregate", args.aggregate),
            ("n_steps", args.steps),
        )
        if value is not None
    }
    if args.steps is not None and args.steps < 1:
        raise ValueError(f"--steps must be positive, got {args.steps}")
    loaded = load_model(args.checkpoint)
    baseline = settings.get("baseline")
    if isinstance(baseline, str) and baseline.startswith("sinus:"):
        folder = baseline.split(":", 1)[1]
        settings["baseline"] = SinusRhythmBaseline.from_directory(folder, loaded.preprocess)
    formats = [] if args.format.strip().lower() == "none" else _names(args.format)
    classes = "predicted" if args.classes.strip() == "predicted" else _names(args.classes)
    result = export_record(
        loaded,
        args.record,
        out,
        methods=methods,
        classes=classes,
        leads=args.leads,
        formats=formats,
        settings=settings,
        style=args.style,
        layout=args.layout,
        seconds=args.seconds or None,
        smooth_seconds=args.smooth,
        clusters=args.clusters,
        progress=True,
    )
    predicted = ", ".join(result.predictions["predicted"]) or "none"
    print(f"{result.predictions['record']}: predicted {predicted}")
    print(f"wrote {len(result.tables)} tables and {len(result.figures)} figures to {result.directory}")
    for note in result.notes:
        print(f"note: {note}")
    return 0


_EXPLAIN = Command("explain", "explain one record with a checkpoint", DESCRIPTION, add_arguments, run)
register = registrar(_EXPLAIN)

if __name__ == "__main__":
    raise SystemExit(main())
