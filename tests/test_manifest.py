import subprocess
import sys
from collections import Counter

import numpy as np
from records_factory import ecg_like, write_record

from leadattn import labels
from leadattn.data import fold_of, manifest_data_dir, manifest_labels, prepare, read_manifest, select_folds

SHARED_LABEL_COUNTS = {
    "STach": 23,
    "PAC": 20,
    "NSR": 15,
    "TAb": 10,
    "NSIVCB": 9,
    "SB": 7,
    "TInv": 5,
    "PVC": 5,
    "LQT": 2,
    "RBBB": 2,
    "IRBBB": 1,
    "SA": 1,
    "PRWP": 1,
}


def test_prepare_shared_records(shared_records_dir, tmp_path):
    result = prepare(shared_records_dir, tmp_path / "m.csv", workers=2)
    frame = read_manifest(tmp_path / "m.csv")
    assert len(frame) == 50 and result.errors.empty
    assert Counter(frame["source"]) == {"Georgia": 20, "PTB-XL": 10, "Ningbo": 20}
    counts = dict(zip(labels.ABBREVIATIONS, manifest_labels(frame).sum(axis=0).tolist()))
    assert {k: v for k, v in counts.items() if v} == SHARED_LABEL_COUNTS
    assert frame["fold"].between(0, 9).all() and (frame["duration"] == 10.0).all()
    assert manifest_data_dir(tmp_path / "m.csv") == shared_records_dir.resolve()
    assert "LAE" in frame.set_index("name").loc["E07500", "unscored"]


def test_committed_sample_manifest_is_current(shared_records_dir, sample_manifest):
    committed = read_manifest(sample_manifest)
    fresh = prepare(shared_records_dir).manifest
    assert committed.drop(columns="age").equals(
        fresh.drop(columns="age").astype(committed.dtypes.drop("age"))
    )
    assert manifest_data_dir(sample_manifest) == shared_records_dir.resolve()


def test_folds_depend_on_the_name_only(shared_records_dir, tmp_path):
    subset = tmp_path / "subset" / "g1"
    subset.mkdir(parents=True)
    for hea in sorted(shared_records_dir.glob("JS*.hea"))[:7]:
        for suffix in (".hea", ".mat"):
            (subset / (hea.stem + suffix)).symlink_to(hea.with_suffix(suffix))
    small = prepare(tmp_path / "subset", workers=1).manifest.set_index("name")["fold"]
    full = prepare(shared_records_dir, workers=2).manifest.set_index("name")["fold"]
    assert (full.loc[small.index] == small).all()


def test_folds_are_balanced():
    counts = np.bincount([fold_of(f"JS{i:05d}") for i in range(20000)], minlength=10)
    assert counts.min() > 1850 and counts.max() < 2150


def test_bad_records_are_skipped_counted_and_listed(shared_records_dir, tmp_path):
    data = tmp_path / "data"
    write_record(data, "A0001", ecg_like())
    write_record(data, "A0002", ecg_like()).with_suffix(".mat").unlink()
    bad = write_record(data, "A0003", ecg_like())
    bad.write_text(bad.read_text().replace(" V4\n", " X9\n"))
    result = prepare(data, tmp_path / "m.csv", workers=1)
    assert result.manifest["name"].tolist() == ["A0001"]
    assert result.error_counts == {"missing_file": 1, "unknown_lead": 1}
    listed = read_manifest(tmp_path / "m.csv").name.tolist(), (tmp_path / "m.csv.errors.csv").read_text()
    assert listed[0] == ["A0001"] and "A0003: unknown lead name 'X9'" in listed[1]


def test_prepare_cli_exit_codes(tmp_path):
    write_record(tmp_path / "ok", "A0001", ecg_like())
    run = [sys.executable, "-m", "leadattn.cli", "prepare"]
    good = subprocess.run(
        [*run, str(tmp_path / "ok"), "--out", str(tmp_path / "m.csv")], capture_output=True, text=True
    )
    assert good.returncode == 0 and "1 records" in good.stdout
    (tmp_path / "none").mkdir()
    empty = subprocess.run(
        [*run, str(tmp_path / "none"), "--out", str(tmp_path / "n.csv")], capture_output=True, text=True
    )
    assert empty.returncode == 1 and "no readable record" in empty.stderr


def test_select_folds(sample_manifest):
    frame = read_manifest(sample_manifest)
    chosen = select_folds(frame, [0, 1])
    assert set(chosen["fold"]) <= {0, 1} and len(chosen) == int(frame["fold"].isin([0, 1]).sum())
