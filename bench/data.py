"""Records per second for a training batch read from ``.mat`` files versus from the preprocessing cache.

Run: python bench/data.py [--records DIR] [--passes 5] [--crop 4096]
Both paths deliver the same thing: a preprocessed crop [12, crop] of every record in random order.
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
    parser.add_argument("--passes", type=int, default=5)
    parser.add_argument("--crop", type=int, default=4096)
    args = parser.parse_args()
    config = PreprocessConfig()
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        manifest = prepare(args.records, workers=1).manifest
        paths = [args.records / p for p in manifest["path"]]
        started = time.perf_counter()
        cache = build_cache(manifest, args.records, Path(tmp) / "cache", config, workers=1)
        build_seconds = time.perf_counter() - started

        def from_mat() -> None:
            for i in rng.permutation(len(paths)):
                x, _ = preprocess_record(read_record(paths[i]), config)
                start = rng.integers(0, max(1, x.shape[1] - args.crop))
                np.ascontiguousarray(x[:, start : start + args.crop])

        def from_cache() -> None:
            for i in rng.permutation(len(cache)):
                start = rng.integers(0, max(1, int(cache.lengths[i]) - args.crop))
                np.array(cache.signal(i, start, start + args.crop))

        n = len(paths) * args.passes
        mat_rate = n / _timed(from_mat, args.passes)
        cache_rate = n / _timed(from_cache, args.passes)
    print(f"records: {len(paths)} x {args.passes} passes, crop {args.crop} samples, preprocessing {config}")
    print(f"cache build (1 worker): {len(paths) / build_seconds:,.0f} records/s")
    print(f"read .mat + preprocess: {mat_rate:,.0f} records/s")
    print(f"read from cache:        {cache_rate:,.0f} records/s  ({cache_rate / mat_rate:,.0f}x)")
    print("command: python bench/data.py " + f"--passes {args.passes} --crop {args.crop}")


if __name__ == "__main__":
    main()
