"""Seconds per record for every explanation method, and the README's faithfulness table.

Speed (default): python bench/explain.py [--record PATH] [--checkpoint CKPT] [--repeats 3] [--threads 2]
    Times record -> frame for each method on one 10 s twelve-lead record (a real shared record by
    default) with the default network (random weights unless --checkpoint is given), after one
    warm-up call, and reports the median. Targets: attention and saliency under 0.1 s,
    Integrated Gradients (default steps) under 2 s.
Table: python bench/explain.py --table --checkpoint CKPT [--data DIR] [--records 20]
    Prints the methods x metrics Markdown table of explain.faithfulness on demo records (the demo
    set by default): every map under a zero and a low-pass fill, Integrated Gradients, GradientShap
    and DeepLift from each of those baselines, the random ranking averaged over 5 seeds.
Integrated Gradients' accuracy: python bench/explain.py --ig-deltas --checkpoint CKPT [--records 20]
    The relative convergence delta (|delta| / |score difference|) of Integrated Gradients for the
    labelled classes of demo records at 16, 32, 64 and 128 steps: median, 90th percentile, largest
    and the share above explain.CONVERGENCE_BOUND.
"""

from __future__ import annotations

import argparse
import platform
import shlex
import statistics
import sys
import time
from pathlib import Path

# This script is named like the package it measures: drop its own folder from the import path.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import matplotlib  # noqa: E402

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import torch  # noqa: E402

from explain import (  # noqa: E402
    CONVERGENCE_BOUND,
    EXPLAINERS,
    AttentionExplainer,
    IntegratedGradientsExplainer,
    make_explainer,
    plot,
    readme_table,
    save_figure,
)
from leadattn.checkpoint import load_model  # noqa: E402
from leadattn.data import read_record  # noqa: E402
from leadattn.models import LocalLeadAttentionNet, count_parameters  # noqa: E402
from leadattn.synth import ensure_demo_data  # noqa: E402

DEFAULT_RECORD = Path(__file__).resolve().parents[1].parent / "shared" / "ecg" / "cinc2021" / "E07500.hea"
TARGETS = {"attention (mean)": 0.1, "saliency": 0.1, "integrated_gradients": 2.0}


def _median_seconds(fn, repeats: int) -> float:
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def speed(args: argparse.Namespace) -> None:
    model = load_model(args.checkpoint) if args.checkpoint else LocalLeadAttentionNet().eval()
    network = model.model if args.checkpoint else model
    record = read_record(args.record)
    print(f"record {record.name}: {len(record.leads)} leads, {record.duration:g} s at {record.fs:g} Hz")
    parameters = count_parameters(network) / 1e6
    print(f"network: {parameters:.2f} M parameters; torch threads {torch.get_num_threads()}")
    print(f"cpu: {platform.processor() or platform.machine()}\n")
    explainers = {"attention (rollout)": AttentionExplainer(model, "rollout")}
    explainers |= {
        "attention (mean)" if name == "attention" else name: make_explainer(name, model)
        for name in EXPLAINERS
    }
    jobs = {name: (lambda e=explainer: e.explain(record, "AF")) for name, explainer in explainers.items()}
    frame = AttentionExplainer(model).explain(record)
    jobs["figure (plot + png)"] = lambda: save_figure(plot(record, frame), Path(args.scratch) / "bench")
    print("| method | seconds per record | target |\n|---|---|---|")
    for name, fn in jobs.items():
        seconds = _median_seconds(fn, args.repeats)
        target = f"< {TARGETS[name]:g} s" if name in TARGETS else ""
        print(f"| {name} | {seconds:.3f} | {target} |", flush=True)


def ig_deltas(args: argparse.Namespace, data: Path) -> None:
    import warnings

    from explain import ConvergenceWarning
    from leadattn.synth import annotation_path

    model = load_model(args.checkpoint)
    headers = sorted(h for h in data.glob("*.hea") if annotation_path(h).is_file())[: args.records]
    print(f"{len(headers)} demo records, their labelled classes; bound {CONVERGENCE_BOUND:.0%}\n")
    print(
        "| steps | median | 90th percentile | largest | above the bound | seconds per map |\n"
        "|---|---|---|---|---|---|"
    )
    for steps in (16, 32, 64, 128):
        explainer = IntegratedGradientsExplainer(model, n_steps=steps)
        deltas, started = [], time.perf_counter()
        for header in headers:
            inp = explainer.prepare(header)
            for k in np.flatnonzero(inp.record.labels):
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", ConvergenceWarning)
                    deltas.append(explainer.attribute(inp, int(k))[1]["relative_delta"])
        seconds = (time.perf_counter() - started) / len(deltas)
        d = np.array(deltas)
        print(
            f"| {steps} | {np.median(d):.1%} | {np.percentile(d, 90):.1%} | {d.max():.1%} "
            f"| {np.mean(d > CONVERGENCE_BOUND):.0%} of {len(d)} | {seconds:.2f} |",
            flush=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--record", type=Path, default=DEFAULT_RECORD)
    parser.add_argument("--checkpoint", type=Path, default=None)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--threads",
        type=int,
        default=2,
        help="torch threads (default 2, the cores of the machine the README's figures come from)",
    )
    parser.add_argument("--scratch", default="/tmp", help="folder for the timed figure")
    parser.add_argument("--table", action="store_true", help="print the faithfulness table instead")
    parser.add_argument("--ig-deltas", action="store_true", help="print Integrated Gradients' deltas instead")
    parser.add_argument("--data", type=Path, default=None, help="demo records (default: the demo set)")
    parser.add_argument("--records", type=int, default=20)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print("command: python " + " ".join(shlex.quote(a) for a in sys.argv) + "\n")
    if args.table or args.ig_deltas:
        if args.checkpoint is None:
            parser.error("--table and --ig-deltas need --checkpoint")
        data = args.data or ensure_demo_data()
        if args.table:
            print(readme_table(args.checkpoint, data, records=args.records))
        else:
            ig_deltas(args, data)
    else:
        speed(args)


if __name__ == "__main__":
    main()
