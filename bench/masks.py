"""Per-record cost of each mask collator (the issue's bound: under 1 ms per record).

python bench/masks.py --batch 64 --repeats 50
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from leadattn.data import PreprocessConfig, preprocess_record, read_record
from leadattn.masks import IJEPAMaskCollator, LeadTimeMaskCollator, MaskCollator, plot_masks


def per_record_ms(collator, batch: int, patches: int, repeats: int) -> float:
    rng = np.random.default_rng(0)
    collator.sample(batch, patches, rng)
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        collator.sample(batch, patches, rng)
        times.append(time.perf_counter() - started)
    return 1e3 * float(np.median(times)) / batch


def figure(record: Path, out: Path) -> None:
    """ECG-JEPA, I-JEPA and lead-time masks (patches of 0.2 s) on the first 9.6 s of one record."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    x = preprocess_record(read_record(record), PreprocessConfig(fs=250.0))[0][:, :2400]
    cases = [
        ("ECG-JEPA", MaskCollator(50, 4, 0.15, 0.25, seed=1)),
        ("I-JEPA multi-block", IJEPAMaskCollator(50, min_keep=4, seed=1)),
        ("lead-time blocks", LeadTimeMaskCollator(50, 4, 0.15, 0.25, 3, 9, seed=2)),
    ]
    panels = [plot_masks(x, c.sample(1, 48), patch_size=50, fs=250.0, title=name) for name, c in cases]
    sheet = Figure(figsize=(18, 4.3))
    FigureCanvasAgg(sheet)
    for i, panel in enumerate(panels):
        panel.canvas.draw()
        ax = sheet.add_subplot(1, 3, i + 1)
        ax.imshow(np.asarray(panel.canvas.buffer_rgba()))
        ax.axis("off")
    sheet.tight_layout(pad=0.2)
    out.parent.mkdir(parents=True, exist_ok=True)
    sheet.savefig(out, dpi=75)
    print(f"wrote {out} ({out.stat().st_size // 1024} KiB)")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=50)
    parser.add_argument("--figure", type=Path, help="write the mask figure (PNG) here instead of timing")
    parser.add_argument("--record", type=Path, help="record drawn in the figure (challenge format)")
    args = parser.parse_args()
    if args.figure is not None:
        figure(args.record, args.figure)
        return
    cases = [
        ("ECG-JEPA (25-sample patches, 200 per 10 s record)", MaskCollator(25, 10, 0.15, 0.25), 200),
        ("I-JEPA multi-block (25-sample patches, 200)", IJEPAMaskCollator(25), 200),
        ("lead-time blocks (25-sample patches, 12 x 200)", LeadTimeMaskCollator(25), 200),
        ("ECG-JEPA (64-sample patches, 78 per 10 s)", MaskCollator(64, 4, 0.15, 0.25), 78),
        ("lead-time blocks (64-sample patches, 12 x 78)", LeadTimeMaskCollator(64, 4), 78),
    ]
    print(f"batch {args.batch}, median of {args.repeats} batches")
    for name, collator, patches in cases:
        print(f"{name:<55} {per_record_ms(collator, args.batch, patches, args.repeats):.3f} ms per record")


if __name__ == "__main__":
    main()
