"""Training throughput and peak memory of the default configuration, and the epoch time it implies.

Times whole optimiser steps of the real pipeline (cached records cut into random crops and augmented
by DataLoader workers, then :func:`leadattn.training.step.classifier_step`, the step training takes:
forward, loss, backward, gradient clipping, AdamW, schedule) with the model and
data settings of ``leadattn/training/configs/default.yaml``, on the CPU and on CUDA when available,
optionally under bf16/fp16 autocast. Each (device, precision) pair runs in a fresh process so that its
peak memory is its own: resident set size (``ru_maxrss``) on the CPU, ``max_memory_allocated`` on
CUDA. The time of one epoch over the full 2021 training set (88,253 records) is extrapolated from
the measured rate (training steps only; validation and data preparation excluded). The time the
step waits for its batch from the loader is reported apart from the step's compute: when it is a
small fraction, training never waits for data.

    python bench/train.py --threads 2 --steps 3 --amp off bf16
"""

from __future__ import annotations

import argparse
import json
import resource
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from leadattn.data import build_cache, manifest_data_dir, read_manifest
from leadattn.models import LocalLeadAttentionNet, count_parameters
from leadattn.training import Augmenter, CropDataset, EpochSampler, TrainConfig, apply_overrides
from leadattn.training.losses import build_loss
from leadattn.training.step import Optimiser, classifier_step

FULL_2021 = 88_253
REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "data_manifests" / "cinc2021_sample.csv"


def measure(args: argparse.Namespace, device: str, amp: str) -> dict:
    """Steady-state records per second and peak memory of training steps on ``device``."""
    torch.set_num_threads(args.threads)
    config = apply_overrides(TrainConfig(), args.set)
    dev = torch.device(device)
    frame = read_manifest(args.manifest)
    data_dir = args.data_dir or manifest_data_dir(args.manifest)
    cache = build_cache(frame, data_dir, args.cache_dir, config.preprocess, workers=args.threads)
    indices = list(range(len(cache)))
    dataset = CropDataset(
        cache.path, indices, config.crop_samples, Augmenter(config.augment, config.preprocess.fs)
    )
    sampler = EpochSampler(len(dataset), seed=0)
    loader = torch.utils.data.DataLoader(
        dataset,
        batch_size=config.data.batch_size,
        sampler=sampler,
        num_workers=config.data.workers,
        pin_memory=dev.type == "cuda",
        drop_last=True,
    )
    model = LocalLeadAttentionNet(config.model).to(dev)
    criterion = build_loss(config.loss, cache.label_matrix).to(dev)
    optimiser = Optimiser(model, config.optim, 1000, dev, amp)
    total = args.warmup + args.steps
    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats(dev)

    def batches():
        epoch = 0
        while True:
            sampler.set_epoch(epoch)
            dataset.set_epoch(epoch)
            yield from loader
            epoch += 1

    stream = batches()
    started = None
    waited = 0.0
    for step in range(total):
        if step == args.warmup:
            if dev.type == "cuda":
                torch.cuda.synchronize(dev)
            started = time.perf_counter()
        asked = time.perf_counter()
        batch = next(stream)
        if started is not None:
            waited += time.perf_counter() - asked
        loss = classifier_step(model, criterion, optimiser, batch)
    loss.item()
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)
    seconds = time.perf_counter() - started
    rate = args.steps * config.data.batch_size / seconds
    if dev.type == "cuda":
        peak_mib = torch.cuda.max_memory_allocated(dev) / 2**20
        memory = "GPU max_memory_allocated"
    else:
        peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
        memory = "max RSS of the training process (loader workers not included)"
    return {
        "device": torch.cuda.get_device_name(dev) if dev.type == "cuda" else f"cpu ({args.threads} threads)",
        "amp": amp,
        "records_per_s": rate,
        "seconds_per_step": seconds / args.steps,
        "loader_wait_s": waited / args.steps,
        "peak_mib": peak_mib,
        "memory": memory,
        "parameters": count_parameters(model),
        "crop": config.crop_samples,
        "fs": config.preprocess.fs,
        "batch": config.data.batch_size,
        "workers": config.data.workers,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--devices", nargs="+", help="devices to time (default: cpu, and cuda when available)"
    )
    parser.add_argument(
        "--amp",
        nargs="+",
        default=["off"],
        choices=("off", "bf16", "fp16"),
        help="precisions to time (fp16 only on CUDA)",
    )
    parser.add_argument("--steps", type=int, default=3, help="timed optimiser steps per measurement")
    parser.add_argument("--warmup", type=int, default=1, help="untimed steps first")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    parser.add_argument(
        "--set",
        nargs="+",
        default=[],
        metavar="KEY=VALUE",
        help="training config overrides, e.g. data.batch_size=16",
    )
    parser.add_argument(
        "--manifest", type=Path, default=SAMPLE, help="records to train on (default: the 50 shared)"
    )
    parser.add_argument(
        "--data-dir", type=Path, help="data folder of the manifest (default: from its sidecar)"
    )
    parser.add_argument("--cache-dir", type=Path, help="preprocessing cache (default: a temporary folder)")
    parser.add_argument("--child", nargs=2, metavar=("DEVICE", "AMP"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.steps < 1 or args.warmup < 0:
        parser.error("--steps must be at least 1 and --warmup at least 0")
    if args.child:
        print(json.dumps(measure(args, *args.child)))
        return 0

    devices = args.devices or ["cpu", *(["cuda"] if torch.cuda.is_available() else [])]
    timing = ["--steps", str(args.steps), "--warmup", str(args.warmup), "--threads", str(args.threads)]
    with tempfile.TemporaryDirectory() as tmp:
        cache_dir = args.cache_dir or Path(tmp) / "cache"
        base = [
            sys.executable,
            str(Path(__file__).resolve()),
            *timing,
            "--manifest",
            str(args.manifest),
            "--cache-dir",
            str(cache_dir),
        ]
        if args.data_dir:
            base += ["--data-dir", str(args.data_dir)]
        if args.set:
            base += ["--set", *args.set]
        results = []
        for device in devices:
            for amp in args.amp:
                if amp == "fp16" and device == "cpu":
                    continue
                done = subprocess.run([*base, "--child", device, amp], capture_output=True, text=True)
                if done.returncode != 0:
                    print(done.stderr[-2000:], file=sys.stderr)
                    return done.returncode
                results.append(json.loads(done.stdout.strip().splitlines()[-1]))
    first = results[0]
    print(
        f"default model: {first['parameters']:,} parameters; crops of {first['crop']} samples at "
        f"{first['fs']:g} Hz, batch {first['batch']}, {first['workers']} loader workers"
    )
    print(
        f"{'device':<28} {'amp':<5} {'records/s':>10} {'s/step':>8} {'loader wait':>12} {'peak MiB':>9} "
        f"{'epoch of 88,253':>16}  memory"
    )
    for r in results:
        hours = FULL_2021 / r["records_per_s"] / 3600
        wait = f"{r['loader_wait_s'] * 1000:.0f} ms {100 * r['loader_wait_s'] / r['seconds_per_step']:.0f}%"
        print(
            f"{r['device']:<28} {r['amp']:<5} {r['records_per_s']:>10.2f} {r['seconds_per_step']:>8.2f} "
            f"{wait:>12} {r['peak_mib']:>9.0f} {hours:>14.2f} h  {r['memory']}"
        )
    print("loader wait: time per step spent waiting for the next batch, and its share of the step")
    print(
        "reproduce: python bench/train.py "
        + shlex.join(
            [
                *(["--devices", *args.devices] if args.devices else []),
                "--amp",
                *args.amp,
                *timing,
                *(["--set", *args.set] if args.set else []),
            ]
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
