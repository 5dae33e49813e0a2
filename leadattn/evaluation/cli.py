"""``leadattn evaluate`` / ``leadattn-evaluate`` / ``evaluate.py`` and ``leadattn score-outputs``.

Thin argparse layers over :func:`leadattn.evaluation.evaluate` and
:func:`leadattn.evaluation.score_outputs`. Expected failures (a missing file, a damaged checkpoint,
a bad split or bad outputs) print one ``error:`` line and exit with status 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from leadattn import metrics
from leadattn.cli import Command, registrar
from leadattn.evaluation.challenge_format import score_outputs
from leadattn.evaluation.evaluate import DEFAULT_SUBSETS, evaluate
from leadattn.evaluation.report import METRIC_TITLES
from leadattn.inference import add_predictor_arguments, predictor_options
from leadattn.labels import ABBREVIATIONS


def _folds(text: str) -> list[int]:
    try:
        return [int(f) for f in text.split(",") if f.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"folds must be integers such as 9 or 8,9, got {text!r}") from None


def add_evaluate_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``evaluate``."""
    parser.add_argument("checkpoint", type=Path, help="checkpoint written by training")
    parser.add_argument("manifest", type=Path, help="manifest CSV written by `leadattn prepare`")
    parser.add_argument(
        "--data-dir",
        type=Path,
        help="directory the manifest's paths are relative to (default: the one recorded in the "
        "manifest's .json sidecar when it was prepared)",
    )
    split = parser.add_mutually_exclusive_group()
    split.add_argument("--folds", type=_folds, help="fold(s) to score, e.g. 9 or 8,9 (default: all records)")
    split.add_argument("--records", type=Path, help="text file of record names to score, one per line")
    parser.add_argument(
        "--leads",
        nargs="+",
        default=[str(s) for s in DEFAULT_SUBSETS],
        help="lead subsets: sizes (12 6 4 3 2) or comma-separated names (I,II,V2); the first is the "
        "headline (default: 12 6 4 3 2)",
    )
    parser.add_argument("--thresholds", type=Path, help="JSON or CSV thresholds replacing the checkpoint's")
    parser.add_argument(
        "--bootstrap", type=int, default=1000, help="bootstrap resamples for intervals (0: none)"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the bootstrap")
    parser.add_argument("--combine", choices=("mean", "max"), default="mean", help="how windows are combined")
    add_predictor_arguments(parser)
    parser.add_argument(
        "--challenge-outputs",
        action="store_true",
        help="also write challenge output files under OUT/challenge_outputs/<subset>/",
    )
    parser.add_argument("--out", type=Path, required=True, help="output folder for the report")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def _leads(values: list[str]) -> list[int | str]:
    return [int(v) if v.strip().isdigit() else v for v in values]


def run_evaluate(args: argparse.Namespace) -> int:
    report = evaluate(
        args.checkpoint,
        args.manifest,
        data_dir=args.data_dir,
        out_dir=args.out,
        folds=args.folds,
        records=args.records,
        leads=_leads(args.leads),
        thresholds=args.thresholds,
        bootstrap=args.bootstrap,
        seed=args.seed,
        combine=args.combine,
        challenge_outputs=args.challenge_outputs,
        progress=not args.quiet,
        **predictor_options(args),
    )
    head = report.headline
    print(f"{head.records} records scored, {len(report.skipped)} skipped ({report.info['split']})")
    print(f"{'leads':>12} " + " ".join(f"{METRIC_TITLES[m]:>16}" for m in metrics.HEADLINE))
    for name, result in report.results.items():
        print(f"{name:>12} " + " ".join(f"{result.scores[m]:>16.3f}" for m in metrics.HEADLINE))
    for text in report.info.get("warnings", []):
        print(f"warning: {text}", file=sys.stderr)
    print(f"report: {args.out / 'report.md'}")
    return 0


def run_score_outputs(args: argparse.Namespace) -> int:
    result = score_outputs(args.output_dir, args.label_dir)
    print(f"{result['records']} records")
    print(",".join(METRIC_TITLES[m] for m in metrics.HEADLINE))
    print(",".join(f"{result[m]:.3f}" for m in metrics.HEADLINE))
    if args.class_scores:
        print("Class,AUROC,AUPRC,F-measure")
        for k, abbreviation in enumerate(ABBREVIATIONS):
            values = (result[f"{m}_classes"][k] for m in ("auroc", "auprc", "f_measure"))
            print(abbreviation + "," + ",".join(f"{v:.3f}" for v in values))
    if args.json:
        content = {k: (v.tolist() if hasattr(v, "tolist") else v) for k, v in result.items()}
        content["classes"] = list(ABBREVIATIONS)
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(content, indent=2, allow_nan=True) + "\n")
    return 0


def add_score_outputs_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``score-outputs``."""
    parser.add_argument("output_dir", type=Path, help="folder of <record>.csv output files")
    parser.add_argument("label_dir", type=Path, help="folder of <record>.hea files with #Dx lines")
    parser.add_argument("--class-scores", action="store_true", help="also print per-class scores")
    parser.add_argument("--json", type=Path, help="write all scores to this JSON file")


EVALUATE = (
    "Run a checkpoint over whole records of a manifest split under each lead subset and write "
    "predictions.csv, report.json, report.md and figures to --out."
)
SCORE_OUTPUTS = (
    "Score a folder of challenge output CSVs (#RECORD, codes, binary outputs, scores) against the #Dx "
    "lines of the .hea files of a label folder, as the 2021 challenge scores them."
)

_EVALUATE = Command(
    "evaluate",
    "score a checkpoint on a manifest split and write a report",
    EVALUATE,
    add_evaluate_arguments,
    run_evaluate,
)
register = registrar(
    _EVALUATE,
    Command(
        "score-outputs",
        "score challenge-format output files against label headers",
        SCORE_OUTPUTS,
        add_score_outputs_arguments,
        run_score_outputs,
    ),
)


def main(argv: list[str] | None = None) -> int:
    """``leadattn-evaluate`` and ``evaluate.py``: the ``evaluate`` subcommand on its own."""
    return _EVALUATE.standalone("leadattn-evaluate", argv)
