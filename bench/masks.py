"""Per-record cost of each mask collator (the issue's bound: under 1 ms per record).

python bench/masks.py --batch 64 --repeats 50
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from leadattn.masks import IJEPAMaskCollator, LeadTimeMaskCollator, MaskCollator


def per_record_ms(collator, batch: int, patches: int, repeats: int) -> float:
    rng = np.random.default_rng(0)
    collator.sample(batch, patches, rng)
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        collator.sample(batch, patches, rng)
        times.append(time.perf_counter() - started)
    return 1e3 * float(np.median(times)) / batch


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=50)
    args = parser.parse_args()
    cases = [
        ("ECG-JEPA (25-sample patches, 200 per 10 s record)", MaskCollator(25, 10, 0.15, 0.25), 200),
        ("I-JEPA multi-block (25-sample patches, 200)", IJEPAMaskCollator(25), 200),
        ("lead-time blocks (25-sample patches, 12 x 200)", LeadTimeMaskCollator(25), 200),
        ("ECG-JEPA (64-sample patches, 78 per 10 s)", MaskCollator(64, 4, 0.15, 0.25), 78),
        ("lead-time blocks (64-sample patches, 12 x 78)", LeadTimeMaskCollator(64, 4), 78),
    ]
    print(f"batch {args.batch}, median of {args.repeats} batches")
    for name, collator, patches in cases:
        print(f"{name:<55} {per_record_ms(collator, args.batch, patches, args.repeats):.3f} ms per record")


if __name__ == "__main__":
    main()
