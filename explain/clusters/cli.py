"""``leadattn-explain-clusters fit``: fit time-localized clusters of a checkpoint's token vectors.

Example::

    leadattn-explain-clusters fit runs/demo/best.pt ~/.cache/leadattn/demo/2000_2021.csv \\
        --folds 0-7 --k 8 --view lead --out runs/demo/clusters_lead.npz

writes the cluster file and beside it ``<name>.report.md`` / ``.report.json`` (what was fitted on,
BIC, and on generated records the clusters' landmark composition; with ``--sweep`` also the K sweep
as a table and a figure). ``leadattn-explain RECORD --checkpoint CKPT --clusters FILE`` then adds a
record's clusters to its explanation.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path

import torch

from explain.clusters.figures import plot_sweep
from explain.clusters.fit import DEFAULT_MAX_VECTORS, best_k, collect_vectors, fit_sample, sweep_k
from explain.clusters.landmarks import landmark_names, landmark_table
from explain.clusters.model import METHODS, model_digest
from explain.clusters.signals import SignalSet
from explain.clusters.tokens import VIEWS
from leadattn.checkpoint import load_model
from leadattn.errors import run_cli
from leadattn.synth import annotation_path


def _ints(text: str) -> list[int]:
    """``"0-7"``, ``"8,9"`` or ``"-1,-2"`` as a list of integers."""
    values: list[int] = []
    try:
        for part in (p.strip() for p in text.split(",") if p.strip()):
            head, sep, tail = part[1:].partition("-")
            if sep:
                values += list(range(int(part[0] + head), int(tail) + 1))
            else:
                values.append(int(part))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected integers such as 3, 0-7 or 8,9; got {text!r}") from None
    return values


def _sources(text: str) -> list[int | str]:
    """Token sources: ``"-1"``, ``"0,1"``, ``"stem.0,-1"``: block indices (ranges as in :func:`_ints`)
    and stem layers ``stem.i`` (checked against the network when fitting)."""
    sources: list[int | str] = []
    for part in (p.strip() for p in text.split(",") if p.strip()):
        sources += [part] if part.startswith("stem") else _ints(part)
    return sources


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="leadattn-explain-clusters",
        description="Time-localized clusters of a network's token representations.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    fit = commands.add_parser("fit", help="fit clusters on the records of a manifest split")
    fit.add_argument("checkpoint", help="trained checkpoint (.pt)")
    fit.add_argument("manifest", help="manifest CSV (leadattn prepare)")
    fit.add_argument("--out", required=True, help="cluster file to write (.npz)")
    split = fit.add_mutually_exclusive_group()
    split.add_argument("--folds", type=_ints, help="folds to fit on, e.g. 0-7 (default: all records)")
    split.add_argument("--records", help="text file of record names to fit on")
    fit.add_argument("--k", default="8", help="number of clusters, or 'auto': best silhouette of --sweep")
    fit.add_argument("--sweep", type=_ints, help="K values to report BIC and silhouette for, e.g. 4-12")
    fit.add_argument("--view", choices=VIEWS, default="lead", help="cluster each lead's tokens or pooled")
    fit.add_argument(
        "--blocks",
        type=_sources,
        help="token sources: block indices and stem layers stem.i, e.g. -1, 0,1 or stem.0,-1 "
        "(default: the last stage's blocks)",
    )
    fit.add_argument("--method", choices=METHODS, default="gmm", help="soft clustering method")
    fit.add_argument("--pca", type=int, default=16, help="principal components kept (0: none)")
    fit.add_argument("--max-vectors", type=int, default=DEFAULT_MAX_VECTORS, help="reservoir size")
    fit.add_argument("--batch-size", type=int, default=32, help="records per forward pass")
    fit.add_argument(
        "--name-records",
        type=int,
        default=50,
        help="name clusters by landmark on this many fitted records that have annotation side files",
    )
    fit.add_argument("--data-dir", help="data directory of the manifest (default: recorded beside it)")
    fit.add_argument("--seed", type=int, default=0, help="random seed")
    fit.add_argument("--threads", type=int, default=None, help="torch threads")
    return parser


def _markdown(report: dict) -> str:
    lines = [f"# Clusters of {report['checkpoint']}", ""]
    for key in ("digest", "manifest", "split", "view", "blocks", "method", "k", "pca", "records", "skipped"):
        lines.append(f"- {key}: {report[key]}")
    for key, value in report["fit"].items():
        lines.append(f"- {key}: {value:.6g}" if isinstance(value, float) else f"- {key}: {value}")
    if "sweep" in report:
        lines += ["", "| K | BIC | silhouette |", "|---|---|---|"]
        for k, row in report["sweep"].items():
            lines.append(f"| {k} | {row['bic']:.6g} | {row['silhouette']:.3f} |")
    if "landmarks" in report:
        table = report["landmarks"]
        columns = list(next(iter(table["composition"].values())))
        lines += ["", f"Landmarks on {table['records']} records, NMI {table['nmi']:.3f}", ""]
        lines += ["| cluster | " + " | ".join(columns) + " |", "|---" * (len(columns) + 1) + "|"]
        for name, row in table["composition"].items():
            lines.append(f"| {name} | " + " | ".join(f"{row[c]:.2f}" for c in columns) + " |")
    return "\n".join(lines) + "\n"


def fit_command(args: argparse.Namespace) -> int:
    loaded = load_model(args.checkpoint)
    names = None
    if args.records:
        from leadattn.evaluation.evaluate import read_record_names

        names = read_record_names(args.records)
    signals = SignalSet.from_manifest(args.manifest, loaded.preprocess, args.folds, names, args.data_dir)
    pca = args.pca or None
    sample = collect_vectors(
        loaded, signals, args.blocks, args.view, args.max_vectors, args.batch_size, args.seed, progress=True
    )
    out = Path(args.out)
    out = out if out.suffix == ".npz" else out.with_name(out.name + ".npz")
    report: dict = {"checkpoint": str(args.checkpoint), "manifest": str(args.manifest)}
    report["split"] = f"folds {args.folds}" if args.folds else (args.records or "all records")
    if args.sweep:
        sweep = sweep_k(sample, args.sweep, pca, seed=args.seed)
        report["sweep"] = sweep.to_dict(orient="index")
        sweep.to_csv(out.with_suffix(".sweep.csv"))
        plot_sweep(sweep).savefig(out.with_suffix(".sweep.png"), dpi=120)
    if args.k == "auto":
        if not args.sweep:
            raise ValueError("--k auto needs --sweep with the K values to choose from")
        k = best_k(sweep)
    else:
        try:
            k = int(args.k)
        except ValueError:
            raise ValueError(f"--k must be an integer or 'auto', got {args.k!r}") from None
    clusters = fit_sample(
        sample, k, model_digest(loaded.model), loaded.preprocess.fs, args.method, pca, seed=args.seed
    )
    annotated = [p for p in signals.paths if annotation_path(p).is_file()][: args.name_records]
    if annotated:
        table, nmi = landmark_table(loaded, clusters, annotated)
        clusters = clusters.with_names(landmark_names(table))
        table.index = clusters.names
        report["landmarks"] = {"records": len(annotated), "nmi": nmi, "composition": table.to_dict("index")}
    clusters.save(out)
    report.update(
        digest=clusters.digest,
        view=clusters.view,
        blocks=list(clusters.blocks),
        method=clusters.method,
        k=clusters.k,
        pca=pca,
        records=sample.records,
        skipped=len(sample.skipped),
        fit={k: v for k, v in clusters.info.items() if k not in ("records", "skipped_records")},
        names=clusters.names,
    )
    out.with_suffix(".report.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    out.with_suffix(".report.md").write_text(_markdown(report), encoding="utf-8")
    blocks = list(clusters.blocks)
    print(f"{clusters.k} clusters ({clusters.view}, blocks {blocks}) of {sample.records} records")
    print(f"clusters: {', '.join(clusters.names)}")
    if "landmarks" in report:
        print(f"landmark NMI {report['landmarks']['nmi']:.3f} on {len(annotated)} records")
    if sample.skipped:
        print(f"skipped {len(sample.skipped)} unreadable records, e.g. {sample.skipped[0]['message']}")
    print(f"wrote {out} and {out.with_suffix('.report.md')}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command; bad input prints one line naming the problem and returns 2."""
    args = build_parser().parse_args(argv)
    if args.threads is not None:
        torch.set_num_threads(max(1, args.threads))
    return run_cli(lambda: fit_command(args))


if __name__ == "__main__":
    raise SystemExit(main())
