import json
import shutil
import subprocess
import sys
from collections import Counter

import numpy as np
import pandas as pd
import pytest
from records_factory import ecg_like, write_record
from tests_paths import TEST_PTBXL

from leadattn import labels
from leadattn.data import fold_of, manifest_data_dir, manifest_labels, prepare, read_manifest, select_folds
from leadattn.data.manifest import read_patients

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
    by_name = frame.set_index("name")
    assert by_name.loc["E07510", "group"] == "E07509" and by_name.loc["E07510", "fold"] == fold_of("E07509")
    assert by_name.loc["JS20008", "flat"] == "V2 V4 V6"
    assert json.loads((tmp_path / "m.csv.json").read_text())["records_with_a_copy"] == 2


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


def test_copies_of_one_signal_share_a_fold_and_are_listed(records_dir, tmp_path):
    result = prepare(records_dir, tmp_path / "m.csv", workers=1)
    frame = read_manifest(tmp_path / "m.csv").set_index("name")
    assert frame.loc["E07509", "fold"] == frame.loc["E07510", "fold"] == fold_of("E07509")
    assert frame.loc["E07500", "group"] == "E07500" and frame.loc["E07500", "fold"] == fold_of("E07500")
    assert frame.loc["JS20004", "flat"] == "V2 V4 V6" and frame.loc["E07500", "flat"] == ""
    listed = pd.read_csv(tmp_path / "m.csv.duplicates.csv")
    assert listed["name"].tolist() == ["E07509", "E07510"] and listed["digest"].nunique() == 1
    assert result.duplicates["name"].tolist() == ["E07509", "E07510"]
    sidecar = json.loads((tmp_path / "m.csv.json").read_text())
    assert sidecar["duplicate_signals"] == 1 and sidecar["records_with_a_copy"] == 2
    assert sidecar["groups"] == len(frame) - 1


def test_copies_are_found_whatever_their_gain(tmp_path):
    signal = np.round(ecg_like(), 3)
    write_record(tmp_path, "A0001", signal, gain=1000.0)
    write_record(tmp_path, "A0002", signal, gain=1000.0)
    write_record(tmp_path, "A0003", signal + 0.001)
    result = prepare(tmp_path, workers=1)
    assert result.duplicates["name"].tolist() == ["A0001", "A0002"]


def test_a_patients_records_share_a_fold(tmp_path):
    result = prepare(
        TEST_PTBXL,
        tmp_path / "p.csv",
        workers=1,
        patients=read_patients(TEST_PTBXL / "ORIGIN.csv", patient_column="patient_id"),
    )
    frame = result.manifest.set_index("name")
    assert frame.loc["HR00242", "group"] == frame.loc["HR02251", "group"] == "patient:16654"
    assert frame.loc["HR03226", "fold"] == frame.loc["HR03267", "fold"] == fold_of("patient:309")
    assert frame.loc["HR00024", "group"] == "patient:9012" and result.unmatched.empty
    assert not (tmp_path / "p.csv.unmatched.csv").exists()


def test_patient_table_loose_ends_are_counted_not_fatal(tmp_path):
    data = tmp_path / "data"
    shutil.copytree(TEST_PTBXL, data)
    shutil.copy(data / "HR00024.hea", data / "HR09999.hea")  # HR09999: a copy of HR00024, not in the table
    shutil.copy(data / "HR00024.mat", data / "HR09999.mat")
    table = pd.DataFrame(
        {"ecg": ["HR00024", "HR00242", "HR02251", "HR00242", "HR70000"], "who": ["7", "8", "8", "9", "10"]}
    )
    table.to_csv(tmp_path / "t.csv", index=False)
    result = prepare(
        data,
        tmp_path / "m.csv",
        workers=1,
        patients=read_patients(tmp_path / "t.csv", record_column="ecg", patient_column="who"),
    )
    frame = result.manifest.set_index("name")
    assert (
        frame.loc["HR09999", "group"] == frame.loc["HR00024", "group"] == "patient:7"
    )  # copy joins the patient
    assert (
        frame.loc["HR00242", "group"] == frame.loc["HR02251", "group"] == "patient:8"
    )  # patients 8 and 9 joined
    assert frame.loc["HR03226", "group"] == "HR03226" and frame.loc["HR03226", "fold"] == fold_of("HR03226")
    problems = result.unmatched.groupby("problem")["record"].apply(list).to_dict()
    assert problems == {"not_in_folder": ["HR70000"], "not_in_table": ["HR03226", "HR03267", "HR09999"]}
    sidecar = json.loads((tmp_path / "m.csv.json").read_text())
    assert (
        sidecar["patient_table_records_not_in_folder"] == 1 and sidecar["records_not_in_patient_table"] == 3
    )
    assert (tmp_path / "m.csv.unmatched.csv").read_text().count("not_in_table") == 3


def test_patient_table_without_the_named_columns_is_a_clear_error(tmp_path):
    with pytest.raises(
        ValueError, match=r"ORIGIN.csv has no column 'patient' \(its columns: record, ecg_id, patient_id"
    ):
        prepare(TEST_PTBXL, workers=1, patients=TEST_PTBXL / "ORIGIN.csv")
    run = [sys.executable, "-m", "leadattn.cli", "prepare", str(TEST_PTBXL), "--out", str(tmp_path / "m.csv")]
    bad = subprocess.run([*run, "--patients", str(TEST_PTBXL / "ORIGIN.csv")], capture_output=True, text=True)
    assert bad.returncode == 2 and "--patient-column" in bad.stderr
    good = subprocess.run(
        [
            *run,
            "--patients",
            str(TEST_PTBXL / "ORIGIN.csv"),
            "--patient-column",
            "patient_id",
            "--workers",
            "1",
        ],
        capture_output=True,
        text=True,
    )
    assert good.returncode == 0 and "5 records in 3 fold groups" in good.stdout


def test_manifests_written_before_groups_still_read(records_dir, tmp_path):
    prepare(records_dir, tmp_path / "m.csv", workers=1)
    frame = pd.read_csv(tmp_path / "m.csv").drop(columns=["flat", "group"])
    frame.to_csv(tmp_path / "old.csv", index=False)
    old = read_manifest(tmp_path / "old.csv")
    assert (old["group"] == old["name"]).all() and (old["flat"] == "").all()


def test_folds_are_balanced():
    counts = np.bincount([fold_of(f"JS{i:05d}") for i in range(20000)], minlength=10)
    assert counts.min() > 1850 and counts.max() < 2150


def test_bad_records_are_skipped_counted_and_listed(tmp_path):
    data = tmp_path / "data"
    write_record(data, "A0001", ecg_like())
    write_record(data, "A0002", ecg_like()).with_suffix(".mat").unlink()
    bad = write_record(data, "A0003", ecg_like())
    bad.write_text(bad.read_text().replace(" V4\n", " X9\n"))
    write_record(data, "A0004", np.full((12, 5000), 0.3))
    result = prepare(data, tmp_path / "m.csv", workers=1)
    assert result.manifest["name"].tolist() == ["A0001"]
    assert result.error_counts == {"missing_file": 1, "unknown_lead": 1, "flat": 1}
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
    assert empty.returncode == 2 and "no record headers (.hea) under" in empty.stderr
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "X1.hea").write_text("X1 12 500\n")
    unreadable = subprocess.run(
        [*run, str(tmp_path / "bad"), "--out", str(tmp_path / "b.csv")], capture_output=True, text=True
    )
    assert unreadable.returncode == 2 and "no readable record" in unreadable.stderr


def test_select_folds(sample_manifest):
    frame = read_manifest(sample_manifest)
    chosen = select_folds(frame, [0, 1])
    assert set(chosen["fold"]) <= {0, 1} and len(chosen) == int(frame["fold"].isin([0, 1]).sum())
    rest = select_folds(frame, [0, 1], exclude=True)
    assert len(rest) + len(chosen) == len(frame) and not set(rest["fold"]) & {0, 1}
    with pytest.raises(ValueError, match=r"fold\(s\) \[10\] do not exist"):
        select_folds(frame, [10])
