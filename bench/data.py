"""Cache build rate (records/s per core) and training-crop reads from ``.mat`` files versus the cache.

Run: python bench/data.py [--records DIR] [--limit N] [--repeat 20] [--passes 5] [--crop 4096]
                          [--workers 2] [--profile]
The cache build (read, resample, filter, normalise, write) is timed in this process (1 worker) by CPU
time, so that other jobs on the machine do not count against it, and with ``--workers`` processes by
wall time. It is timed at steady state: after a warm-up build (imports, filter responses, FFT plans),
over the folder's records listed ``--repeat`` times under distinct names, so that a build's fixed
costs (index, metadata, worker start-up) are shared by many records as in a real build. Both read
paths deliver the same thing: a preprocessed crop [12, crop] of every record in random order. Last,
the filtering's distance from an ideal zero-phase filter (scipy's forward-backward Butterworth and
notch filters on records padded by 10 s of odd reflection, which leaves no edge transient): of the
one-pass frequency-domain filter preprocessing uses, and of the same scipy filters
padded as scipy pads by default (the recursive filters preprocessing used before). ``--profile``
adds where a record's time goes (CPU ms per record for each stage of reading and preprocessing).
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import fft as sp_fft
from scipy import signal as sps

from leadattn.data import PreprocessConfig, build_cache, prepare, preprocess_record, read_record
from leadattn.data.preprocess import MV_UNIT, resample_ratio
from leadattn.leads import LEADS

stages = importlib.import_module("leadattn.data.preprocess")  # the module, not the function of that name
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
    parser.add_argument("--repeat", type=int, default=20, help="times each record is listed in the build")
    parser.add_argument("--passes", type=int, default=5)
    parser.add_argument("--crop", type=int, default=4096)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--profile", action="store_true", help="CPU ms per record for each stage")
    args = parser.parse_args()
    config = PreprocessConfig()
    rng = np.random.default_rng(0)
    manifest = prepare(args.records, workers=1).manifest
    manifest = manifest.head(args.limit) if args.limit else manifest
    paths = [args.records / p for p in manifest["path"]]
    repeated = pd.concat(
        [manifest.assign(name=manifest["name"] + f"_{k}") for k in range(args.repeat)], ignore_index=True
    )
    with tempfile.TemporaryDirectory() as tmp:
        cache = build_cache(manifest, args.records, Path(tmp) / "cache", config, workers=1)  # warm-up
        build_times = []
        for _ in range(3):  # the median of three: a build's rate varies by about 10 % between runs
            cpu = time.process_time()
            build_cache(repeated, args.records, Path(tmp) / "repeated", config, workers=1, rebuild=True)
            build_times.append(time.process_time() - cpu)
        build_cpu = float(np.median(build_times))
        shutil.rmtree(Path(tmp) / "repeated")
        started = time.perf_counter()
        build_cache(repeated, args.records, Path(tmp) / "parallel", config, workers=args.workers)
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
    built = len(repeated)
    print(
        f"cache build of {built:,} records, 1 worker: {built / build_cpu:,.0f} records/s per core "
        "(CPU time, median of 3 builds); "
        f"read + preprocess_record one at a time: {len(paths) / one_by_one_cpu:,.0f} records/s per core"
    )
    wall_rate = built / build_wall
    print(f"cache build of {built:,} records, {args.workers} workers: {wall_rate:,.0f} records/s (wall)")
    print(f"read .mat + preprocess: {mat_rate:,.0f} records/s  ({args.passes} passes, crop {args.crop})")
    print(f"read from cache:        {cache_rate:,.0f} records/s  ({cache_rate / mat_rate:,.0f}x)")
    print(f"filtering against an ideal zero-phase filter (first {min(20, len(paths))} records):")
    for name, (edge, inside) in filter_error(paths[:20], dataclasses.replace(config, clip_mv=None)).items():
        print(f"  {name:<16} largest difference {edge:.4f} mV, {inside:.4f} mV from 1 s inside")
    if args.profile:
        print("where a record's time goes (CPU ms per record, mean over the records, 4 passes):")
        for name, ms in stage_times(paths, config).items():
            print(f"  {name:<40} {ms:.3f}")


def stage_times(paths: list[Path], config: PreprocessConfig, passes: int = 4) -> dict[str, float]:
    """CPU milliseconds per record of each stage of reading and preprocessing ``paths``."""
    records = [read_record(path) for path in paths]
    checked = [stages._check(r.signal, r.fs, config, r.leads) for r in records]
    filtered = [stages._filter(c.signal[c.keep], c.fs, config) for c in checked]
    pads = [min(round(stages.PAD_SECONDS * r.fs), r.signal.shape[1] - 1) for r in records]
    widths = [sp_fft.next_fast_len(r.signal.shape[1] + 2 * pad, real=True) for r, pad in zip(records, pads)]
    padded = [np.zeros((12, n), dtype=np.float32) for n in widths]
    spectra = [sp_fft.rfft(x, axis=1) for x in padded]
    jobs = {
        "read_record (header + .mat)": lambda i: read_record(paths[i]),
        "preprocess_record (all below)": lambda i: preprocess_record(records[i], config),
        "  checks (finite, flat leads)": lambda i: stages._check(
            records[i].signal, records[i].fs, config, records[i].leads
        ),
        "  _filter (pad, FFTs, response)": lambda i: stages._filter(
            checked[i].signal[checked[i].keep], checked[i].fs, config
        ),
        "    forward real FFT, 12 leads padded": lambda i: sp_fft.rfft(padded[i], axis=1),
        "    inverse real FFT": lambda i: sp_fft.irfft(spectra[i], widths[i], axis=1),
        "  clip and scale": lambda i: stages._normalise(filtered[i].copy(), config),
    }
    times = {}
    for name, job in jobs.items():
        start = time.process_time()
        for _ in range(passes):
            for i in range(len(records)):
                job(i)
        times[name] = 1000 * (time.process_time() - start) / (passes * len(records))
    return times


def scipy_filters(signal: np.ndarray, fs: float, config: PreprocessConfig, pad_seconds: float) -> np.ndarray:
    """Polyphase resampling and forward-backward Butterworth and notch filters, in mV. With
    ``pad_seconds`` > 0 the record is first padded by that much odd reflection (cut off again at the
    end); with 0, each scipy call pads as it does by default (what preprocessing did before)."""
    up, down = resample_ratio(fs, config.fs)
    x = signal.astype(np.float64)
    samples = x.shape[1]
    pad = min(samples - 1, int(pad_seconds * fs)) // down * down
    if pad:
        x = np.concatenate(
            [2 * x[:, :1] - x[:, pad:0:-1], x, 2 * x[:, -1:] - x[:, -2 : -pad - 2 : -1]], axis=1
        )
    if up != down:
        x = sps.resample_poly(x, up, down, axis=1)
    low, high = config.bandpass
    sos = sps.butter(config.filter_order, (low, high), "bandpass", fs=config.fs, output="sos")
    x = sps.sosfiltfilt(sos, x, axis=1)
    for mains in config.notch:
        b, a = sps.iirnotch(mains, 30.0, fs=config.fs)
        x = sps.filtfilt(b, a, x, axis=1, padlen=min(x.shape[1] - 1, int(config.fs)))
    begin = pad * up // down
    return x[:, begin : begin + -(-samples * up // down)]


def filter_error(paths: list[Path], config: PreprocessConfig) -> dict[str, tuple[float, float]]:
    """Largest difference (mV) from the ideal (scipy's filters on records padded by 10 s) over whole
    records and from 1 s inside them: of preprocessing, and of scipy's filters padded as by default."""
    errors = {"preprocessing": [0.0, 0.0], "default padding": [0.0, 0.0]}
    for path in paths:
        record = read_record(path)
        x, mask = preprocess_record(record, config)
        rows = [i for i, lead in enumerate(record.leads) if mask[LEADS.index(lead)]]
        ideal = scipy_filters(record.signal[rows], record.fs, config, 10.0)
        candidates = {
            "preprocessing": x[[LEADS.index(record.leads[i]) for i in rows]] * MV_UNIT,
            "default padding": scipy_filters(record.signal[rows], record.fs, config, 0.0),
        }
        second = int(config.fs)
        for name, got in candidates.items():
            diff = np.abs(got - ideal)
            errors[name][0] = max(errors[name][0], float(diff.max()))
            errors[name][1] = max(errors[name][1], float(diff[:, second:-second].max()))
    return {name: (edge, inside) for name, (edge, inside) in errors.items()}


if __name__ == "__main__":
    main()
