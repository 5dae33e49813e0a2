"""Manifests: one row per readable record of a data directory, with labels, source and a fold 0..9.

Folds come from a hash of the record name alone, so they do not depend on scan order or on which
other records are present: a record keeps its fold when data is added. Hashing is uniform, so each
fold holds about a tenth of every source and of every label within it.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from leadattn import labels as _labels
from leadattn.data.parallel import progress_map
from leadattn.data.records import RecordError, read_record

NUM_FOLDS = 10
COLUMNS = (
    "name",
    "path",
    "source",
    "fs",
    "samples",
    "duration",
    "leads",
    "age",
    "sex",
    "dx",
    "labels",
    "unscored",
    "fold",
)


def fold_of(name: str) -> int:
    """Deterministic fold 0..9 of a record, from its name only."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big") % NUM_FOLDS


@dataclass(frozen=True)
class ScanResult:
    """Outcome of :func:`prepare`: the manifest and the records that were skipped."""

    manifest: pd.DataFrame
    errors: pd.DataFrame

    @property
    def error_counts(self) -> dict[str, int]:
        return dict(Counter(self.errors["kind"])) if len(self.errors) else {}


def _scan_one(args: tuple[Path, Path]) -> dict:
    hea, root = args
    rel = hea.relative_to(root).with_suffix("")
    try:
        record = read_record(hea)
    except RecordError as error:
        return {
            "error": True,
            "name": error.record,
            "path": str(rel),
            "kind": error.kind,
            "message": str(error),
        }
    unscored = _labels.unscored_codes()
    return {
        "name": record.name,
        "path": str(rel),
        "source": record.source,
        "fs": record.fs,
        "samples": record.signal.shape[1],
        "duration": round(record.signal.shape[1] / record.fs, 3),
        "leads": " ".join(record.leads),
        "age": record.age,
        "sex": record.sex,
        "dx": ",".join(record.dx),
        "labels": ",".join(_labels.decode(record.labels)),
        "unscored": ",".join(unscored.get(c, c) for c in record.dx if c not in _labels.CODE_TO_INDEX),
        "fold": fold_of(record.name),
    }


def find_headers(data_dir: str | Path) -> list[Path]:
    """All ``.hea`` files below ``data_dir``, sorted by path."""
    return sorted(Path(data_dir).rglob("*.hea"))


def prepare(data_dir: str | Path, out: str | Path | None = None, workers: int | None = None) -> ScanResult:
    """Scan ``data_dir`` recursively and build the manifest; unreadable records are skipped and listed.

    With ``out``, writes the manifest CSV, ``<out>.errors.csv`` (one row per skipped record: name,
    path, kind, message) and ``<out>.json`` (the data directory, relative to the manifest, and counts).
    """
    root = Path(data_dir).resolve()
    if not root.is_dir():
        raise FileNotFoundError(f"data directory {data_dir} does not exist")
    headers = find_headers(root)
    rows = list(progress_map(_scan_one, [(h, root) for h in headers], len(headers), "scan", workers))
    good = [r for r in rows if "error" not in r]
    bad = [{k: r[k] for k in ("name", "path", "kind", "message")} for r in rows if "error" in r]
    manifest = pd.DataFrame(good, columns=list(COLUMNS)).sort_values("name", ignore_index=True)
    duplicated = manifest["name"][manifest["name"].duplicated()].tolist()
    if duplicated:
        raise ValueError(f"record names occur twice under {data_dir}: {', '.join(duplicated[:5])}")
    result = ScanResult(manifest, pd.DataFrame(bad, columns=["name", "path", "kind", "message"]))
    if out is not None:
        write_manifest(result, root, out)
    return result


def write_manifest(result: ScanResult, data_dir: Path, out: str | Path) -> None:
    """Write a scan's manifest, its error list and its sidecar JSON."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    result.manifest.to_csv(out, index=False)
    result.errors.to_csv(out.with_name(out.name + ".errors.csv"), index=False)
    sidecar = {
        "data_dir": os.path.relpath(data_dir, out.resolve().parent),
        "records": len(result.manifest),
        "skipped": len(result.errors),
        "skipped_by_kind": result.error_counts,
        "sources": result.manifest["source"].value_counts().to_dict(),
    }
    out.with_name(out.name + ".json").write_text(json.dumps(sidecar, indent=2) + "\n")


def read_manifest(path: str | Path) -> pd.DataFrame:
    """Read a manifest CSV written by :func:`prepare`, checking its columns."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"manifest {path} does not exist")
    frame = pd.read_csv(
        path,
        dtype={
            "name": str,
            "path": str,
            "dx": str,
            "labels": str,
            "unscored": str,
            "sex": str,
            "leads": str,
        },
    )
    missing = [c for c in COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(f"{path} is not a leadattn manifest: missing column(s) {', '.join(missing)}")
    for column in ("dx", "labels", "unscored", "sex"):
        frame[column] = frame[column].fillna("")
    return frame


def manifest_data_dir(path: str | Path) -> Path:
    """The data directory a manifest was prepared from, as recorded in its sidecar JSON."""
    path = Path(path)
    sidecar = path.with_name(path.name + ".json")
    if not sidecar.is_file():
        raise FileNotFoundError(f"{sidecar} not found: pass the data directory explicitly")
    return (path.resolve().parent / json.loads(sidecar.read_text())["data_dir"]).resolve()


def manifest_labels(frame: pd.DataFrame) -> np.ndarray:
    """Boolean label matrix [records, 26] from a manifest's Dx codes."""
    return (
        np.stack([_labels.encode(str(dx).split(",")) for dx in frame["dx"]])
        if len(frame)
        else (np.zeros((0, _labels.NUM_CLASSES), dtype=bool))
    )


def select_folds(frame: pd.DataFrame, folds: int | list[int]) -> pd.DataFrame:
    """Rows of the given fold(s)."""
    folds = [folds] if isinstance(folds, int) else list(folds)
    return frame[frame["fold"].isin(folds)].reset_index(drop=True)
