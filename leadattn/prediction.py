"""Classify records with a trained model, labelled or not: ``leadattn predict``.

Inputs may be record paths (``.hea``, ``.mat`` or the stem), folders (searched recursively for
headers) or manifest CSVs (their records, under the data directory recorded when they were prepared).
Each record goes through the checkpoint's :class:`~leadattn.inference.Predictor` exactly as evaluation
scores it; a record that cannot be read is skipped and reported, not fatal. The result is the
evaluation's predictions table (``name``, ``source``, ``subset``, ``label_*``, ``score_*``, ``output_*``)
plus ``labelled`` (whether the header gave a diagnosis; labels are all 0 when not) and ``predicted`` (the
classes output, most probable first), so that challenge output files can be written from it.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from leadattn.cli import Command, registrar
from leadattn.data import RecordError, manifest_data_dir, read_manifest, read_record
from leadattn.data.manifest import find_headers
from leadattn.evaluation.challenge_format import export_outputs
from leadattn.evaluation.predictions import predictions_frame, subset_name
from leadattn.inference import LeadsSpec, Predictor, add_predictor_arguments, predictor_options
from leadattn.labels import ABBREVIATIONS


def find_records(inputs: Sequence[str | Path]) -> list[Path]:
    """Record stems named by ``inputs``: records, folders of records, or manifest CSVs."""
    found: list[Path] = []
    for item in map(Path, inputs):
        if item.suffix.lower() == ".csv":
            frame = read_manifest(item)
            root = manifest_data_dir(item)
            found += [root / p for p in frame["path"]]
        elif item.is_dir():
            headers = find_headers(item)
            if not headers:
                raise FileNotFoundError(f"no record headers (.hea) under {item}")
            found += [h.with_suffix("") for h in headers]
        elif item.with_suffix(".hea").is_file():
            found.append(item.with_suffix(""))
        else:
            raise FileNotFoundError(f"{item} is neither a record, a folder of records nor a manifest")
    return list(dict.fromkeys(found))


def predict_records(
    predictor: Predictor,
    records: Sequence[str | Path],
    leads: LeadsSpec = None,
    progress: bool = True,
) -> tuple[pd.DataFrame, list[dict]]:
    """The predictions table of ``records`` under one lead subset (None: every lead each record has),
    and the records skipped (name, kind, message)."""
    rows, skipped = [], []
    for path in tqdm(records, desc="predict", unit="rec", disable=not progress):
        try:
            record = read_record(path)
            prediction = predictor.predict(record, leads)
        except RecordError as error:
            skipped.append({"name": error.record, "kind": error.kind, "message": str(error)})
            continue
        rows.append((record, prediction))
    if not rows:
        return pd.DataFrame(), skipped
    frame = predictions_frame(
        names=[r.name for r, _ in rows],
        sources=[r.source for r, _ in rows],
        subsets=[subset_name(p.leads) for _, p in rows],  # the leads each record was scored with
        labels=np.stack([r.labels for r, _ in rows]),
        scores=np.stack([p.probabilities for _, p in rows]),
        outputs=np.stack([p.outputs for _, p in rows]),
    )
    frame.insert(3, "labelled", [r.labelled for r, _ in rows])
    frame.insert(4, "predicted", [",".join(p.classes) for _, p in rows])
    return frame, skipped


DESCRIPTION = (
    "Classify records with a checkpoint: one CSV row of probabilities and decisions per record, "
    "optionally the challenge's output files. Records without a diagnosis are fine."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``predict``."""
    parser.add_argument("checkpoint", type=Path, help="checkpoint written by training (best.pt)")
    parser.add_argument("inputs", nargs="+", type=Path, help="records, folders of records or manifest CSVs")
    parser.add_argument("--out", type=Path, required=True, help="CSV file to write the predictions to")
    parser.add_argument(
        "--leads",
        default=None,
        help="lead subset: a size (12, 6, 4, 3, 2) or names such as I,II (default: all)",
    )
    parser.add_argument(
        "--challenge-outputs", type=Path, help="also write one challenge output file per record here"
    )
    add_predictor_arguments(parser)
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    if args.out.is_dir():
        raise ValueError(f"--out {args.out} is a folder: name the CSV file to write")
    leads = int(args.leads) if args.leads and args.leads.isdigit() else args.leads
    predictor = Predictor.from_checkpoint(args.checkpoint, **predictor_options(args))
    records = find_records(args.inputs)
    frame, skipped = predict_records(predictor, records, leads, progress=not args.quiet)
    for item in skipped:
        print(f"skipped {item['message']}", file=sys.stderr)
    if frame.empty:
        raise ValueError(f"none of the {len(records)} records could be read")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(args.out, index=False)
    if args.challenge_outputs is not None:
        export_outputs(frame, args.challenge_outputs)
    positive = frame["predicted"].str.len().gt(0).sum()
    print(
        f"{len(frame)} records classified ({len(skipped)} skipped), {positive} with at least one class "
        f"of {len(ABBREVIATIONS)}; predictions: {args.out}"
    )
    return 0


register = registrar(
    Command(
        "predict", "classify records (labelled or not) with a trained model", DESCRIPTION, add_arguments, run
    )
)
