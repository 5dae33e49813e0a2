"""Real ECGs: the local lead-attention network against torch_ecg's ECG_CRNN on the shared PTB-XL folder.

Prepares the folder with patient-grouped folds (``ORIGIN.csv``), trains each model by the same loop
(:func:`leadattn.training.train`, the bundled default configuration: 8 s crops, AdamW with warm-up and
cosine decay, batch 32) for the same epochs on folds 0-7 with fold 8 for validation, then scores the
held-out fold 9 whole, in 10 s windows, with 12 and with 2 leads. Reported per model: macro and
per-class AUROC / AUPRC / F-measure over the classes with at least ``--min-positives`` positives in the
test fold, the challenge metric (all classes, thresholds tuned per subset on fold 8), the final
training loss, training records per second and the learning curves. Runs resume where they stopped.

    python bench/real.py --epochs 12 --out runs/real
    python bench/real.py --models leadattn --epochs 40 --set optim.lr=2e-3   # one model, overrides
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import warnings
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402

from leadattn import metrics  # noqa: E402
from leadattn.checkpoint import load_checkpoint  # noqa: E402
from leadattn.data import prepare, read_manifest, read_patients, select_folds  # noqa: E402
from leadattn.inference import score_signals, subset_key  # noqa: E402
from leadattn.labels import ABBREVIATIONS, NUM_CLASSES  # noqa: E402
from leadattn.leads import lead_mask  # noqa: E402
from leadattn.models import count_flops, count_parameters  # noqa: E402
from leadattn.thresholds import apply_thresholds, threshold_table  # noqa: E402
from leadattn.training import TrainConfig, apply_overrides, bundled_config, train  # noqa: E402
from leadattn.training.dataset import load_splits  # noqa: E402

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "ecg" / "ptbxl"
SUBSETS = (12, 2)


class CRNNBaseline(nn.Module):
    """torch_ecg's ECG_CRNN (default configuration) behind leadattn's ``forward(x, lead_mask, lengths)``:
    absent leads are zeroed, lengths are ignored (a CNN with global pooling reads the padding)."""

    def __init__(self) -> None:
        super().__init__()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from torch_ecg.models import ECG_CRNN

            self.net = ECG_CRNN(classes=[str(i) for i in range(NUM_CLASSES)], n_leads=12)

    def forward(
        self, x: torch.Tensor, lead_mask: torch.Tensor | None = None, lengths: torch.Tensor | None = None
    ) -> torch.Tensor:
        if lead_mask is None:
            return self.net(x)
        mask = lead_mask if lead_mask.dim() == 2 else lead_mask.expand(x.shape[0], -1)
        return self.net(x * mask[:, :, None].to(x.dtype))


class ConvWithinLead(nn.Module):
    """Ablation: a lead's within-lead attention replaced by a convolution of about its cost, per lead
    (projection in, depthwise convolution over ``kernel`` tokens, GELU, projection out; no weight
    connects two leads), with ``WithinLeadAttention``'s ``forward(x, offset, keys)``."""

    def __init__(self, leads: int, dim: int, kernel: int = 15) -> None:
        super().__init__()
        self.project_in = nn.Conv1d(leads * dim, leads * dim, 1, groups=leads)
        self.depthwise = nn.Conv1d(leads * dim, leads * dim, kernel, padding=kernel // 2, groups=leads * dim)
        self.project_out = nn.Conv1d(leads * dim, leads * dim, 1, groups=leads)

    def forward(self, x: torch.Tensor, offset: int = 0, keys: torch.Tensor | None = None) -> torch.Tensor:
        batch, leads, tokens, dim = x.shape
        if keys is not None:
            x = x * keys[..., None].to(x.dtype)
        y = x.permute(0, 1, 3, 2).reshape(batch, leads * dim, tokens)
        y = self.project_out(nn.functional.gelu(self.depthwise(self.project_in(y))))
        return y.reshape(batch, leads, dim, tokens).permute(0, 1, 3, 2)


def conv_ablation(config: TrainConfig) -> nn.Module:
    """The default network with every within-lead attention replaced by :class:`ConvWithinLead`."""
    from leadattn.models import LocalLeadAttentionNet

    model = LocalLeadAttentionNet(config.model)
    for block in model.blocks:
        block.within = ConvWithinLead(block.within.qkv_weight.shape[0], block.within.dim)
    return model


def build(name: str):
    if name == "leadattn":
        return None
    if name == "ecg_crnn":
        return lambda config: CRNNBaseline()
    if name == "leadattn_conv":
        return conv_ablation
    raise ValueError(f"unknown model {name!r}: choose leadattn, leadattn_conv or ecg_crnn")


def manifest_for(data_dir: Path, out: Path) -> Path:
    """Prepare the folder once, grouping a patient's records into one fold."""
    manifest = out / "ptbxl.csv"
    if not manifest.is_file():
        origin = data_dir / "ORIGIN.csv"
        patients = (
            read_patients(origin, patient_column="patient_id")
            if origin.is_file() and "patient_id" in origin.read_text().partition("\n")[0]
            else None
        )
        prepare(data_dir, manifest, patients=patients)
    return manifest


def run_model(name: str, manifest: Path, args: argparse.Namespace) -> dict:
    out = args.out / name
    overrides = [
        f"data.manifest={manifest}",
        f"run.out={out}",
        f"optim.epochs={args.epochs}",
        "run.patience=0",
        f"run.progress={str(not args.quiet).lower()}",
        f"data.workers={args.workers}",
        *args.set,
    ]
    config = apply_overrides(bundled_config("default"), overrides)
    last = out / "last.pt"
    done = last.is_file() and load_checkpoint(last)["epoch"] >= args.epochs
    if not done and not args.score_only:
        train(config, resume=last.is_file(), build_model=build(name))
    return test_scores(name, config, out / f"{args.checkpoint}.pt", args)


def test_scores(name: str, config: TrainConfig, checkpoint: Path, args: argparse.Namespace) -> dict:
    """Score fold 9 whole with the chosen checkpoint, per lead subset."""
    payload = load_checkpoint(checkpoint)
    builder = build(name)
    if builder is None:
        from leadattn.models import LocalLeadAttentionNet

        model: nn.Module = LocalLeadAttentionNet(config.model)
    else:
        model = builder(config)
    model.load_state_dict(payload["model_state"])
    splits = load_splits(config.data, config.preprocess)
    frame = read_manifest(splits.manifest)
    test = select_folds(frame, config.data.test_folds)
    cache = splits.cache
    cached = set(cache.names)
    indices = [cache.index_of(n) for n in test["name"] if n in cached]
    labels = cache.label_matrix[indices] > 0.5
    signals = [cache.signal(i, 0, int(cache.lengths[i])) for i in indices]
    masks = np.stack([[lead_mask(s) & cache.mask(i) for s in SUBSETS] for i in indices])
    window = config.val_crop_samples
    probabilities = score_signals(model, signals, masks, window, window // 2, "mean", 32)
    thresholds = threshold_table(payload["thresholds"])
    positives = labels.sum(axis=0)
    kept = positives >= args.min_positives
    last = checkpoint.with_name("last.pt")
    history = load_checkpoint(last)["history"] if last.is_file() else payload["history"]
    result = {
        "model": name,
        "parameters": count_parameters(model),
        "gflop_10s": count_flops(model, 5000) / 1e9,
        "best_epoch": int(payload["epoch"]),
        "final_train_loss": float(history[-1]["train_loss"]),
        "records_per_s": float(np.median([row["records_per_s"] for row in history])),
        "test_records": len(indices),
        "classes": [ABBREVIATIONS[k] for k in np.flatnonzero(kept)],
        "history": history,
        "subsets": {},
    }
    for j, size in enumerate(SUBSETS):
        scores = probabilities[:, j]
        outputs = apply_thresholds(scores, thresholds[subset_key(lead_mask(size))])
        scored = metrics.score(labels, scores, outputs)
        result["subsets"][str(size)] = {
            "auroc": float(np.nanmean(scored["auroc_classes"][kept])),
            "auprc": float(np.nanmean(scored["auprc_classes"][kept])),
            "f_measure": float(np.nanmean(scored["f_measure_classes"][kept])),
            "challenge_metric": float(scored["challenge_metric"]),
            "auroc_classes": {
                ABBREVIATIONS[k]: float(scored["auroc_classes"][k]) for k in np.flatnonzero(kept)
            },
        }
    return result


def write(results: list[dict], out: Path) -> None:
    lines = [
        "| model | parameters | GFLOP / 10 s | epochs (best) | leads | macro AUROC | macro AUPRC | macro F | "
        "challenge | final train loss | train rec/s |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        for size, s in r["subsets"].items():
            lines.append(
                f"| {r['model']} | {r['parameters'] / 1e6:.2f} M | {r['gflop_10s']:.2f} | "
                f"{len(r['history'])} ({r['best_epoch']}) | {size} | "
                f"{s['auroc']:.3f} | {s['auprc']:.3f} | {s['f_measure']:.3f} | {s['challenge_metric']:.3f} | "
                f"{r['final_train_loss']:.3f} | {r['records_per_s']:.1f} |"
            )
    classes = results[0]["classes"]
    lines += ["", "| class | " + " | ".join(f"{r['model']} 12 / 2" for r in results) + " |"]
    lines.append("|---|" + "---|" * len(results))
    for c in classes:
        cells = [
            f"{r['subsets']['12']['auroc_classes'].get(c, float('nan')):.3f} / "
            f"{r['subsets']['2']['auroc_classes'].get(c, float('nan')):.3f}"
            for r in results
        ]
        lines.append(f"| {c} | " + " | ".join(cells) + " |")
    (out / "results.md").write_text("\n".join(lines) + "\n")
    (out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    for r in results:
        epochs = [row["epoch"] for row in r["history"]]
        axes[0].plot(epochs, [row["train_loss"] for row in r["history"]], label=f"{r['model']} train")
        axes[0].plot(
            epochs, [row["val_loss"] for row in r["history"]], "--", label=f"{r['model']} validation"
        )
        axes[1].plot(
            epochs, [row["val_auroc_12leads"] for row in r["history"]], label=f"{r['model']} 12 leads"
        )
        axes[1].plot(
            epochs, [row["val_auroc_2leads"] for row in r["history"]], "--", label=f"{r['model']} 2 leads"
        )
    axes[0].set(xlabel="epoch", ylabel="loss", title="Loss")
    axes[1].set(xlabel="epoch", ylabel="macro AUROC", title="Validation AUROC (fold 8)")
    for ax in axes:
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out / "learning_curves.png", dpi=110)
    with (out / "summary.csv").open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["model", "leads", "auroc", "auprc", "f_measure", "challenge_metric"])
        for r in results:
            for size, s in r["subsets"].items():
                writer.writerow(
                    [r["model"], size, s["auroc"], s["auprc"], s["f_measure"], s["challenge_metric"]]
                )


def compare(runs: list[str], out: Path) -> None:
    """One table and one figure of validation AUROC per epoch across earlier result folders, given
    as ``LABEL=FOLDER`` (each holding the ``results.json`` this script writes)."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6), sharey=True)
    lines = [
        "| run | model | epochs | fold 9 AUROC 12 / 2 leads | final train loss |",
        "|---|---|---|---|---|",
    ]
    for run in runs:
        label, _, folder = run.partition("=")
        found = Path(folder) / "results.json"
        if not label or not found.is_file():
            raise SystemExit(
                f"--compare {run}: expected LABEL=FOLDER with FOLDER/results.json from this script"
            )
        results = json.loads(found.read_text())
        for r in results:
            name = label if len(results) == 1 else f"{label} {r['model']}"
            epochs = [row["epoch"] for row in r["history"]]
            for ax, size in zip(axes, SUBSETS, strict=True):
                ax.plot(epochs, [row[f"val_auroc_{size}leads"] for row in r["history"]], label=name)
            s12, s2, loss = r["subsets"]["12"]["auroc"], r["subsets"]["2"]["auroc"], r["final_train_loss"]
            lines.append(f"| {label} | {r['model']} | {len(epochs)} | {s12:.3f} / {s2:.3f} | {loss:.3f} |")
    for ax, size in zip(axes, SUBSETS, strict=True):
        ax.set(xlabel="epoch", title=f"Validation AUROC (fold 8), {size} leads")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("macro AUROC")
    axes[1].legend(fontsize=7)
    fig.tight_layout()
    out.mkdir(parents=True, exist_ok=True)
    fig.savefig(out / "compare.png", dpi=110)
    (out / "compare.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=SHARED, help="folder of challenge-format records")
    parser.add_argument("--out", type=Path, default=Path("runs/real"), help="runs and results")
    parser.add_argument(
        "--models",
        nargs="+",
        default=["leadattn", "ecg_crnn"],
        help="leadattn, ecg_crnn, leadattn_conv (within-lead attention replaced by a convolution)",
    )
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--min-positives", type=int, default=10, help="classes scored in macro figures")
    parser.add_argument("--workers", type=int, default=0, help="DataLoader workers")
    parser.add_argument("--threads", type=int, default=2, help="torch threads")
    parser.add_argument("--set", nargs="*", default=[], help="config overrides for every model")
    parser.add_argument(
        "--checkpoint",
        choices=["best", "last"],
        default="best",
        help="checkpoint scored on fold 9: best.pt (the run's monitor on fold 8) or last.pt (the last epoch)",
    )
    parser.add_argument(
        "--score-only", action="store_true", help="score each run's checkpoint as it stands (also mid-run)"
    )
    parser.add_argument(
        "--compare",
        nargs="+",
        metavar="LABEL=FOLDER",
        help="only compare earlier result folders: OUT/compare.png (validation curves) and OUT/compare.md",
    )
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)
    if args.compare:
        compare(args.compare, args.out)
        return 0
    if not args.data.is_dir():
        print(f"data folder {args.data} not found", file=sys.stderr)
        return 2
    torch.set_num_threads(args.threads)
    args.out.mkdir(parents=True, exist_ok=True)
    manifest = manifest_for(args.data, args.out)
    models = [m for m in args.models if not args.score_only or (args.out / m / "best.pt").is_file()]
    results = [run_model(name, manifest, args) for name in models]
    write(results, args.out)
    print((args.out / "results.md").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
