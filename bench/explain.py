"""Seconds per record for every explanation method, and the README's faithfulness table.

Speed (default): python bench/explain.py [--record PATH] [--checkpoint CKPT] [--repeats 3] [--threads 2]
    Times record -> frame for each method on one 10 s twelve-lead record (a real shared record by
    default) with the default network (random weights unless --checkpoint is given), after one
    warm-up call, and reports the median. Targets: attention and saliency under 0.1 s,
    Integrated Gradients (default steps) under 2 s.
Table: python bench/explain.py --table --checkpoint CKPT [--data DIR] [--records 20]
    Prints the methods x metrics Markdown table of explain.faithfulness on demo records (the demo
    set by default).
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

import torch  # noqa: E402

from explain import EXPLAINERS, AttentionExplainer, make_explainer, plot, readme_table, save_figure  # noqa: E402
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
    parser.add_argument("--data", type=Path, default=None, help="demo records (default: the demo set)")
    parser.add_argument("--records", type=int, default=20)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print("command: python " + " ".join(shlex.quote(a) for a in sys.argv) + "\n")
    if args.table:
        if args.checkpoint is None:
            parser.error("--table needs --checkpoint")
        data = args.data or ensure_demo_data()
        print(readme_table(args.checkpoint, data, records=args.records))
    else:
        speed(args)


if __name__ == "__main__":
    main()
