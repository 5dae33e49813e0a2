"""Time-localized clusters measured: surrogate agreement, landmarks, per lead vs per timestamp, speed.

python bench/clusters.py --checkpoint runs/demo/best.pt --manifest ~/.cache/leadattn/demo/2000_2021.csv \\
    --fit-folds 0-7 --test-folds 9 --k 8 --threads 2 --out runs/demo/clusters_bench

For each view (per lead, per timestamp): token vectors of the fit folds are collected (the network's
forward pass with hooks) and clustered; every record of the manifest is then described by its
cluster proportions; a surrogate forest (one per class) is trained on the records outside the test
folds to reproduce the network's predicted labels and scored on the test folds, next to the network.
The same forests are also trained on the network's probabilities (a surrogate that learns how sure
the network is) and, as a reference that is not a surrogate, on the true labels. On records with
annotation side files (the demo set), the clusters' landmark composition, NMI and QRS purity are
measured on the test folds. Speed: seconds for the forward passes and for the fit;
seconds per record beyond the forward pass; peak resident memory of the process. Any checkpoint and
manifest work (e.g. a PTB-XL model); landmarks are skipped for records without side files.

``--speed-default N`` also times collecting and fitting the default 2.45 M-parameter network's
tokens (random weights) on N ten-second records at 500 Hz (the first N records of the manifest).
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import sys
import time
from pathlib import Path

# This script is named like the package it measures: drop its own folder from the import path.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import matplotlib  # noqa: E402

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import torch  # noqa: E402

from explain.clusters import (  # noqa: E402
    DEFAULT_MAX_VECTORS,
    SignalSet,
    class_table,
    collect_vectors,
    composition,
    fit_sample,
    landmark_names,
    landmark_nmi,
    model_digest,
    plot_class_table,
    plot_clusters,
    record_clusters,
    summarise_signals,
    surrogate,
)
from explain.clusters.cli import _ints, _sources  # noqa: E402
from explain.inputs import prepare_input  # noqa: E402
from leadattn.checkpoint import LoadedModel, load_model  # noqa: E402
from leadattn.data import PreprocessConfig, read_manifest, read_record  # noqa: E402
from leadattn.labels import ABBREVIATIONS, NUM_CLASSES  # noqa: E402
from leadattn.models import LocalLeadAttentionNet  # noqa: E402
from leadattn.synth import annotation_path, read_annotations  # noqa: E402

VIEWS = {"lead": "per lead", "timestamp": "per timestamp"}


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_view(args, loaded, view: str, fit_signals, all_signals, folds, test_paths) -> dict:
    start = time.perf_counter()
    sample = collect_vectors(loaded, fit_signals, args.blocks, view, args.max_vectors, seed=args.seed)
    collect_s = time.perf_counter() - start
    start = time.perf_counter()
    clusters = fit_sample(
        sample, args.k, model_digest(loaded.model), loaded.preprocess.fs, args.method, args.pca or None
    )
    fit_s = time.perf_counter() - start
    out: dict = {
        "view": view,
        "blocks": list(clusters.blocks),
        "records_fitted": sample.records,
        "vectors_seen": sample.vectors_seen,
        "vectors_fitted": int(sample.vectors.shape[0]),
        "reservoir_mib": sample.vectors.nbytes / 2**20,
        "collect_s": collect_s,
        "fit_s": fit_s,
        "peak_rss_mib": _peak_mib(),
    }
    if test_paths:
        ids, notes = [], []
        for path in test_paths:
            notes.append(read_annotations(path))
            ids.append(record_clusters(loaded, clusters, path).ids)
        table = composition(ids, notes, clusters.names)
        clusters = clusters.with_names(landmark_names(table))
        table.index = clusters.names
        out["landmark_records"] = len(test_paths)
        out["nmi"] = landmark_nmi(ids, notes)
        out["qrs_purity"] = float(table["QRS"].max())
        out["composition"] = table.round(3).to_dict("index")
    clusters.save(Path(args.out) / f"clusters_{view}.npz")
    summary = summarise_signals(loaded, clusters, all_signals)
    test = np.array([folds[n] in args.test_folds for n in summary.names])
    for target in ("predictions", "probabilities", "labels"):
        result = surrogate(
            summary.features(),
            summary.probabilities,
            loaded.thresholds["12"],
            summary.labels,
            test=test,
            seed=args.seed,
            target=target,
        )
        if target == "predictions":  # the paper's surrogate, with its per-class table
            out["surrogate"] = result.summary
            out["surrogate_table"] = result.table.round(4).to_dict("index")
        else:
            out[f"forest_on_{target}"] = result.summary
    per_class = class_table(
        summary.record_proportions[test], summary.entropy[test], summary.labels[test], clusters.names
    )
    out["class_table"] = per_class.round(4).to_dict("index")
    plot_class_table(per_class, clusters.names).savefig(Path(args.out) / f"classes_{view}.png", dpi=110)
    out["names"] = clusters.names
    out["clusters"] = clusters
    return out


def per_record_seconds(loaded, clusters, paths: list[Path], repeats: int = 3) -> dict:
    """Median seconds of record_clusters, of the forward pass alone and of preprocessing alone."""
    totals, forwards, prepares = [], [], []
    for path in paths:
        record = read_record(path)
        for _ in range(repeats):
            start = time.perf_counter()
            inp = prepare_input(record, loaded.preprocess)
            prepares.append(time.perf_counter() - start)
            start = time.perf_counter()
            with torch.no_grad():
                loaded.model(inp.tensor(), inp.mask_tensor())
            forwards.append(time.perf_counter() - start)
            start = time.perf_counter()
            record_clusters(loaded, clusters, record)
            totals.append(time.perf_counter() - start)
    total, forward, prepare = (statistics.median(v) for v in (totals, forwards, prepares))
    return {
        "total_s": total,
        "forward_s": forward,
        "preprocess_s": prepare,
        "beyond_s": total - forward - prepare,
    }


def speed_default(args) -> dict:
    """Collect + fit with the default network on N records at 500 Hz (random weights)."""
    network = LocalLeadAttentionNet().eval()
    loaded = LoadedModel(network, PreprocessConfig(), (), np.full(NUM_CLASSES, 0.5), {}, {})
    frame = read_manifest(args.manifest)
    signals = SignalSet.from_manifest(
        args.manifest, PreprocessConfig(), names=list(frame["name"][: args.speed_default])
    )
    records = list(signals)
    start = time.perf_counter()
    sample = collect_vectors(loaded, records, None, "lead", args.max_vectors, seed=args.seed)
    collect_s = time.perf_counter() - start
    start = time.perf_counter()
    fit_sample(sample, args.k, model_digest(network), 500.0, args.method, args.pca or None)
    return {
        "records": len(records),
        "samples": int(records[0].x.shape[1]),
        "collect_s": collect_s,
        "fit_s": time.perf_counter() - start,
        "vectors_seen": sample.vectors_seen,
        "vectors_fitted": int(sample.vectors.shape[0]),
        "peak_rss_mib": _peak_mib(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", required=True)
    parser.add_argument("--manifest", required=True)
    parser.add_argument("--fit-folds", type=_ints, default=list(range(8)))
    parser.add_argument("--test-folds", type=_ints, default=[9])
    parser.add_argument("--k", type=int, default=8)
    parser.add_argument("--blocks", type=_sources, default=None, help="e.g. -1, 0,1 or stem.0,-1")
    parser.add_argument("--method", default="gmm")
    parser.add_argument("--pca", type=int, default=16)
    parser.add_argument("--max-vectors", type=int, default=DEFAULT_MAX_VECTORS)
    parser.add_argument("--landmark-records", type=int, default=100)
    parser.add_argument("--figure-record", default=None, help="record drawn with its clusters")
    parser.add_argument("--speed-default", type=int, default=0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", default="runs/clusters_bench")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    Path(args.out).mkdir(parents=True, exist_ok=True)
    loaded = load_model(args.checkpoint)
    frame = read_manifest(args.manifest)
    print(
        f"checkpoint {args.checkpoint}; manifest {args.manifest} ({len(frame)} records); "
        f"fit folds {args.fit_folds}, test folds {args.test_folds}; K={args.k}; threads {args.threads}"
    )
    start = time.perf_counter()
    fit_signals = list(SignalSet.from_manifest(args.manifest, loaded.preprocess, args.fit_folds))
    all_signals = list(SignalSet.from_manifest(args.manifest, loaded.preprocess))
    print(f"signals read and preprocessed in {time.perf_counter() - start:.1f} s (not counted below)")
    folds = dict(zip(frame["name"], frame["fold"]))
    root = SignalSet.from_manifest(args.manifest, loaded.preprocess, args.test_folds).paths
    test_paths = [p for p in root if annotation_path(p).is_file()][: args.landmark_records]
    results = {}
    for view in VIEWS:
        results[view] = run_view(args, loaded, view, fit_signals, all_signals, folds, test_paths)
        r = results[view]
        print(
            f"{VIEWS[view]}: collect {r['collect_s']:.1f} s, fit {r['fit_s']:.1f} s, agreement "
            f"{r['surrogate']['agreement']:.3f}, AUROC {r['surrogate']['auroc']:.3f} vs "
            f"{r['surrogate']['network_auroc']:.3f}"
            + (f", NMI {r['nmi']:.3f}, QRS purity {r['qrs_purity']:.2f}" if "nmi" in r else "")
        )
    lead_clusters = results["lead"]["clusters"]
    speed_paths = (test_paths or root)[:10]
    results["per_record"] = per_record_seconds(loaded, lead_clusters, speed_paths)
    if args.speed_default:
        results["default_network"] = speed_default(args)
    figure_record = args.figure_record or (test_paths or root)[0]
    for view in VIEWS:
        found = record_clusters(loaded, results[view]["clusters"], figure_record)
        plot_clusters(figure_record, found).savefig(Path(args.out) / f"record_{view}.png", dpi=110)
    report(results, args)
    for view in VIEWS:
        results[view].pop("clusters")
    (Path(args.out) / "bench.json").write_text(json.dumps(results, indent=2, default=float) + "\n")


def report(results: dict, args) -> None:
    lead, stamp = results["lead"], results["timestamp"]
    rows = [
        ("blocks", lambda r: ", ".join(map(str, r["blocks"]))),
        ("token vectors seen / fitted", lambda r: f"{r['vectors_seen']:,} / {r['vectors_fitted']:,}"),
        ("surrogate agreement, mean over 26 classes", lambda r: f"{r['surrogate']['agreement']:.3f}"),
        (
            "... over classes the network predicts",
            lambda r: f"{r['surrogate']['agreement_predicted_classes']:.3f}",
        ),
        ("... whole label vector", lambda r: f"{r['surrogate']['exact_agreement']:.3f}"),
        (
            "surrogate macro AUROC (network)",
            lambda r: f"{r['surrogate']['auroc']:.3f} ({r['surrogate']['network_auroc']:.3f})",
        ),
        (
            "surrogate macro F (network)",
            lambda r: f"{r['surrogate']['f_measure']:.3f} ({r['surrogate']['network_f_measure']:.3f})",
        ),
        (
            "surrogate on the network's probabilities: agreement, macro AUROC",
            lambda r: "{agreement:.3f}, {auroc:.3f}".format(**r["forest_on_probabilities"]),
        ),
        (
            "reference forest on the true labels (not a surrogate): macro AUROC",
            lambda r: f"{r['forest_on_labels']['auroc']:.3f}",
        ),
    ]
    if "nmi" in lead:
        rows += [
            ("landmark NMI", lambda r: f"{r['nmi']:.3f}"),
            ("QRS purity of the most QRS cluster", lambda r: f"{r['qrs_purity']:.2f}"),
            ("clusters", lambda r: "; ".join(r["names"])),
        ]
    rows += [
        ("collect tokens (forward passes), s", lambda r: f"{r['collect_s']:.1f}"),
        ("fit (standardise, PCA, GMM), s", lambda r: f"{r['fit_s']:.1f}"),
    ]
    print(f"\n| {args.k} clusters | per lead | per timestamp |\n|---|---|---|")
    for name, cell in rows:
        print(f"| {name} | {cell(lead)} | {cell(stamp)} |")
    test = lead["surrogate"]["records"]
    print(f"\nsurrogate scored on {test:.0f} records of folds {args.test_folds}; per class (per lead):")
    print("\n| class | positives | network predicted | agreement | AUROC | network AUROC |")
    print("|---|---|---|---|---|---|")
    for name in ABBREVIATIONS:
        r = lead["surrogate_table"][name]
        if r["positives"] or r["network_predicted"]:
            print(
                f"| {name} | {r['positives']:.0f} | {r['network_predicted']:.0f} | {r['agreement']:.3f} | "
                f"{r['auroc']:.3f} | {r['network_auroc']:.3f} |"
            )
    p = results["per_record"]
    print(
        f"\nper record (median of 10 records x 3): clusters {p['total_s']:.3f} s, of which forward "
        f"{p['forward_s']:.3f} s and preprocessing {p['preprocess_s']:.3f} s: {p['beyond_s']:.3f} s beyond"
    )
    print(
        f"peak resident memory of the process: {max(lead['peak_rss_mib'], stamp['peak_rss_mib']):.0f} MiB "
        f"(reservoir {lead['reservoir_mib']:.0f} MiB)"
    )
    if "default_network" in results:
        d = results["default_network"]
        print(
            f"default network (2.45 M, random weights), {d['records']} records of {d['samples']} samples: "
            f"collect {d['collect_s']:.1f} s + fit {d['fit_s']:.1f} s; {d['vectors_seen']:,} vectors seen, "
            f"{d['vectors_fitted']:,} fitted; peak {d['peak_rss_mib']:.0f} MiB"
        )


if __name__ == "__main__":
    main()
