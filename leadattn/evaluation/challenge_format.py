"""The challenge's own file formats: one output CSV per record, labels in the ``#Dx:`` line of a header.

An output file has the record on line 1 (``#RECORD``), then three comma-separated lines of equal
length: SNOMED CT class codes (an entry may join equivalent codes with ``|``), binary outputs and
scalar scores. Reading merges equivalent codes as the challenge does (binary: any of them; score:
their mean) and gives a class that is not in the file a negative output with score 0. Codes of
unscored diagnoses are accepted and ignored. Where the challenge reads a malformed file as all
negative and a non-numeric or non-finite score as 0, here they are errors naming the file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from leadattn import metrics
from leadattn.evaluation.predictions import prediction_arrays
from leadattn.labels import CODE_TO_INDEX, NUM_CLASSES, encode, scored_classes, unscored_codes

_TRUE = ("1", "true", "t")
_FALSE = ("0", "false", "f")
_DX = re.compile(r"^#\s*Dx\s*:(?P<codes>.*)$", re.IGNORECASE)


def write_outputs(path: str | Path, record: str, scores: np.ndarray, outputs: np.ndarray) -> Path:
    """Write one record's scores [26] and binary outputs [26] as a challenge output file.

    Each class is written under its first SNOMED CT code, which the challenge maps to the class.
    """
    scores = np.asarray(scores, dtype=np.float64)
    outputs = np.asarray(outputs, dtype=bool)
    if scores.shape != (NUM_CLASSES,) or outputs.shape != (NUM_CLASSES,):
        raise ValueError(
            f"{record}: expected {NUM_CLASSES} scores and outputs, got {scores.shape} and {outputs.shape}"
        )
    if not np.isfinite(scores).all():
        raise ValueError(f"{record}: scores contain NaN or infinite values")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [
        f"#{record}",
        ",".join(c.codes[0] for c in scored_classes()),
        ",".join("1" if v else "0" for v in outputs),
        ",".join(repr(float(v)) for v in scores),
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


@dataclass(frozen=True)
class ChallengeOutput:
    """One output file, merged onto the 26 scored classes."""

    record: str | None
    outputs: np.ndarray
    scores: np.ndarray


def _fields(line: str) -> list[str]:
    return [field.strip() for field in line.split(",")]


def read_outputs(path: str | Path) -> ChallengeOutput:
    """Read a challenge output file; raises ``ValueError`` naming the file and the problem."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"output file {path} does not exist")
    lines = [ln.strip() for ln in path.read_text(errors="replace").splitlines() if ln.strip()]
    comments = [ln for ln in lines if ln.startswith("#")]
    body = [ln for ln in lines if not ln.startswith("#")]
    record = (comments[0][1:].strip() or None) if comments else None
    if len(body) != 3:
        raise ValueError(
            f"{path}: expected 3 lines (class codes, binary outputs, scores) after '#RECORD', "
            f"found {len(body)}"
        )
    codes, binary, values = (_fields(ln) for ln in body)
    if not len(codes) == len(binary) == len(values):
        raise ValueError(
            f"{path}: lines have different numbers of fields ({len(codes)} codes, {len(binary)} binary "
            f"outputs, {len(values)} scores)"
        )
    unscored = unscored_codes()
    parts = [entry.split("|") for entry in codes]  # an entry may name equivalent codes: 713427006|59118001
    unknown = [c for entry in parts for c in entry if c not in CODE_TO_INDEX and c not in unscored]
    if unknown:
        raise ValueError(f"{path}: unknown class code(s) {', '.join(unknown[:5])}")
    flags = []
    for token in binary:
        if token.lower() not in _TRUE + _FALSE:
            raise ValueError(f"{path}: binary output {token!r} is not 0/1 or True/False")
        flags.append(token.lower() in _TRUE)
    numbers = []
    for token in values:
        try:
            number = float(token)
        except ValueError:
            raise ValueError(f"{path}: score {token!r} is not a number") from None
        if not np.isfinite(number):
            raise ValueError(f"{path}: score {token!r} is NaN or infinite")
        numbers.append(number)

    outputs = np.zeros(NUM_CLASSES, dtype=bool)
    totals = np.zeros(NUM_CLASSES)
    counts = np.zeros(NUM_CLASSES)
    for entry, flag, number in zip(parts, flags, numbers):
        for index in {CODE_TO_INDEX[c] for c in entry if c in CODE_TO_INDEX}:
            outputs[index] |= flag
            totals[index] += number
            counts[index] += 1
    scores = np.divide(totals, counts, out=np.zeros(NUM_CLASSES), where=counts > 0)
    return ChallengeOutput(record, outputs, scores)


def read_label_file(path: str | Path) -> np.ndarray:
    """Scored labels [26] from the ``#Dx:`` line of a header (equivalent codes merged)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"label file {path} does not exist")
    for line in path.read_text(errors="replace").splitlines():
        match = _DX.match(line.strip())
        if match:
            codes = [c.strip() for c in match["codes"].split(",") if c.strip()]
            bad = [c for c in codes if not c.isdigit()]
            if bad:
                raise ValueError(f"{path}: non-numeric SNOMED CT code(s) in '#Dx:': {', '.join(bad)}")
            return encode(codes)
    raise ValueError(f"{path}: no '#Dx:' line")


@dataclass(frozen=True)
class OutputSet:
    """Labels and merged outputs of the records of a label directory, in record-name order."""

    records: list[str]
    labels: np.ndarray
    outputs: np.ndarray
    scores: np.ndarray


def _by_stem(directory: Path, pattern: str) -> dict[str, Path]:
    found: dict[str, Path] = {}
    for path in sorted(directory.rglob(pattern)):
        if path.name.startswith("."):
            continue
        if path.stem in found:
            raise ValueError(f"record {path.stem} occurs twice under {directory}: {found[path.stem]}, {path}")
        found[path.stem] = path
    return found


def load_output_dir(output_dir: str | Path, label_dir: str | Path) -> OutputSet:
    """Pair every header under ``label_dir`` with ``<record>.csv`` under ``output_dir`` and read both."""
    output_dir, label_dir = Path(output_dir), Path(label_dir)
    for directory, what in ((output_dir, "output"), (label_dir, "label")):
        if not directory.is_dir():
            raise FileNotFoundError(f"{what} directory {directory} does not exist")
    headers = _by_stem(label_dir, "*.hea")
    if not headers:
        raise ValueError(f"no .hea label files under {label_dir}")
    outputs = _by_stem(output_dir, "*.csv")
    missing = [name for name in headers if name not in outputs]
    if missing:
        raise ValueError(
            f"{len(missing)} record(s) of {label_dir} have no output file in {output_dir}, "
            f"for example {', '.join(missing[:5])}"
        )
    records = sorted(headers)
    read = [read_outputs(outputs[name]) for name in records]
    return OutputSet(
        records=records,
        labels=np.stack([read_label_file(headers[name]) for name in records]),
        outputs=np.stack([r.outputs for r in read]),
        scores=np.stack([r.scores for r in read]),
    )


def score_outputs(output_dir: str | Path, label_dir: str | Path) -> dict:
    """Score a directory of challenge output files against the headers of a label directory.

    Returns :func:`leadattn.metrics.score`'s dict plus ``records`` (the number scored).
    """
    loaded = load_output_dir(output_dir, label_dir)
    result = metrics.score(loaded.labels, loaded.scores, loaded.outputs)
    result["records"] = len(loaded.records)
    return result


def export_outputs(predictions: pd.DataFrame, out_dir: str | Path) -> int:
    """Write one challenge output file per row of a predictions table (one lead subset); returns the count."""
    if predictions["name"].duplicated().any():
        raise ValueError("predictions hold a record twice: export one lead subset at a time")
    _, scores, outputs = prediction_arrays(predictions)
    out_dir = Path(out_dir)
    for name, s, o in zip(predictions["name"], scores, outputs):
        write_outputs(out_dir / f"{name}.csv", name, s, o)
    return len(predictions)
