"""``leadattn demo-data``: write labelled synthetic records in the challenge format."""

from __future__ import annotations

import argparse
import time
from collections import Counter
from pathlib import Path

from leadattn.cli import Command, add_workers_argument, registrar
from leadattn.data.records import read_header
from leadattn.labels import decode
from leadattn.synth.classes import LABEL_NOISE
from leadattn.synth.demo import DEMO_RECORDS, DEMO_SEED, ensure_demo_data
from leadattn.synth.generator import generate_dataset


def class_counts(directory: Path, names: list[str]) -> Counter:
    """How many of the named records carry each scored class, read back from their headers."""
    counts: Counter = Counter()
    for name in names:
        counts.update(decode(read_header(directory / name).labels))
    return counts


def _demo_data(args: argparse.Namespace) -> int:
    if args.n < 1:
        raise ValueError(f"--n must be at least 1, got {args.n}")
    start = time.perf_counter()
    if args.out_dir is None:
        if args.fs != 500.0 or args.seconds != 10.0 or args.label_noise != LABEL_NOISE:
            raise ValueError(
                "--fs, --seconds and --label-noise apply to a data set written to OUT_DIR, not the demo set"
            )
        out_dir = ensure_demo_data(args.cache_root, n=args.n, seed=args.seed, workers=args.workers)
        names = (out_dir / "RECORDS").read_text(encoding="utf-8").split()
    else:
        out_dir = args.out_dir
        if not 0.0 <= args.label_noise <= 1.0:
            raise ValueError(f"--label-noise must lie in [0, 1], got {args.label_noise}")
        settings = (args.fs, args.seconds, args.workers, args.label_noise)
        names = generate_dataset(out_dir, args.n, args.seed, *settings)
    elapsed = time.perf_counter() - start
    counts = class_counts(out_dir, names)
    summary = ", ".join(f"{k} {100 * v / len(names):.0f}%" for k, v in counts.most_common())
    print(f"{len(names)} records in {out_dir} ({elapsed:.1f} s)")
    print(f"classes: {summary}")
    return 0


DESCRIPTION = (
    "Generate synthetic 12-lead ECGs with known labels and annotated wave boundaries. Without OUT_DIR "
    "the cached demo set is created (if needed) and its folder printed."
)


def _arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("out_dir", type=Path, nargs="?", default=None, metavar="OUT_DIR")
    p.add_argument("--n", type=int, default=DEMO_RECORDS, help="number of records")
    p.add_argument("--seed", type=int, default=DEMO_SEED, help="random seed (same seed, same records)")
    p.add_argument("--fs", type=float, default=500.0, help="sampling rate (Hz)")
    p.add_argument("--seconds", type=float, default=10.0, help="record length (s)")
    p.add_argument(
        "--label-noise",
        type=float,
        default=LABEL_NOISE,
        help="share of records whose header misses a finding or names one they lack (default: %(default)s)",
    )
    add_workers_argument(p)
    p.add_argument(
        "--cache-root", type=Path, default=None, help="cache folder for the demo set (without OUT_DIR)"
    )


register = registrar(
    Command(
        "demo-data",
        "generate labelled synthetic 12-lead records (WFDB .hea + .mat, and .json annotations)",
        DESCRIPTION,
        _arguments,
        _demo_data,
    )
)
