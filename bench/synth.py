"""Records per second of the synthetic ECG generator: in memory, written to disk, and as a data set.

Run: python bench/synth.py [--n 500] [--workers 2]
Reports wall-clock and CPU rates; on a shared machine the CPU rate is the steadier figure.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from leadattn.synth import generate_dataset, generate_record, record_seed


def _rates(fn, n: int) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return n / (time.perf_counter() - wall), n / (time.process_time() - cpu)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=500, help="records per measurement")
    parser.add_argument("--workers", type=int, default=2, help="processes for the data-set measurement")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)

        def in_memory() -> None:
            for i in range(args.n):
                generate_record(record_seed(0, i))

        def written() -> None:
            for i in range(args.n):
                generate_record(record_seed(0, i), name=f"SYN{i + 1:05d}").write(out / "single")

        memory_wall, memory_cpu = _rates(in_memory, args.n)
        write_wall, write_cpu = _rates(written, args.n)
        start = time.perf_counter()
        generate_dataset(out / "dataset", args.n, seed=0, workers=args.workers)
        dataset_wall = args.n / (time.perf_counter() - start)
    print(f"{args.n} records of 10 s at 500 Hz, 12 leads; {os.cpu_count()} cores visible")
    print(f"generate in memory, 1 process: {memory_wall:6.0f} rec/s wall, {memory_cpu:6.0f} per CPU-second")
    print(f"generate + write, 1 process:   {write_wall:6.0f} rec/s wall, {write_cpu:6.0f} per CPU-second")
    print(f"generate_dataset, {args.workers} workers:   {dataset_wall:6.0f} rec/s wall")


if __name__ == "__main__":
    main()
