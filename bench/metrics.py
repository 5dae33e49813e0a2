"""Time ``leadattn.metrics.score`` on random records, with sklearn's per-class AUROC as a baseline.

Run: python bench/metrics.py [--records 100000] [--repeats 3] [--bootstrap 1000]

Prints seconds and records per second for the full challenge scoring (AUROC, AUPRC, accuracy,
F-measure, challenge metric) and for sklearn's ``roc_auc_score`` over the 26 classes, which computes
only the AUROCs; their ratio shows what the full scoring costs next to that one metric. Scores are
rounded to 3 decimals so that ties occur, as with real model outputs. Best of ``--repeats`` runs.
Optionally times the bootstrap intervals on a 10,000-record validation-sized subset.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from sklearn.metrics import roc_auc_score

from leadattn import metrics
from leadattn.labels import NUM_CLASSES
from leadattn.thresholds import tune_thresholds


def _best(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--bootstrap", type=int, default=1000, help="resamples to time on 10,000 records (0: skip)"
    )
    args = parser.parse_args()

    rng = np.random.default_rng(0)
    prevalence = rng.uniform(0.005, 0.3, NUM_CLASSES)
    labels = rng.random((args.records, NUM_CLASSES)) < prevalence
    scores = np.clip(0.3 * labels + 0.7 * rng.random(labels.shape), 0, 1).round(3).astype(np.float32)
    outputs = scores >= 0.5

    ours = _best(lambda: metrics.score(labels, scores, outputs), args.repeats)
    baseline = _best(
        lambda: [roc_auc_score(labels[:, k], scores[:, k]) for k in range(NUM_CLASSES)], args.repeats
    )
    print(f"records x classes: {args.records:,} x {NUM_CLASSES}")
    print(f"leadattn.metrics.score:         {ours:7.3f} s  {args.records / ours:12,.0f} records/s")
    print(f"sklearn roc_auc_score (26x):    {baseline:7.3f} s  {args.records / baseline:12,.0f} records/s")
    print(f"ratio (score / sklearn AUROC):  {ours / baseline:7.2f}")

    subset = slice(0, min(10_000, args.records))
    tune = _best(lambda: tune_thresholds(labels[subset], scores[subset], "challenge"), 1)
    print(f"tune_thresholds (challenge, {labels[subset].shape[0]:,} records): {tune:.3f} s")
    if args.bootstrap:
        seconds = _best(
            lambda: metrics.bootstrap(labels[subset], scores[subset], outputs[subset], args.bootstrap), 1
        )
        print(f"bootstrap ({args.bootstrap} resamples, {labels[subset].shape[0]:,} records): {seconds:.3f} s")


if __name__ == "__main__":
    main()
