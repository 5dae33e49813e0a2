"""Cost of the local lead-attention network next to torch_ecg's ECG_CRNN, measured in one run.

Prints parameters, GFLOP per 10 s twelve-lead record at 500 Hz, and inference and training
records per second on the CPU (and on CUDA when available). The two models are timed in
alternation, batch by batch, so that a change in machine load hits both; the ratios are the
medians of the per-repetition ratios.

    python bench/model.py --threads 2 --batch 16 --repeats 10
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import warnings
from collections.abc import Callable

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from leadattn.labels import NUM_CLASSES
from leadattn.models import LocalLeadAttentionNet, count_flops, count_parameters

Step = Callable[[], None]


def baseline_model() -> nn.Module | None:
    """torch_ecg's ECG_CRNN in its default configuration, or None when torch_ecg is missing."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from torch_ecg.models import ECG_CRNN

            return ECG_CRNN(classes=[str(i) for i in range(NUM_CLASSES)], n_leads=12)
    except ImportError as err:
        print(f"torch_ecg is not importable ({err}); reporting leadattn alone.")
        print("Install the baseline with: pip install 'leadattn[bench]'")
        return None


def total_flops(model: nn.Module, samples: int) -> int:
    """FLOPs of one forward pass on one 12-lead record (multiply-add = 2)."""
    if isinstance(model, LocalLeadAttentionNet):
        return count_flops(model, samples)
    model.eval()
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(torch.zeros(1, 12, samples, device=next(model.parameters()).device))
    return int(counter.get_total_flops())


def inference_step(model: nn.Module, x: torch.Tensor) -> Step:
    model.eval()

    def step() -> None:
        with torch.inference_mode():
            model(x)

    return step


def training_step(model: nn.Module, x: torch.Tensor) -> Step:
    model.train()
    target = torch.randint(0, 2, (x.shape[0], NUM_CLASSES), device=x.device).float()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    loss_fn = nn.BCEWithLogitsLoss()

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        loss_fn(model(x), target).backward()
        optimizer.step()

    return step


def timed(step: Step, device: torch.device) -> float:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    step()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter() - start


def alternate(steps: dict[str, Step], batch: int, repeats: int, device: torch.device) -> dict:
    """Records/s of every step, timed in turn within each repetition, after one warm-up each."""
    for step in steps.values():
        step()
    rates: dict[str, list[float]] = {name: [] for name in steps}
    for _ in range(repeats):
        for name, step in steps.items():
            rates[name].append(batch / timed(step, device))
    return rates


def report(mode: str, rates: dict[str, list[float]]) -> None:
    ours = rates["leadattn"]
    line = f"  {mode:<9} leadattn {statistics.median(ours):8.1f} rec/s"
    if "ECG_CRNN" in rates:
        base = rates["ECG_CRNN"]
        ratio = statistics.median(a / b for a, b in zip(ours, base, strict=True))
        line += f"   ECG_CRNN {statistics.median(base):8.1f} rec/s   ratio {ratio:5.2f}x"
    print(line)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2, help="CPU threads (torch.set_num_threads)")
    parser.add_argument("--batch", type=int, default=16, help="records per batch")
    parser.add_argument("--repeats", type=int, default=10, help="timed batches per model and mode")
    parser.add_argument("--samples", type=int, default=5000, help="samples per lead (10 s at 500 Hz)")
    parser.add_argument("--no-baseline", action="store_true", help="skip torch_ecg's ECG_CRNN")
    parser.add_argument("--no-cuda", action="store_true", help="skip the CUDA measurement")
    args = parser.parse_args(argv)

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    models: dict[str, nn.Module] = {"leadattn": LocalLeadAttentionNet()}
    if not args.no_baseline and (baseline := baseline_model()) is not None:
        models["ECG_CRNN"] = baseline

    print(f"per {args.samples / 500:g} s 12-lead record at 500 Hz (12 x {args.samples}):")
    for name, model in models.items():
        params, flops = count_parameters(model), total_flops(model, args.samples)
        print(f"  {name:<9} {params / 1e6:6.2f} M parameters   {flops / 1e9:6.3f} GFLOP")

    devices = [torch.device("cpu")]
    if torch.cuda.is_available() and not args.no_cuda:
        devices.append(torch.device("cuda"))
    for device in devices:
        label = f"{args.threads} CPU threads" if device.type == "cpu" else "CUDA"
        print(f"{label}, batch {args.batch}, median of {args.repeats}:")
        x = torch.randn(args.batch, 12, args.samples, device=device)
        for model in models.values():
            model.to(device)
        for mode, make in (("inference", inference_step), ("training", training_step)):
            steps = {name: make(model, x) for name, model in models.items()}
            report(mode, alternate(steps, args.batch, args.repeats, device))
    print("reproduce: python bench/model.py " + " ".join(sys.argv[1:] if argv is None else argv))


if __name__ == "__main__":
    main()
