"""Label efficiency of JEPA pretraining, and pretraining throughput next to supervised training.

For each data set: pretrain the encoder on the training folds without labels, then train classifiers
on 10 %, 25 % and 100 % of the training folds' labels (nested subsets) three ways for the same
epochs: from scratch, fine-tuned from the pretrained encoder, and as a linear probe on it (encoder
frozen). Every classifier is scored on the held-out test fold (centred crops of ``--test-seconds``,
thresholds tuned on the validation fold): macro AUROC and challenge metric. Throughput is records per
second of the training loop (crops of the run's length, same threads), pretraining vs the
supervised scratch run on all labels.

    python bench/pretrain.py --data ptbxl=../shared/ecg/ptbxl --data demo --out /tmp/jepa-bench --threads 2

``NAME=FOLDER`` prepares a manifest of FOLDER into ``--out`` first; ``demo`` uses the synthetic demo set.
Sizes default to a small network (the demo configuration's) at 125 Hz so that the whole benchmark fits
in well under an hour on two CPU cores; every setting is printed with the results.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from leadattn import metrics
from leadattn.checkpoint import load_model
from leadattn.data import prepare, read_manifest, read_patients, select_folds
from leadattn.labels import NUM_CLASSES
from leadattn.pretrain import PretrainConfig, pretrain
from leadattn.synth import demo_manifest
from leadattn.thresholds import apply_thresholds
from leadattn.training import TrainConfig, bundled_config, load_splits, train
from leadattn.training.dataset import CropDataset, Splits

FRACTIONS = (0.1, 0.25, 1.0)
MODES = ("scratch", "finetune", "probe")


def common(args: argparse.Namespace, name: str, manifest: Path | None) -> dict:
    """Overrides shared by pretraining and training on one data set."""
    if manifest is None:
        data = {"data.manifest": str(demo_manifest()), "data.train_folds": args.demo_train_folds}
    else:
        data = {
            "data.manifest": str(manifest),
            "data.cache_dir": str(args.out / f"{name}.cache"),
        }
    return {
        **data,
        "data.val_folds": [8],
        "data.test_folds": [9],
        "data.workers": 0,
        "run.progress": False,
        "run.tensorboard": False,
        "run.seed": args.seed,
    }


def pretrain_config(args: argparse.Namespace, name: str, manifest: Path | None) -> PretrainConfig:
    demo = bundled_config("demo")
    return PretrainConfig().replace(
        {
            **common(args, name, manifest),
            "preprocess": demo.preprocess.to_dict(),
            "model": demo.model.to_dict(),
            "data.crop_seconds": args.crop_seconds,
            "data.val_crop_seconds": args.crop_seconds,
            "data.batch_size": 32,
            "mask.kind": args.mask,
            "mask.patch_size": 32,  # one last-stage token of the demo network: 16-sample stem stride x 2
            "mask.min_block_size": 2,
            "predictor.dim": 48,
            "predictor.depth": 2,
            "predictor.window": 0,
            "jepa.ema_start": args.ema[0],
            "jepa.ema_end": args.ema[1],
            "optim.epochs": args.pretrain_epochs,
            "optim.lr": 2e-3,
            "optim.warmup_epochs": 1.0,
            "run.out": str(args.out / name / "pretrain"),
        }
    )


def train_config(
    args: argparse.Namespace, name: str, manifest: Path | None, fraction: float, mode: str
) -> TrainConfig:
    overrides = {
        **common(args, name, manifest),
        "data.train_fraction": fraction,
        "data.crop_seconds": args.train_crop_seconds,
        "optim.epochs": args.epochs,
        "run.patience": 0,
        "run.val_subsets": [12],  # the test fold is scored with 12 leads; validation matches it
        "run.out": str(args.out / name / f"{mode}_{round(100 * fraction)}"),
    }
    if mode != "scratch":
        overrides["finetune.init"] = str(args.out / name / "pretrain" / "last.pt")
        overrides["finetune.linear_probe"] = mode == "probe"
    return bundled_config("demo").replace(overrides)


@torch.no_grad()
def test_scores(checkpoint: Path, config: TrainConfig, seconds: float) -> dict[str, float]:
    """Macro AUROC and challenge metric of a checkpoint on the test folds (centred crops)."""
    loaded = load_model(checkpoint)
    splits = load_splits(config.data, config.preprocess)
    test = _test_indices(splits, set(config.data.test_folds))
    dataset = CropDataset(splits.cache.path, test, round(seconds * config.preprocess.fs))
    labels, scores = [], []
    for start in range(0, len(dataset), 64):
        items = [dataset[k] for k in range(start, min(start + 64, len(dataset)))]
        x = torch.stack([i[0] for i in items])
        mask = torch.stack([i[1] for i in items])
        scores.append(torch.sigmoid(loaded.model(x, mask)).numpy().astype(np.float64))
        labels.append(torch.stack([i[3] for i in items]).numpy() > 0.5)
    y, s = np.concatenate(labels), np.concatenate(scores)
    result = metrics.score(y, s, apply_thresholds(s, loaded.thresholds["12"]))
    return {
        "auroc": float(result["auroc"]),
        "challenge": float(result["challenge_metric"]),
        "records": len(y),
    }


def _test_indices(splits: Splits, folds: set[int]) -> np.ndarray:
    frame = read_manifest(splits.manifest)
    rows = select_folds(frame, folds)
    found = []
    for name in rows["name"]:
        try:
            found.append(splits.cache.index_of(name))
        except KeyError:
            continue
    return np.array(sorted(found), dtype=np.int64)


def run_dataset(args: argparse.Namespace, name: str, manifest: Path | None) -> dict:
    started = time.perf_counter()
    config = pretrain_config(args, name, manifest)
    finished = Path(config.run.out, "last.pt").is_file()  # an interrupted benchmark reuses its pretraining
    result = pretrain(config, resume=finished, overwrite=not finished)
    history = result.history
    report: dict = {
        "pretrain": {
            "records": result.train_records,
            "epochs": len(history),
            "seconds": result.seconds,
            "records_per_s": float(np.median([r["records_per_s"] for r in history])),
            "loss": [round(r["train_loss"], 4) for r in history],
            "val_loss": [round(r["val_loss"], 4) for r in history],
            "target_std": [round(r["target_std"], 4) for r in history],
            "target_std_min": [round(r["target_std_min"], 4) for r in history],
            "collapsed": result.collapsed,
        },
        "runs": {},
    }
    print(
        f"[{name}] pretrained in {result.seconds / 60:.1f} min: {json.dumps(report['pretrain'])}", flush=True
    )
    for fraction in FRACTIONS:
        for mode in MODES:
            config = train_config(args, name, manifest, fraction, mode)
            run = train(config, overwrite=True)
            scores = test_scores(run.best_checkpoint, config, args.test_seconds)
            key = f"{mode}_{round(100 * fraction)}"
            report["runs"][key] = {
                **scores,
                "labelled_records": run.train_records,
                "val_auroc": run.best_metrics["auroc"],
                "records_per_s": float(np.median([r["records_per_s"] for r in run.history])),
                "seconds": run.seconds,
            }
            print(f"[{name}] {key}: {json.dumps(report['runs'][key])}", flush=True)
    report["seconds"] = time.perf_counter() - started
    return report


def table(name: str, report: dict) -> str:
    runs = report["runs"]
    lines = [
        f"{name}: pretraining on {report['pretrain']['records']} records, "
        f"{report['pretrain']['epochs']} epochs",
        "| labels | scratch AUROC | fine-tuned AUROC | linear probe AUROC | scratch challenge "
        "| fine-tuned challenge | linear probe challenge |",
        "|---|---|---|---|---|---|---|",
    ]
    for fraction in FRACTIONS:
        p = round(100 * fraction)
        r = [runs[f"{m}_{p}"] for m in MODES]
        lines.append(
            f"| {p} % ({r[0]['labelled_records']}) | "
            + " | ".join(f"{x['auroc']:.3f}" for x in r)
            + " | "
            + " | ".join(f"{x['challenge']:.3f}" for x in r)
            + " |"
        )
    pre, sup = report["pretrain"]["records_per_s"], runs["scratch_100"]["records_per_s"]
    lines.append(
        f"throughput: pretraining {pre:.1f} records/s, supervised training {sup:.1f} records/s "
        f"({pre / sup:.2f}x)"
    )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--data", action="append", required=True, help="NAME=FOLDER of challenge records, or demo"
    )
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--pretrain-epochs", type=int, default=6)
    parser.add_argument("--epochs", type=int, default=3, help="epochs of every classifier run")
    parser.add_argument("--crop-seconds", type=float, default=2.048, help="pretraining crops")
    parser.add_argument("--train-crop-seconds", type=float, default=4.0, help="classifier training crops")
    parser.add_argument(
        "--demo-train-folds", type=int, nargs="+", default=None, help="demo set: training folds (default 0-7)"
    )
    parser.add_argument("--test-seconds", type=float, default=10.0)
    parser.add_argument("--mask", default="lead_time", choices=("lead_time", "ecg_jepa", "ijepa"))
    parser.add_argument("--ema", type=float, nargs=2, default=(0.99, 0.999))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    args.out.mkdir(parents=True, exist_ok=True)
    print(f"settings: {json.dumps({k: str(v) for k, v in vars(args).items()})}", flush=True)
    reports = {}
    for item in args.data:
        name, _, folder = item.partition("=")
        manifest = None
        if folder:
            manifest = args.out / f"{name}.csv"
            if not manifest.is_file():
                origin = Path(folder) / "ORIGIN.csv"  # PTB-XL's record -> patient table, when present
                has_patients = origin.is_file() and "patient_id" in origin.read_text().partition("\n")[0]
                patients = read_patients(origin, patient_column="patient_id") if has_patients else None
                prepare(Path(folder), manifest, patients=patients)
        reports[name] = run_dataset(args, name, manifest)
        (args.out / "results.json").write_text(json.dumps(reports, indent=1))
    for name, report in reports.items():
        print(table(name, report))
    print(f"classes scored: {NUM_CLASSES}")


if __name__ == "__main__":
    main()
