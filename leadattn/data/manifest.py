"""Manifests: one row per readable record of a data directory, with labels, source and a fold 0..9.

Records that must not be split between folds form a group: copies of one signal (the same decoded
samples, leads and rate under different names; the challenge data holds some) and, when a record ->
patient table is given, a patient's records. Groups are the connected sets of these links. A group's
key is ``patient:<id>`` (the smallest patient id in it) when it has a patient, else its first record
name, so a record that links to nothing is its own group, keyed by its name.

Folds come from a hash of the group key alone, so they do not depend on scan order or on which other
records are present: a record keeps its fold when data is added (unless a new copy or patient link
joins it to a group). Hashing is uniform, so each fold holds about a tenth of every source and of
every label within it.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from leadattn import labels as _labels
from leadattn.data.parallel import progress_map
from leadattn.data.records import RecordError, flat_leads, read_record

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
    "labelled",
    "labels",
    "unscored",
    "flat",
    "group",
    "fold",
)
_ADDED_COLUMNS = ("flat", "group", "labelled")  # manifests written before these read with defaults


def fold_of(key: str) -> int:
    """Deterministic fold 0..9 of a group key (for a record in no group, its name)."""
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big") % NUM_FOLDS


@dataclass(frozen=True)
class ScanResult:
    """Outcome of :func:`prepare`: the manifest, the records that were skipped, the copies of one signal
    (``duplicates``: digest, name, path, fold; one row per record that has a copy) and the patient table's
    loose ends (``unmatched``: record, problem ``not_in_folder`` or ``not_in_table``; empty without a
    table)."""

    manifest: pd.DataFrame
    errors: pd.DataFrame
    duplicates: pd.DataFrame
    unmatched: pd.DataFrame

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
    digest = hashlib.sha256(f"{record.fs}|{' '.join(record.leads)}|".encode())
    digest.update(np.ascontiguousarray(record.signal).tobytes())
    return {
        "digest": digest.hexdigest()[:20],
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
        "labelled": record.labelled,
        "labels": ",".join(_labels.decode(record.labels)),
        "unscored": ",".join(unscored.get(c, c) for c in record.dx if c not in _labels.CODE_TO_INDEX),
        "flat": " ".join(lead for lead, flat in zip(record.leads, flat_leads(record.signal)) if flat),
    }


def find_headers(data_dir: str | Path) -> list[Path]:
    """All ``.hea`` files below ``data_dir``, sorted by path."""
    return sorted(Path(data_dir).rglob("*.hea"))


def read_patients(
    path: str | Path, record_column: str = "record", patient_column: str = "patient"
) -> pd.DataFrame:
    """A record -> patient table (CSV) as columns ``record`` and ``patient`` (strings, blank rows dropped).

    Raises ``ValueError`` naming the file and its columns when a named column is missing.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"patient table {path} does not exist")
    table = pd.read_csv(path, dtype=str, keep_default_na=False)
    missing = [c for c in (record_column, patient_column) if c not in table.columns]
    if missing:
        raise ValueError(
            f"patient table {path} has no column {', '.join(repr(c) for c in missing)} "
            f"(its columns: {', '.join(table.columns)}); "
            "choose them with --record-column/--patient-column (read_patients(path, record_column, "
            "patient_column) in Python)"
        )
    table = table[[record_column, patient_column]].set_axis(["record", "patient"], axis=1)
    table = table.apply(lambda column: column.str.strip())
    return table[(table["record"] != "") & (table["patient"] != "")].drop_duplicates(ignore_index=True)


def _groups(names: list[str], digests: list[str], patients: pd.DataFrame | None) -> list[str]:
    """Group key of every record: connected sets of shared digests and shared patients (union-find)."""
    parent = list(range(len(names)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    def link(members: list[int]) -> None:
        for other in members[1:]:
            parent[root(other)] = root(members[0])

    position = {name: i for i, name in enumerate(names)}
    by_digest: dict[str, list[int]] = {}
    for i, digest in enumerate(digests):
        by_digest.setdefault(digest, []).append(i)
    for members in by_digest.values():
        link(members)
    patient_of: dict[int, list[str]] = {}
    if patients is not None:
        known = patients[patients["record"].isin(position)]
        for patient, records in known.groupby("patient")["record"]:
            members = [position[r] for r in records]
            link(members)
            for i in members:
                patient_of.setdefault(i, []).append(patient)
    members: dict[int, list[int]] = {}
    for i in range(len(names)):
        members.setdefault(root(i), []).append(i)
    key_of: dict[int, str] = {}
    for r, group in members.items():
        ids = [patient for i in group for patient in patient_of.get(i, [])]
        key_of[r] = f"patient:{min(ids)}" if ids else min(names[i] for i in group)
    return [key_of[root(i)] for i in range(len(names))]


def prepare(
    data_dir: str | Path,
    out: str | Path | None = None,
    workers: int | None = None,
    patients: str | Path | pd.DataFrame | None = None,
) -> ScanResult:
    """Scan ``data_dir`` recursively and build the manifest; unreadable records are skipped and listed.

    ``patients`` is a record -> patient table: a frame from :func:`read_patients` (which reads a CSV
    with any column names), or the path of a CSV with columns ``record`` and ``patient``. A patient's
    records share a fold. Copies of one signal always share a fold. Table rows naming records that are
    not in the folder are counted and listed, not an error; records missing from the table are their
    own group.

    With ``out``, writes the manifest CSV, ``<out>.errors.csv`` (one row per skipped record: name,
    path, kind, message), ``<out>.duplicates.csv`` (the copies of one signal), ``<out>.unmatched.csv``
    (the patient table's loose ends, with a table) and ``<out>.json`` (the data directory, relative to
    the manifest, and counts).
    """
    root = Path(data_dir).resolve()
    if not root.is_dir():
        raise FileNotFoundError(f"data directory {data_dir} does not exist")
    if patients is not None and not isinstance(patients, pd.DataFrame):
        patients = read_patients(patients)
    headers = find_headers(root)
    if not headers:
        raise FileNotFoundError(f"no record headers (.hea) under {data_dir}")
    rows = list(progress_map(_scan_one, [(h, root) for h in headers], len(headers), "scan", workers))
    good = [r for r in rows if "error" not in r]
    bad = [{k: r[k] for k in ("name", "path", "kind", "message")} for r in rows if "error" in r]
    scanned = pd.DataFrame(good, columns=[*COLUMNS[:-2], "digest"]).sort_values("name", ignore_index=True)
    duplicated = scanned["name"][scanned["name"].duplicated()].tolist()
    if duplicated:
        raise ValueError(f"record names occur twice under {data_dir}: {', '.join(duplicated[:5])}")
    scanned["group"] = _groups(scanned["name"].tolist(), scanned["digest"].tolist(), patients)
    scanned["fold"] = [fold_of(key) for key in scanned["group"]]
    copies = scanned[scanned["digest"].duplicated(keep=False)]
    duplicates = copies[["digest", "name", "path", "fold"]].sort_values(["digest", "name"], ignore_index=True)
    unmatched = pd.DataFrame(columns=["record", "problem"])
    if patients is not None:
        names = set(scanned["name"])
        unmatched = pd.concat(
            [
                pd.DataFrame({"record": sorted(set(patients["record"]) - names), "problem": "not_in_folder"}),
                pd.DataFrame({"record": sorted(names - set(patients["record"])), "problem": "not_in_table"}),
            ],
            ignore_index=True,
        )
    errors = pd.DataFrame(bad, columns=["name", "path", "kind", "message"])
    result = ScanResult(scanned[list(COLUMNS)], errors, duplicates, unmatched)
    if out is not None:
        write_manifest(result, root, out)
    return result


def write_manifest(result: ScanResult, data_dir: Path, out: str | Path) -> None:
    """Write a scan's manifest, its error list and its sidecar JSON."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    result.manifest.to_csv(out, index=False)
    result.errors.to_csv(out.with_name(out.name + ".errors.csv"), index=False)
    result.duplicates.to_csv(out.with_name(out.name + ".duplicates.csv"), index=False)
    unmatched = out.with_name(out.name + ".unmatched.csv")
    if len(result.unmatched):
        result.unmatched.to_csv(unmatched, index=False)
    else:
        unmatched.unlink(missing_ok=True)
    problems = Counter(result.unmatched["problem"])
    sidecar = {
        "data_dir": os.path.relpath(data_dir, out.resolve().parent),
        "records": len(result.manifest),
        "skipped": len(result.errors),
        "skipped_by_kind": result.error_counts,
        "sources": result.manifest["source"].value_counts().to_dict(),
        "duplicate_signals": int(result.duplicates["digest"].nunique()),
        "records_with_a_copy": len(result.duplicates),
        "groups": int(result.manifest["group"].nunique()),
        "patient_table_records_not_in_folder": problems["not_in_folder"],
        "records_not_in_patient_table": problems["not_in_table"],
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
            "flat": str,
            "group": str,
        },
    )
    missing = [c for c in COLUMNS if c not in frame.columns and c not in _ADDED_COLUMNS]
    if missing:
        raise ValueError(f"{path} is not a leadattn manifest: missing column(s) {', '.join(missing)}")
    if "flat" not in frame.columns:
        frame.insert(list(COLUMNS).index("flat"), "flat", "")
    if "group" not in frame.columns:
        frame.insert(list(COLUMNS).index("group"), "group", frame["name"])
    if "labelled" not in frame.columns:
        frame.insert(list(COLUMNS).index("labelled"), "labelled", True)
    frame["labelled"] = frame["labelled"].astype(bool)
    for column in ("dx", "labels", "unscored", "sex", "flat"):
        frame[column] = frame[column].fillna("")
    return frame


def manifest_data_dir(path: str | Path) -> Path:
    """The data directory a manifest was prepared from, as recorded in its sidecar JSON."""
    path = Path(path)
    sidecar = path.with_name(path.name + ".json")
    if not sidecar.is_file():
        raise FileNotFoundError(
            f"manifest {path} has no sidecar {sidecar.name} recording its data folder: "
            "pass the data folder (--data-dir)"
        )
    return (path.resolve().parent / json.loads(sidecar.read_text())["data_dir"]).resolve()


def manifest_labels(frame: pd.DataFrame) -> np.ndarray:
    """Boolean label matrix [records, 26] from a manifest's Dx codes."""
    return (
        np.stack([_labels.encode(str(dx).split(",")) for dx in frame["dx"]])
        if len(frame)
        else (np.zeros((0, _labels.NUM_CLASSES), dtype=bool))
    )


def select_folds(frame: pd.DataFrame, folds: int | Iterable[int], exclude: bool = False) -> pd.DataFrame:
    """Rows of the given fold(s), or with ``exclude`` the rows of every other fold; the one place
    records are chosen by fold."""
    folds = [folds] if isinstance(folds, int) else [int(f) for f in folds]
    bad = [f for f in folds if not 0 <= f < NUM_FOLDS]
    if bad:
        raise ValueError(f"fold(s) {bad} do not exist; folds are 0..{NUM_FOLDS - 1}")
    return frame[frame["fold"].isin(folds) != exclude].reset_index(drop=True)
