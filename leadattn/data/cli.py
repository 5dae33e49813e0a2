"""``leadattn prepare`` and ``leadattn cache``: build a manifest of a data directory, then its cache."""

from __future__ import annotations

import argparse
from pathlib import Path

from leadattn.cli import Command, add_workers_argument, registrar
from leadattn.data.cache import build_cache, default_cache_dir
from leadattn.data.manifest import manifest_data_dir, prepare, read_patients
from leadattn.data.preprocess import NORMALISATIONS, PreprocessConfig


def _prepare(args: argparse.Namespace) -> int:
    patients = args.patients and read_patients(args.patients, args.record_column, args.patient_column)
    result = prepare(args.data_dir, args.out, workers=args.workers, patients=patients)
    print(f"{len(result.manifest)} records in {result.manifest['group'].nunique()} fold groups -> {args.out}")
    if len(result.errors):
        kinds = ", ".join(f"{k}: {n}" for k, n in sorted(result.error_counts.items()))
        print(f"skipped {len(result.errors)} unreadable record(s) ({kinds}); see {args.out}.errors.csv")
    if len(result.duplicates):
        copies = result.duplicates["digest"].nunique()
        print(
            f"{len(result.duplicates)} records are copies of {copies} signal(s), each kept in one fold; "
            f"see {args.out}.duplicates.csv"
        )
    if len(result.unmatched):
        problems = result.unmatched["problem"].value_counts()
        print(
            f"patient table: {problems.get('not_in_folder', 0)} record(s) not in the folder, "
            f"{problems.get('not_in_table', 0)} record(s) of the folder not in the table (each its own "
            f"group); see {args.out}.unmatched.csv"
        )
    if result.manifest.empty:
        raise ValueError(f"no readable record under {args.data_dir}")
    return 0


def _cache(args: argparse.Namespace) -> int:
    data_dir = args.data_dir or manifest_data_dir(args.manifest)
    config = PreprocessConfig(
        fs=args.fs,
        bandpass=None if args.no_bandpass else tuple(args.bandpass),
        normalise=args.normalise,
        clip_mv=args.clip_mv,
        max_seconds=args.max_seconds,
    )
    out = args.out or default_cache_dir(args.manifest)
    cache = build_cache(args.manifest, data_dir, out, config, workers=args.workers, rebuild=args.rebuild)
    skipped = cache.meta["skipped_by_kind"]
    print(f"{len(cache)} records cached in {out}" + (f"; skipped {skipped}" if skipped else ""))
    return 0


PREPARE = (
    "Scan a folder of challenge records (recursively) into a manifest CSV: one row per readable record "
    "with its source, rate, length, leads, diagnoses, labels and a fold 0-9. Copies of one signal, and a "
    "patient's records with --patients, share a fold. Unreadable records are skipped and listed in "
    "MANIFEST.errors.csv."
)
CACHE = (
    "Read, resample, filter and normalise every record of a manifest once into one memory-mapped float32 "
    "file that training reads. The cache remembers its preprocessing and the manifest's digest and is "
    "rebuilt when either changes."
)


def _prepare_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("data_dir", type=Path, help="folder holding .hea/.mat records (searched recursively)")
    p.add_argument("--out", type=Path, required=True, help="manifest CSV to write")
    add_workers_argument(p)
    p.add_argument(
        "--patients",
        type=Path,
        default=None,
        help="CSV of record -> patient: a patient's records share a fold",
    )
    p.add_argument("--record-column", default="record", help="record-name column of --patients")
    p.add_argument(
        "--patient-column", default="patient", help="patient column of --patients (PTB-XL: patient_id)"
    )


def _cache_arguments(c: argparse.ArgumentParser) -> None:
    defaults = PreprocessConfig()
    c.add_argument("manifest", type=Path, help="manifest CSV written by `leadattn prepare`")
    c.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="records folder (default: where the manifest was prepared)",
    )
    c.add_argument("--out", type=Path, default=None, help="cache folder (default: MANIFEST.cache beside it)")
    c.add_argument("--fs", type=float, default=defaults.fs, help="model sampling rate (Hz)")
    c.add_argument(
        "--bandpass",
        type=float,
        nargs=2,
        default=list(defaults.bandpass),
        metavar=("LOW", "HIGH"),
        help="band-pass (Hz)",
    )
    c.add_argument("--no-bandpass", action="store_true", help="no band-pass filter")
    c.add_argument("--normalise", choices=NORMALISATIONS, default=defaults.normalise, help="signal scaling")
    c.add_argument(
        "--clip-mv", type=float, default=defaults.clip_mv, help="clip filtered signals at +-this (mV)"
    )
    c.add_argument("--max-seconds", type=float, default=defaults.max_seconds, help="truncate longer records")
    c.add_argument("--rebuild", action="store_true", help="rebuild even when the cache is current")
    add_workers_argument(c)


register = registrar(
    Command(
        "prepare",
        "scan a data directory into a manifest with folds",
        PREPARE,
        _prepare_arguments,
        _prepare,
        formatter=argparse.ArgumentDefaultsHelpFormatter,
    ),
    Command(
        "cache",
        "preprocess a manifest's records into a memory-mapped cache",
        CACHE,
        _cache_arguments,
        _cache,
        formatter=argparse.ArgumentDefaultsHelpFormatter,
    ),
)
