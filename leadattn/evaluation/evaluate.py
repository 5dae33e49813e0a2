"""Evaluate a checkpoint on a split of a manifest: predictions for every lead subset, metrics, report.

Records are read from the data directory (by default the one recorded beside the manifest when it was
prepared), preprocessed as the checkpoint's model was trained but without truncation, and scored whole
with sliding windows under each lead subset, through the same :class:`leadattn.inference.Predictor` that
prediction and explanation use; each subset's decisions use the thresholds tuned for it. A record that
cannot be read is skipped and listed in the report; problems with the checkpoint, the manifest or the
split stop the evaluation with a message naming them.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from leadattn.checkpoint import CheckpointError, LoadedModel, load_model
from leadattn.data import (
    RecordError,
    manifest_data_dir,
    manifest_labels,
    read_manifest,
    read_record,
    select_folds,
)
from leadattn.evaluation.challenge_format import export_outputs
from leadattn.evaluation.predictions import predictions_frame, subset_name
from leadattn.evaluation.report import Report, split_warnings, summarise
from leadattn.inference import Combine, CompileMode, Predictor, subset_key
from leadattn.labels import ABBREVIATIONS, CLASS_KEYS, NUM_CLASSES, class_index
from leadattn.leads import LEAD_SUBSETS, lead_mask, resolve_leads
from leadattn.thresholds import apply_thresholds, threshold_table

DEFAULT_SUBSETS: tuple[int, ...] = tuple(LEAD_SUBSETS)
"""The challenge's lead subsets: 12, 6, 4, 3 and 2 leads; the first is the headline."""


def read_thresholds(path: str | Path) -> np.ndarray:
    """Thresholds [26] from a file.

    Accepted: JSON holding a list of 26 numbers, a mapping from class (abbreviation or SNOMED CT
    code) to threshold, or either under the key ``thresholds`` (so a ``report.json`` works); or CSV
    with columns ``class`` and ``threshold``.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"thresholds file {path} does not exist")
    try:
        if path.suffix.lower() == ".csv":
            with path.open(newline="") as f:
                content = {row["class"]: row["threshold"] for row in csv.DictReader(f)}
        else:
            content = json.loads(path.read_text())
    except (KeyError, json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ValueError(f"{path}: not a thresholds file ({error})") from None
    if isinstance(content, dict) and "thresholds" in content:
        content = content["thresholds"]
    if isinstance(content, dict):
        values = np.full(NUM_CLASSES, np.nan)
        for name, value in content.items():
            try:
                values[class_index(str(name))] = float(value)
            except KeyError as error:
                raise ValueError(f"{path}: {error.args[0]}") from None
            except (TypeError, ValueError):
                raise ValueError(f"{path}: threshold of {name} is not a number: {value!r}") from None
        missing = [ABBREVIATIONS[k] for k in np.flatnonzero(np.isnan(values))]
        if missing:
            raise ValueError(f"{path}: no threshold for {', '.join(missing)}")
        return values
    if isinstance(content, list):
        if len(content) != NUM_CLASSES:
            raise ValueError(f"{path}: {len(content)} thresholds, expected {NUM_CLASSES}")
        try:
            values = np.array([float(v) for v in content])
        except (TypeError, ValueError):
            raise ValueError(f"{path}: thresholds must be numbers") from None
        if np.isnan(values).any():
            raise ValueError(f"{path}: thresholds contain NaN")
        return values
    raise ValueError(f"{path}: expected a list of {NUM_CLASSES} thresholds or a mapping class -> threshold")


def read_record_names(path: str | Path) -> list[str]:
    """Record names from a text file: one per line (or comma-separated); blank lines and ``#`` ignored."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"record list {path} does not exist")
    names = []
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0]
        names += [n.strip() for n in line.split(",") if n.strip()]
    return names


def select_split(
    frame: pd.DataFrame, folds: int | Sequence[int] | None = None, records: Sequence[str] | None = None
) -> tuple[pd.DataFrame, str]:
    """Rows of the split and a description of it: given folds, given record names, or everything."""
    if folds is not None and records is not None:
        raise ValueError("choose the split by folds or by record names, not both")
    if folds is not None:
        folds = [folds] if isinstance(folds, int) else [int(f) for f in folds]
        chosen = select_folds(frame, folds)
        description = f"fold{'s' if len(folds) > 1 else ''} {', '.join(map(str, folds))}"
    elif records is not None:
        wanted = list(dict.fromkeys(records))
        unknown = sorted(set(wanted) - set(frame["name"]))
        if unknown:
            raise ValueError(
                f"{len(unknown)} requested record(s) are not in the manifest, e.g. {', '.join(unknown[:5])}"
            )
        chosen = frame.set_index("name").loc[wanted].reset_index()
        description = f"{len(wanted)} named records"
    else:
        chosen, description = frame, "all records of the manifest"
    if chosen.empty:
        raise ValueError(f"the split ({description}) selects no records")
    return chosen.reset_index(drop=True), description


def check_checkpoint(loaded: LoadedModel, source: str = "checkpoint") -> None:
    """Refuse a model whose classes, thresholds or preprocessing do not fit this evaluation."""
    if tuple(loaded.classes) != CLASS_KEYS:
        raise CheckpointError(f"{source} predicts other classes than the {NUM_CLASSES} challenge classes")
    config = getattr(loaded.model, "config", None)
    outputs = getattr(config, "num_classes", NUM_CLASSES)
    if outputs != NUM_CLASSES:
        raise CheckpointError(f"{source} has {outputs} outputs, expected {NUM_CLASSES}")
    pre = loaded.preprocess
    if not (math.isfinite(pre.fs) and pre.fs > 0):
        raise CheckpointError(f"{source} preprocessing has an invalid sampling rate {pre.fs}")
    if pre.bandpass is not None and not 0 <= pre.bandpass[0] < pre.bandpass[1]:
        raise CheckpointError(f"{source} preprocessing has an invalid band-pass {pre.bandpass}")


def check_manifest_classes(frame: pd.DataFrame, source: str) -> None:
    """Refuse a manifest whose label column was written for other classes than the Dx codes give."""
    known = set(ABBREVIATIONS)
    written = [set(filter(None, str(text).split(","))) for text in frame["labels"]]
    unknown = sorted(set().union(*written) - known) if written else []
    if unknown:
        raise ValueError(f"manifest {source} uses class(es) unknown to this model: {', '.join(unknown[:5])}")
    derived = manifest_labels(frame)
    for row, (names, vector) in enumerate(zip(written, derived)):
        if names != {ABBREVIATIONS[k] for k in np.flatnonzero(vector)}:
            raise ValueError(
                f"manifest {source} was prepared with other class definitions: record "
                f"{frame['name'].iloc[row]} lists {sorted(names)} but its Dx codes give "
                f"{sorted(ABBREVIATIONS[k] for k in np.flatnonzero(vector))}"
            )


def evaluate(
    checkpoint: str | Path | LoadedModel,
    manifest: str | Path,
    data_dir: str | Path | None = None,
    out_dir: str | Path | None = None,
    folds: int | Sequence[int] | None = None,
    records: Sequence[str] | str | Path | None = None,
    leads: Sequence[int | str | Sequence[str]] = DEFAULT_SUBSETS,
    thresholds: str | Path | np.ndarray | None = None,
    bootstrap: int = 1000,
    seed: int = 0,
    window_seconds: float | None = None,
    hop_seconds: float | None = None,
    combine: Combine = "mean",
    batch_size: int = 32,
    device: str = "auto",
    challenge_outputs: bool = False,
    progress: bool = True,
    compile: CompileMode = False,
) -> Report:
    """Evaluate ``checkpoint`` on a split of ``manifest`` and, with ``out_dir``, write the report
    there.

    ``records`` is a list of record names or a file of them; ``leads`` lists the lead subsets (sizes
    or lead names), the first being the headline; ``thresholds`` (a file or 26 values) replaces the
    checkpoint's per-subset thresholds for every subset; ``window_seconds`` defaults to the
    checkpoint's validation window and ``hop_seconds`` to half the window. With
    ``challenge_outputs``, one challenge output file per record is also written for each subset
    under ``out_dir/challenge_outputs/<subset>/``.
    """
    if bootstrap < 0:
        raise ValueError(f"bootstrap must be 0 or more resamples, got {bootstrap}")
    if not leads:
        raise ValueError("no lead subsets to evaluate")
    subsets = [resolve_leads(s) for s in leads]
    names = [subset_name(s) for s in subsets]
    if len(set(names)) != len(names):
        raise ValueError(f"lead subsets repeat: {', '.join(names)}")

    if isinstance(checkpoint, LoadedModel):
        loaded, checkpoint_text = checkpoint, "model given in memory"
    else:
        loaded, checkpoint_text = load_model(checkpoint), str(checkpoint)
    check_checkpoint(loaded, checkpoint_text)
    options = {"window_seconds": window_seconds} if window_seconds is not None else {}
    predictor = Predictor.from_checkpoint(
        loaded,
        device,
        hop_seconds=hop_seconds,
        combine=combine,
        batch_size=batch_size,
        compile=compile,
        **options,
    )
    if out_dir is not None and Path(out_dir).exists() and not Path(out_dir).is_dir():
        raise ValueError(f"--out {out_dir} is a file: name a folder for the report")

    frame = read_manifest(manifest)
    data_dir = Path(data_dir) if data_dir is not None else manifest_data_dir(manifest)
    if not data_dir.is_dir():
        raise FileNotFoundError(f"data directory {data_dir} does not exist")
    if isinstance(records, (str, Path)):
        records = read_record_names(records)
    chosen, split = select_split(frame, folds, records)
    unlabelled = int((~chosen["labelled"]).sum())
    chosen = chosen[chosen["labelled"]].reset_index(drop=True)
    if chosen.empty:
        raise ValueError(f"the split ({split}) has only unlabelled records: `leadattn predict` scores them")
    check_manifest_classes(chosen, str(manifest))

    if thresholds is None:
        table, threshold_text = (
            predictor.thresholds,
            "tuned per lead subset during training (from the checkpoint)",
        )
    elif isinstance(thresholds, (str, Path)):
        table, threshold_text = threshold_table(read_thresholds(thresholds)), f"from `{thresholds}`"
    else:
        values = np.asarray(thresholds, dtype=np.float64)
        if values.shape != (NUM_CLASSES,):
            raise ValueError(f"thresholds have shape {values.shape}, expected ({NUM_CLASSES},)")
        table, threshold_text = threshold_table(values), "given by the caller"
    subset_thresholds = {name: table[subset_key(lead_mask(s))] for name, s in zip(names, subsets)}
    fallback = list(loaded.payload.get("threshold_fallback", [])) if thresholds is None else []

    rows, skipped = [], []
    items = chosen.itertuples(index=False)
    for row in tqdm(items, total=len(chosen), desc="evaluate", unit="rec", disable=not progress):
        try:
            record = read_record(data_dir / row.path)
            probabilities = predictor.probabilities([record], subsets)[0]
        except RecordError as error:
            skipped.append({"name": str(row.name), "kind": error.kind, "message": str(error)})
            continue
        rows.append((str(row.name), str(row.source), record.labels, probabilities))
    if not rows:
        first = f"; first problem: {skipped[0]['message']}" if skipped else ""
        raise ValueError(f"none of the {len(chosen)} records of the split could be scored{first}")

    table = []
    for index, name in enumerate(names):
        scores = np.stack([r[3][index] for r in rows])
        table.append(
            predictions_frame(
                names=[r[0] for r in rows],
                sources=[r[1] for r in rows],
                subsets=[name] * len(rows),
                labels=np.stack([r[2] for r in rows]),
                scores=scores,
                outputs=apply_thresholds(scores, subset_thresholds[name]),
            )
        )
    predictions = pd.concat(table, ignore_index=True)
    info = {
        "checkpoint": checkpoint_text,
        "manifest": str(manifest),
        "data_dir": str(data_dir),
        "split": split,
        "records_requested": len(chosen) + unlabelled,
        "unlabelled_left_out": unlabelled,
        "lead_subsets": names,
        "thresholds_source": threshold_text,
        "window_seconds": predictor.window_seconds,
        "hop_seconds": predictor.hop_seconds,
        "combine": combine,
        "threshold_fallback": fallback,
        "warnings": split_warnings(np.stack([r[2] for r in rows])),
        "bootstrap": bootstrap,
        "confidence": 0.95,
        "seed": seed,
    }
    report = Report(info, subset_thresholds, predictions, summarise(predictions, bootstrap, seed), skipped)
    if out_dir is not None:
        report.write(out_dir)
        if challenge_outputs:
            for name in names:
                folder = Path(out_dir) / "challenge_outputs" / name.replace(" ", "-")
                export_outputs(predictions[predictions["subset"] == name], folder)
    return report
