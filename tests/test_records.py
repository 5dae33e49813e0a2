import numpy as np
import pytest
import scipy.io
import wfdb
from records_factory import ecg_like, write_record

from leadattn.data import RecordError, read_header, read_record
from leadattn.leads import LEADS


def _wfdb_canonical(path) -> np.ndarray:
    raw = wfdb.rdrecord(str(path.with_suffix("")))
    names = [n.upper() for n in raw.sig_name]
    return raw.p_signal[:, [names.index(lead.upper()) for lead in LEADS]].T


def test_test_records_agree_with_wfdb(records_dir):
    for hea in sorted(records_dir.glob("*.hea")):
        if hea.stem == "E00001":  # its record line names "E00001.mat", which wfdb.rdheader refuses
            continue
        record = read_record(hea)
        assert record.signal.dtype == np.float32 and record.leads == LEADS
        np.testing.assert_allclose(record.signal, _wfdb_canonical(hea), atol=1e-6, err_msg=record.name)
    e00001 = read_record(records_dir / "E00001")
    assert e00001.fs == 500 and e00001.signal.shape == (12, 5000) and e00001.source == "Georgia"
    s0001 = read_record(records_dir / "S0001")
    assert s0001.fs == 1000 and s0001.signal.shape == (12, 38400) and s0001.source == "PTB"


def test_every_shared_record_agrees_with_wfdb(shared_records_dir):
    headers = sorted(shared_records_dir.glob("*.hea"))
    assert len(headers) == 50
    for hea in headers:
        record = read_record(hea)
        assert record.signal.dtype == np.float32
        assert record.leads == LEADS and record.fs == 500 and record.signal.shape == (12, 5000)
        np.testing.assert_allclose(record.signal, _wfdb_canonical(hea), atol=1e-6, err_msg=record.name)


def test_record_fields(records_dir):
    record = read_record(records_dir / "JS20019")
    assert record.name == "JS20019" and record.source == "Ningbo"
    assert record.age == 70 and record.sex == "Male"
    assert record.dx == ("284470004", "164934002", "427084000")
    assert sorted(np.flatnonzero(record.labels)) == [15, 23, 24]  # PAC, STach, TAb
    assert read_record(records_dir / "HR06000.mat").source == "PTB-XL"


def test_lower_case_units_and_lead_spellings(tmp_path):
    spellings = ["i", "II", "iii", "AVR", "avl", "Avf", "v1", "V2", "V3", "V4", "V5", "V6"]
    hea = write_record(tmp_path, "X1", ecg_like(), leads=spellings)
    hea.write_text(hea.read_text().replace("/mV", "/mv"))
    record = read_record(hea)
    assert record.leads == LEADS
    np.testing.assert_allclose(record.signal, ecg_like(), atol=1e-3)


def test_lead_order_is_made_canonical(tmp_path):
    order = list(reversed(LEADS))
    signal = ecg_like()
    record = read_record(write_record(tmp_path, "X2", signal, leads=order))
    assert record.leads == LEADS
    np.testing.assert_allclose(record.signal, signal[::-1], atol=1e-3)


@pytest.mark.parametrize(("fs", "seconds"), [(257, 30), (1000, 12)])
def test_other_rates_and_lengths(tmp_path, fs, seconds):
    signal = ecg_like(samples=fs * seconds, fs=fs)
    record = read_record(write_record(tmp_path, "X3", signal, fs=fs))
    assert record.fs == fs and record.signal.shape == (12, fs * seconds)
    assert record.duration == pytest.approx(seconds)


def test_subset_of_leads(tmp_path):
    record = read_record(write_record(tmp_path, "X4", ecg_like(n_leads=2), leads=["II", "I"]))
    assert record.leads == ("I", "II") and record.signal.shape == (2, 5000)


def _corrupt(tmp_path, how: str):
    hea = write_record(tmp_path, "BAD1", ecg_like())
    mat = hea.with_suffix(".mat")
    text = hea.read_text()
    if how == "missing_mat":
        mat.unlink()
    elif how == "truncated":
        mat.write_bytes(mat.read_bytes()[: mat.stat().st_size // 3])
    elif how == "bad_header":
        hea.write_text("BAD1 twelve 500 5000\n" + text.split("\n", 1)[1])
    elif how == "shape":
        hea.write_text(text.replace("BAD1 12 500 5000", "BAD1 12 500 6000", 1))
    elif how == "nan":  # WFDB's missing-sample value (-32768) at sample 77 of lead V2, which reads as NaN
        offset = int(text.split("\n")[1].split()[1].split("+")[1]) + 2 * (77 * 12 + 7)
        data = bytearray(mat.read_bytes())
        data[offset : offset + 2] = np.int16(-32768).tobytes()
        mat.write_bytes(bytes(data))
    elif how == "empty":
        hea.write_text(text.replace("BAD1 12 500 5000", "BAD1 12 500 0", 1))
    elif how == "lead":
        hea.write_text(text.replace(" V4\n", " X9\n"))
    elif how == "dx":
        hea.write_text(text.replace("Dx: 426783006", "Dx: 426783006,sinus"))
    elif how == "fs":
        hea.write_text(text.replace("BAD1 12 500 5000", "BAD1 12 0 5000", 1))
    elif how in ("gain", "units", "adc_zero"):  # one field of the third signal line
        lines = text.split("\n")
        fields = lines[3].split()
        if how == "gain":
            fields[2] = "1.2.3/mV"
        elif how == "units":
            fields[2] = "1000/furlong"
        else:  # an ADC zero that is read because the gain field gives no baseline
            fields[2], fields[4] = "1000/mV", "zero"
        lines[3] = " ".join(fields)
        hea.write_text("\n".join(lines))
    return hea


@pytest.mark.parametrize(
    ("how", "kind", "message"),
    [
        ("missing_mat", "missing_file", "does not exist"),
        ("truncated", "truncated_signal", "cannot be read: the file is truncated"),
        ("bad_header", "bad_header", "cannot parse record line"),
        ("shape", "shape_mismatch", "disagrees with the header"),
        ("nan", "non_finite", "NaN or infinite samples in lead.s. V2$"),
        ("empty", "empty", "0 samples"),
        ("lead", "unknown_lead", "unknown lead name 'X9'"),
        ("dx", "bad_dx", "non-numeric SNOMED CT code"),
        ("fs", "bad_fs", "sampling rate must be positive"),
        ("gain", "bad_header", "cannot parse gain field '1.2.3/mV'"),
        ("units", "bad_header", "unknown units 'furlong' in '1000/furlong'"),
        ("adc_zero", "bad_header", "cannot parse ADC zero 'zero'"),
    ],
)
def test_bad_input_names_record_and_problem(tmp_path, how, kind, message):
    hea = _corrupt(tmp_path, how)
    with pytest.raises(RecordError, match=message) as caught:
        read_record(hea)
    assert caught.value.kind == kind and caught.value.record == "BAD1"
    assert str(caught.value).startswith("BAD1: ")


def test_missing_header(tmp_path):
    with pytest.raises(RecordError, match="header file .* does not exist"):
        read_header(tmp_path / "NOPE.hea")


def test_level_5_mat_files_read_like_level_4(tmp_path):
    """The challenge's files are MATLAB level 4 and are read in place; any other MATLAB file goes
    through scipy and gives the same record."""
    hea = write_record(tmp_path, "V4REC", ecg_like())
    v4 = read_record(hea)
    adc = scipy.io.loadmat(hea.with_suffix(".mat"))["val"]
    scipy.io.savemat(hea.with_suffix(".mat"), {"val": adc}, format="5")
    assert hea.with_suffix(".mat").read_bytes()[:6] == b"MATLAB"
    v5 = read_record(hea)
    np.testing.assert_array_equal(v5.signal, v4.signal)
