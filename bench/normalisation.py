"""How much of low QRS voltage (LQRSV) each normalisation leaves readable: AUROC of one amplitude feature.

Run: python bench/normalisation.py [--manifest ~/.cache/leadattn/demo/2000_2021.csv] [--folds 9]
The feature is the largest peak-to-peak amplitude over the six limb leads of the preprocessed signal
(LQRSV means every limb lead's QRS stays below 0.5 mV); its AUROC for the LQRSV label is printed for
the raw signal in mV and for each normalisation. Per-lead z-scoring divides the amplitude out.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from leadattn import labels
from leadattn.data import (
    NORMALISATIONS,
    PreprocessConfig,
    manifest_data_dir,
    preprocess_records,
    read_manifest,
    read_record,
    select_folds,
)
from leadattn.leads import LEADS
from leadattn.metrics import auroc_auprc

DEMO = Path.home() / ".cache" / "leadattn" / "demo" / "2000_2021.csv"
LIMB = [LEADS.index(lead) for lead in ("I", "II", "III", "aVR", "aVL", "aVF")]


def limb_amplitude(x: np.ndarray) -> float:
    """Largest peak-to-peak amplitude over the limb leads of one signal [12, n]."""
    return float(np.ptp(x[LIMB], axis=1).max())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--manifest", type=Path, default=DEMO)
    parser.add_argument("--folds", type=int, nargs="+", default=[9])
    args = parser.parse_args()
    frame = select_folds(read_manifest(args.manifest), args.folds)
    data_dir = manifest_data_dir(args.manifest)
    records = [read_record(data_dir / p) for p in frame["path"]]
    truth = np.array([r.labels[labels.class_index("LQRSV")] for r in records])
    print(f"{len(records)} records of folds {args.folds} in {args.manifest}, {truth.sum()} with LQRSV")
    features = {"raw signal (mV)": [limb_amplitude(r.signal) for r in records]}
    for normalise in NORMALISATIONS:
        outputs = preprocess_records(records, PreprocessConfig(normalise=normalise))
        features[f"normalise={normalise}"] = [limb_amplitude(x) for x, _ in outputs]
    for name, values in features.items():
        auroc = auroc_auprc(truth[:, None], -np.array(values)[:, None])[0]
        print(f"LQRSV AUROC of the limb-lead amplitude, {name:<20} {auroc:.3f}")


if __name__ == "__main__":
    main()
