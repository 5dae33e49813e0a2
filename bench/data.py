"""Cache build rate (records/s per core) and training-crop reads from ``.mat`` files versus the cache.

Run: python bench/data.py [--records DIR] [--limit N] [--passes 5] [--crop 4096] [--workers 2]
The cache build (read, resample, filter, normalise, write) is timed in this process (1 worker) by CPU
time, so that other jobs on the machine do not count against it, and with ``--workers`` processes by
wall time. Both read paths deliver the same thing: a preprocessed crop [12, crop] of every record in
random order.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from leadattn.data import PreprocessConfig, build_cache, prepare, preprocess_record, read_record

DEFAULT_RECORDS = Path(__file__).resolve().parents[1].parent / "shared" / "ecg" / "cinc2021"


def _timed(fn, passes: int) -> float:
    start = time.perf_counter()
    for _ in range(passes):
        fn()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=Path, default=DEFAULT_RECORDS)
    parser.add_argument("--limit", type=int, default=None, help="first N records of the folder")
    parser.add_argument("--passes", type=int, default=5)
    parser.add_argument("--crop", type=int, default=4096)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    config = PreprocessConfig()
    rng = np.random.default_rng(0)
    manifest = prepare(args.records, workers=1).manifest
    manifest = manifest.head(args.limit) if args.limit else manifest
    paths = [args.records / p for p in manifest["path"]]
    with tempfile.TemporaryDirectory() as tmp:
        cpu = time.process_time()
        cache = build_cache(manifest, args.records, Path(tmp) / "cache", config, workers=1)
        build_cpu = time.process_time() - cpu
        started = time.perf_counter()
        build_cache(manifest, args.records, Path(tmp) / "parallel", config, workers=args.workers)
        build_wall = time.perf_counter() - started

        def from_mat() -> None:
            for i in rng.permutation(len(paths)):
                x, _ = preprocess_record(read_record(paths[i]), config)
                start = rng.integers(0, max(1, x.shape[1] - args.crop))
                np.ascontiguousarray(x[:, start : start + args.crop])

        def from_cache() -> None:
            for i in rng.permutation(len(cache)):
                start = rng.integers(0, max(1, int(cache.lengths[i]) - args.crop))
                np.array(cache.signal(i, start, start + args.crop))

        cpu = time.process_time()
        from_mat()
        one_by_one_cpu = time.process_time() - cpu
        n = len(paths) * args.passes
        mat_rate = n / _timed(from_mat, args.passes)
        cache_rate = n / _timed(from_cache, args.passes)
    rates = sorted(set(manifest["fs"]))
    print(f"records: {len(paths)} from {args.records} at {', '.join(f'{r:g}' for r in rates)} Hz, {config}")
    print(
        f"cache build, 1 worker:  {len(paths) / build_cpu:,.0f} records/s per core (CPU time); "
        f"read + preprocess_record one at a time: {len(paths) / one_by_one_cpu:,.0f} records/s per core"
    )
    print(f"cache build, {args.workers} workers: {len(paths) / build_wall:,.0f} records/s (wall)")
    print(f"read .mat + preprocess: {mat_rate:,.0f} records/s  ({args.passes} passes, crop {args.crop})")
    print(f"read from cache:        {cache_rate:,.0f} records/s  ({cache_rate / mat_rate:,.0f}x)")


if __name__ == "__main__":
    main()
