"""How hard the demo is: a logistic regression on ten crude signal features beside the model.

Run: python bench/demo_baseline.py --checkpoint runs/demo/best.pt [--data MANIFEST] [--threads 2]

Ten features per record, measured on the raw record with nothing learned: heart rate, RR variation,
longest RR over the median RR (pauses after premature beats), QRS width and the widest QRS over the
median (wide ectopic beats), limb-lead QRS amplitude, frontal QRS axis (net QRS area in I and aVF),
T-wave amplitude in II, the largest deflection in the 300 ms before each QRS (P waves) and how
long before the QRS it lies (PR). One standardised logistic regression per class is fitted on the
training folds (0-7) and scored on the held-out fold 9, as the model is; both are reported as
macro AUROC and AUPRC over the classes with positives (``leadattn.metrics``). A demo on which the
features come close to the model measures the pipeline more than the model.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import warnings
from pathlib import Path

import numpy as np
import torch
from scipy import signal as sps
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from tqdm import tqdm

from leadattn.data import Record, read_manifest, read_record
from leadattn.data.manifest import manifest_data_dir, manifest_labels, select_folds
from leadattn.inference import Predictor
from leadattn.leads import LEADS
from leadattn.metrics import auroc_auprc
from leadattn.synth import demo_data_dir, ensure_demo_data

FEATURES = (
    "rate_bpm",
    "rr_cv",
    "rr_max_over_median",
    "qrs_ms",
    "qrs_max_over_median",
    "limb_qrs_mv",
    "axis_deg",
    "t_mv",
    "p_mv",
    "p_to_r_ms",
)
LIMB = [LEADS.index(lead) for lead in ("I", "II", "III", "aVR", "aVL", "aVF")]


def features(record: Record) -> np.ndarray:
    """The ten crude features of one record (NaN where a record has too few beats)."""
    fs = record.fs
    x = np.zeros((len(LEADS), record.signal.shape[1]))
    for row, lead in enumerate(record.leads):
        x[LEADS.index(lead)] = record.signal[row]
    x = sps.sosfiltfilt(sps.butter(2, [0.5, 40.0], btype="bandpass", fs=fs, output="sos"), x, axis=1)
    sharp = sps.sosfiltfilt(sps.butter(2, [8.0, 30.0], btype="bandpass", fs=fs, output="sos"), x, axis=1)
    energy = np.sqrt((sharp**2).sum(axis=0))
    peaks, _ = sps.find_peaks(energy, height=0.35 * np.percentile(energy, 99), distance=int(0.25 * fs))
    out = np.full(len(FEATURES), np.nan)
    if len(peaks) < 3:
        return out
    rr = np.diff(peaks) / fs
    envelope = np.convolve(energy, np.ones(int(0.02 * fs)) / int(0.02 * fs), mode="same")
    widths = []
    for peak in peaks:
        level = 0.2 * envelope[peak]
        left, right = peak, peak
        while left > 0 and envelope[left] > level and peak - left < 0.15 * fs:
            left -= 1
        while right < len(envelope) - 1 and envelope[right] > level and right - peak < 0.15 * fs:
            right += 1
        widths.append((right - left) / fs * 1000)
    half = int(0.06 * fs)
    inner = [p for p in peaks if half <= p < x.shape[1] - int(0.4 * fs) and p > int(0.35 * fs)]
    if not inner:
        return out
    limb = np.median([np.ptp(x[LIMB, p - half : p + half], axis=1).max() for p in inner])
    area = np.array([x[:, p - half : p + half].sum(axis=1) for p in inner]).mean(axis=0)
    axis = np.degrees(np.arctan2(area[LEADS.index("aVF")], area[LEADS.index("I")]))
    lead_ii = x[LEADS.index("II")]
    t_wave = np.median([lead_ii[p + int(0.2 * fs) : p + int(0.35 * fs)].mean() for p in inner])
    before = [lead_ii[p - int(0.3 * fs) : p - half] for p in inner]
    p_size = np.median([np.ptp(b) for b in before])
    p_lag = np.median([(len(b) - np.argmax(np.abs(b - np.median(b)))) / fs * 1000 + 60 for b in before])
    out[:] = [
        60.0 / np.median(rr),
        np.std(rr) / np.mean(rr),
        rr.max() / np.median(rr),
        np.median(widths),
        max(widths) / np.median(widths),
        limb,
        axis,
        t_wave,
        p_size,
        p_lag,
    ]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--checkpoint", type=Path, required=True, help="the model to compare (runs/demo/best.pt)"
    )
    parser.add_argument("--data", type=Path, default=None, help="manifest (default: the demo set's)")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print("command: python " + " ".join(shlex.quote(a) for a in sys.argv) + "\n")
    if args.data is None:
        ensure_demo_data()
        args.data = demo_data_dir().with_suffix(".csv")
    manifest = read_manifest(args.data)
    root = manifest_data_dir(args.data)
    train, test = select_folds(manifest, list(range(8))), select_folds(manifest, [9])
    predictor = Predictor.from_checkpoint(args.checkpoint, device="cpu")

    def table(frame, desc: str, model: bool) -> tuple[np.ndarray, np.ndarray | None]:
        rows, scores = [], []
        for path in tqdm(frame["path"], desc=desc):
            record = read_record(root / path)
            rows.append(features(record))
            if model:
                scores.append(predictor.predict(record).probabilities)
        return np.array(rows), (np.array(scores) if model else None)

    x_train, _ = table(train, "features (training folds)", model=False)
    x_test, model_scores = table(test, "features and model (fold 9)", model=True)
    y_train, y_test = manifest_labels(train), manifest_labels(test)
    fill = np.nanmedian(x_train, axis=0)
    x_train, x_test = np.where(np.isnan(x_train), fill, x_train), np.where(np.isnan(x_test), fill, x_test)
    baseline_scores = np.zeros(y_test.shape)
    for k in range(y_train.shape[1]):
        if y_train[:, k].all() or not y_train[:, k].any():
            baseline_scores[:, k] = y_train[:, k].mean()
            continue
        fitted = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fitted.fit(x_train, y_train[:, k])
        baseline_scores[:, k] = fitted.predict_proba(x_test)[:, 1]
    print(f"{len(train)} training records (folds 0-7), {len(test)} test records (fold 9), 12 leads\n")
    print("| scorer | macro AUROC | macro AUPRC |\n|---|---|---|")
    for name, scores in (
        (f"model ({args.checkpoint})", model_scores),
        (f"logistic regression on {len(FEATURES)} crude features", baseline_scores),
    ):
        auroc, auprc, _, _ = auroc_auprc(y_test, scores)
        print(f"| {name} | {auroc:.3f} | {auprc:.3f} |")


if __name__ == "__main__":
    main()
