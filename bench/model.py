"""Cost of the local lead-attention network next to torch_ecg's ECG_CRNN, measured in one run.

Prints parameters, GFLOP per 10 s twelve-lead record at 500 Hz; inference records per second at
batch ``--batch`` and at batch 1, eager and through the compiled path the command lines use
(:class:`leadattn.inference.CompiledForward`), and training records per second, on the CPU (and on
CUDA when available); then time and peak memory of one record of each of ``--lengths`` seconds at
batch 1 with the growth exponent between lengths, and with ``--profile`` where the time of one
forward pass goes. The models are timed in alternation, batch by batch, so that a change in machine
load hits all alike; the ratios are the medians of the per-repetition ratios.

    python bench/model.py --threads 2 --batch 16 --repeats 10
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import subprocess
import sys
import time
import warnings
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from leadattn.inference import CompiledForward
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


def compiled_step(model: nn.Module, x: torch.Tensor) -> Step | None:
    """The compiled inference path of the command lines, or None where it falls back to eager."""
    model.eval()
    forward = CompiledForward(model)
    mask = torch.ones(x.shape[0], 12, dtype=torch.bool, device=x.device)
    lengths = torch.full((x.shape[0],), x.shape[-1], device=x.device)
    start = time.perf_counter()
    with warnings.catch_warnings(), torch.inference_mode():
        warnings.simplefilter("ignore")
        forward(x, mask, lengths)
    if not forward.active:
        print(f"  compiled path unavailable: {forward.failure}")
        return None
    print(f"  compiled path ready after {time.perf_counter() - start:.1f} s (batch {x.shape[0]})")

    def step() -> None:
        with torch.inference_mode():
            forward(x, mask, lengths)

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
    """One line per timed entry: median rate, ms per record, and the median ratio to ECG_CRNN."""
    base = rates.get("ECG_CRNN")
    for name, ours in rates.items():
        rate = statistics.median(ours)
        line = f"  {mode:<14} {name:<18} {rate:8.1f} rec/s {1000 / rate:8.2f} ms/rec"
        if base is not None and name != "ECG_CRNN":
            ratio = statistics.median(a / b for a, b in zip(ours, base, strict=True))
            line += f"   {ratio:5.2f}x ECG_CRNN"
        print(line)


def length_child(name: str, samples: int, repeats: int, threads: int, global_window: int | None) -> dict:
    """Median seconds and peak memory of one batch-1 forward pass (run in a fresh process)."""
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    if name == "ECG_CRNN":
        model = baseline_model()
    else:
        config = LocalLeadAttentionNet().config
        if global_window is not None:
            config = type(config)(**{**config.__dict__, "global_window": global_window})
        model = LocalLeadAttentionNet(config)
    model.eval()
    x = torch.randn(1, 12, samples)
    before = _memory_mib("VmRSS")
    with torch.inference_mode():
        model(x)
        peak = _memory_mib("VmHWM") - before
        seconds = []
        for _ in range(repeats):
            start = time.perf_counter()
            model(x)
            seconds.append(time.perf_counter() - start)
    return {"seconds": statistics.median(seconds), "peak_mib": peak}


def _memory_mib(field: str) -> float:
    """A memory figure of this process from /proc/self/status; VmHWM (peak resident memory) starts
    afresh at exec, unlike ru_maxrss, which a child inherits from the process that started it."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {field} in /proc/self/status")


def cost_against_length(lengths: list[float], repeats: int, threads: int, baseline: bool) -> None:
    """Time and peak memory at batch 1 for each length, each in a fresh process, with the growth
    exponent between consecutive lengths (1 is linear) and, for leadattn, the same with the last
    stage attending over the whole record however long (no ``global_window``)."""
    variants = [("leadattn", None), ("leadattn, whole", 10**9)] + ([("ECG_CRNN", None)] if baseline else [])
    print(f"cost against record length, batch 1, {threads} CPU threads, median of {repeats}:")
    print(f"  {'model':<16} {'length':>7} {'ms':>9} {'peak MiB':>9} {'exponent':>9}")
    for name, window in variants:
        previous = None
        for seconds in lengths:
            samples = round(seconds * 500)
            argv = [sys.executable, str(Path(__file__).resolve()), "--length-child", name, str(samples)]
            argv += ["--repeats", str(repeats), "--threads", str(threads)]
            argv += ["--global-window", str(window)] if window is not None else []
            done = subprocess.run(argv, capture_output=True, text=True, check=True)
            result = json.loads(done.stdout.strip().splitlines()[-1])
            exponent = ""
            if previous is not None:
                growth = math.log(result["seconds"] / previous[1]) / math.log(samples / previous[0])
                exponent = f"{growth:9.2f}"
            print(
                f"  {name:<16} {seconds:>6g}s {result['seconds'] * 1000:9.1f} "
                f"{result['peak_mib']:9.0f} {exponent:>9}"
            )
            previous = (samples, result["seconds"])


CATEGORIES = {
    "products": ("mm", "bmm", "addmm", "baddbmm", "matmul", "linear", "conv1d", "convolution"),
    "softmax": ("softmax", "_softmax"),
    "norms": ("layer_norm", "native_layer_norm", "mean", "rsqrt", "square"),
    "copies, padding, gathers": (
        "copy_",
        "cat",
        "constant_pad_nd",
        "pad",
        "clone",
        "contiguous",
        "reshape",
        "index",
        "new_zeros",
    ),
    "masks, biases": ("where", "masked_fill", "arange", "lt", "ge", "bitwise_or", "__or__", "clamp", "eye"),
}


def _category(op: str) -> str:
    name = op.removeprefix("aten::")
    for category, names in CATEGORIES.items():
        if name in names:
            return category
    return "element-wise (add, mul, gelu...)"


def profile(model: nn.Module, batch: int, samples: int, repeats: int) -> None:
    """Share of one forward pass per kind of operator (self time of the top-level aten operators);
    the rest of the wall time is Python and dispatch overhead."""
    model.eval()
    x = torch.randn(batch, 12, samples)
    with torch.inference_mode():
        for _ in range(3):
            model(x)
        start = time.perf_counter()
        with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
            for _ in range(repeats):
                model(x)
        wall = (time.perf_counter() - start) / repeats * 1e3
    totals: dict[str, float] = defaultdict(float)
    calls = 0
    for event in prof.events():
        parent = event.cpu_parent
        if event.name.startswith("aten::") and (parent is None or not parent.name.startswith("aten::")):
            totals[_category(event.name)] += event.cpu_time_total / 1e3 / repeats
            calls += 1
    print(f"  batch {batch}: {wall:.1f} ms per forward (profiled), {calls // repeats} operator calls")
    for category, ms in sorted(totals.items(), key=lambda kv: -kv[1]):
        print(f"    {category:<34} {ms:8.2f} ms {100 * ms / wall:5.1f} %")
    rest = wall - sum(totals.values())
    print(f"    {'Python, dispatch':<34} {rest:8.2f} ms {100 * rest / wall:5.1f} %")
    stem = getattr(model, "stem", None)
    if stem is not None:
        with torch.inference_mode():
            start = time.perf_counter()
            for _ in range(repeats):
                stem(x)
        ms = (time.perf_counter() - start) / repeats * 1e3
        print(f"  the convolutional stem alone: {ms:.2f} ms, {100 * ms / wall:.1f} % of the forward pass")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2, help="CPU threads (torch.set_num_threads)")
    parser.add_argument("--batch", type=int, default=16, help="records per batch")
    parser.add_argument("--repeats", type=int, default=10, help="timed batches per model and mode")
    parser.add_argument("--samples", type=int, default=5000, help="samples per lead (10 s at 500 Hz)")
    parser.add_argument(
        "--lengths",
        type=float,
        nargs="*",
        default=[10, 60, 300],
        help="record lengths in seconds for the cost against length (none: skip it)",
    )
    parser.add_argument("--no-compile", action="store_true", help="skip the compiled path")
    parser.add_argument("--no-training", action="store_true", help="skip the training measurement")
    parser.add_argument("--profile", action="store_true", help="where the time of a forward pass goes")
    parser.add_argument("--no-baseline", action="store_true", help="skip torch_ecg's ECG_CRNN")
    parser.add_argument("--no-cuda", action="store_true", help="skip the CUDA measurement")
    parser.add_argument("--length-child", nargs=2, help=argparse.SUPPRESS)
    parser.add_argument("--global-window", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.length_child:
        name, samples = args.length_child
        result = length_child(name, int(samples), args.repeats, args.threads, args.global_window)
        print(json.dumps(result))
        return
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
        print(f"{label}, median of {args.repeats}:")
        for model in models.values():
            model.to(device)
        for batch in dict.fromkeys((args.batch, 1)):
            x = torch.randn(batch, 12, args.samples, device=device)
            steps = {name: inference_step(model, x) for name, model in models.items()}
            if not args.no_compile and (step := compiled_step(models["leadattn"], x)) is not None:
                steps = {"leadattn": steps["leadattn"], "leadattn compiled": step, **steps}
            report(f"inference b{batch}", alternate(steps, batch, args.repeats, device))
        if not args.no_training:
            x = torch.randn(args.batch, 12, args.samples, device=device)
            steps = {name: training_step(model, x) for name, model in models.items()}
            report(f"training b{args.batch}", alternate(steps, args.batch, args.repeats, device))
        for model in models.values():
            model.to("cpu")
    if args.lengths:
        cost_against_length(args.lengths, max(3, args.repeats // 3), args.threads, "ECG_CRNN" in models)
    if args.profile:
        print(f"where the time goes, {args.threads} CPU threads, {args.samples / 500:g} s records:")
        for batch in dict.fromkeys((1, args.batch)):
            profile(models["leadattn"], batch, args.samples, args.repeats)
    print("reproduce: python bench/model.py " + " ".join(sys.argv[1:] if argv is None else argv))


if __name__ == "__main__":
    main()
