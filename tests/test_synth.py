"""The synthetic ECG generator: each class's defining physiology measured back from the signal.

The measurements here are deliberately simple and independent of the generator: R peaks found on
lead II, widths from the 12-lead spatial magnitude, axes from net QRS deflections in I and aVF. Where
a measurement needs a clean signal it uses the record's noise-free twin (same seed, noise_scale=0).
"""

from __future__ import annotations

import argparse
import json
import os
from functools import cache

import numpy as np
import pytest
import scipy.io
import wfdb
from scipy.signal import butter, filtfilt, find_peaks, welch

from leadattn.data import default_cache_dir, prepare, read_manifest, read_record
from leadattn.labels import class_index
from leadattn.leads import LEADS
from leadattn.synth import (
    BORDERS,
    CLASSES,
    LABEL_NOISE,
    RANGES,
    class_code,
    demo_data_dir,
    demo_manifest,
    ensure_demo_data,
    generate_dataset,
    generate_record,
    noisy_labels,
    read_annotations,
    sample_labels,
    sample_spec,
    validate_labels,
    write_record,
)
from leadattn.synth import cli as synth_cli
from leadattn.synth import demo as demo_module

FS = 500.0
PER_GROUP = 12
LEAD = {name: i for i, name in enumerate(LEADS)}
CLASSES_INDEX = {abbreviation: class_index(abbreviation) for abbreviation in CLASSES}


@cache
def records(labels: tuple[str, ...], noise_scale: float = 1.0, count: int = PER_GROUP) -> tuple:
    """Records with exactly these labels (seeds 0..count-1 of a stream per label set)."""
    base = sum(ord(c) for c in "".join(labels))
    return tuple(
        generate_record(np.random.SeedSequence(base, spawn_key=(i,)), labels, noise_scale=noise_scale)
        for i in range(count)
    )


def twins(labels: tuple[str, ...]) -> list[tuple]:
    """(noisy record, its noise-free twin) pairs."""
    return list(zip(records(labels), records(labels, 0.0)))


# ---- independent measurements ---------------------------------------------------------------------


def _filtered(x: np.ndarray, low: float | None, high: float | None, fs: float = FS) -> np.ndarray:
    if low and high:
        b, a = butter(2, [low, high], btype="band", fs=fs)
    elif low:
        b, a = butter(2, low, btype="high", fs=fs)
    else:
        b, a = butter(2, high, btype="low", fs=fs)
    return filtfilt(b, a, x, axis=-1)


def detect_r_peaks(signal: np.ndarray, fs: float = FS) -> np.ndarray:
    """QRS complexes: peaks of the 8-30 Hz amplitude envelope summed over the leads, at least 250 ms
    apart and above 30 % of the typical complex (so small sinus beats count beside large PVCs)."""
    energy = (_filtered(signal, 8.0, 30.0, fs) ** 2).sum(axis=0)
    width = int(0.1 * fs)
    envelope = np.sqrt(np.convolve(energy, np.ones(width) / width, mode="same"))
    distance = int(0.25 * fs)
    _, first = find_peaks(envelope, height=0.2 * envelope.max(), distance=distance)
    peaks, _ = find_peaks(envelope, height=0.3 * np.median(first["peak_heights"]), distance=distance)
    return peaks[(peaks > 0.15 * fs) & (peaks < len(envelope) - 0.15 * fs)]


def heart_rate(signal: np.ndarray, fs: float = FS) -> float:
    """Beats per minute from the median RR interval."""
    return 60.0 * fs / float(np.median(np.diff(detect_r_peaks(signal, fs))))


def rr_variation(signal: np.ndarray, fs: float = FS) -> float:
    """Coefficient of variation of the RR intervals."""
    rr = np.diff(detect_r_peaks(signal, fs))
    return float(np.std(rr) / np.mean(rr))


def magnitude(signal: np.ndarray) -> np.ndarray:
    """Spatial magnitude over the 12 leads."""
    return np.sqrt((signal.astype(np.float64) ** 2).sum(axis=0))


def active_span(clean: np.ndarray, around: int, fraction: float = 0.02) -> tuple[int, int]:
    """The run of samples around ``around`` where a noise-free signal's spatial magnitude exceeds
    ``fraction`` of its value at ``around`` (a wave's peak): the extent of that wave."""
    m = magnitude(clean)
    above = m > fraction * m[around]
    start = end = around
    while start > 0 and above[start - 1]:
        start -= 1
    while end < len(m) - 1 and above[end + 1]:
        end += 1
    return start, end + 1


def net_deflection(lead: np.ndarray, qrs: tuple[int, int]) -> float:
    baseline = np.median(lead[max(0, qrs[0] - 10) : qrs[0] + 1])
    window = lead[qrs[0] : qrs[1]] - baseline
    return float(window.max() + window.min())


def frontal_axis(signal: np.ndarray, beats) -> float:
    """Axis from the mean net QRS deflections in I and aVF (hexaxial: aVF scaled by 2/sqrt(3))."""
    smooth = _filtered(signal, None, 40.0)
    lead_i = np.mean([net_deflection(smooth[LEAD["I"]], b.qrs) for b in beats])
    lead_avf = np.mean([net_deflection(smooth[LEAD["aVF"]], b.qrs) for b in beats])
    return float(np.degrees(np.arctan2(lead_avf * 2 / np.sqrt(3), lead_i)))


def limb_qrs_amplitude(signal: np.ndarray, beats) -> float:
    """Median over beats of the largest QRS peak-to-peak amplitude among the six limb leads."""
    smooth = _filtered(signal, None, 40.0)
    return float(np.median([np.ptp(smooth[:6, b.qrs[0] : b.qrs[1]], axis=1).max() for b in beats]))


def t_amplitudes(signal: np.ndarray, beats) -> np.ndarray:
    """Median over beats of each lead's T deflection (the extreme in the T window vs the baseline
    just before the QRS), mV [12]."""
    smooth = _filtered(signal, 0.5, 40.0)
    values = []
    for b in beats:
        baseline = np.median(smooth[:, max(0, b.qrs[0] - 15) : b.qrs[0]], axis=1)
        window = smooth[:, b.t[0] : b.t[1]] - baseline[:, None]
        extreme = np.take_along_axis(window, np.abs(window).argmax(axis=1)[:, None], axis=1)[:, 0]
        values.append(extreme)
    return np.median(values, axis=0)


def whole(beats, n: int = 5000):
    """Beats whose P (if any), QRS and T lie wholly inside the record."""
    return [b for b in beats if b.t and b.t[1] < n and b.qrs[0] > 0 and (b.p is None or b.p[0] > 0)]


def width_ms(clean: np.ndarray, r_peak: int) -> float:
    start, end = active_span(clean, r_peak)
    return (end - start) / FS * 1000


def pr_interval_ms(clean: np.ndarray, beat, previous) -> float | None:
    """P onset to QRS onset on a noise-free signal; None when the P wave runs into the previous T."""
    if previous is None or previous.t is None or beat.p is None or previous.t[1] >= beat.p[0]:
        return None
    qrs_onset = active_span(clean, beat.r_peak)[0]
    m = magnitude(clean)
    search = slice(previous.t[1], qrs_onset - 5)
    p_peak = search.start + int(np.argmax(m[search]))
    p_onset = active_span(clean, p_peak, fraction=0.05)[0]
    return (qrs_onset - p_onset) / FS * 1000


# ---- lead geometry and the challenge file format ----------------------------------------------------


def test_derived_limb_leads_hold_exactly_after_round_trip(tmp_path):
    record = generate_record(1, ("AF", "RBBB"))
    adc = np.rint(read_record(record.write(tmp_path)).signal.astype(np.float64) * 1000)
    lead_i, lead_ii, lead_iii, avr, avl, avf = adc[:6]
    assert np.array_equal(lead_iii, lead_ii - lead_i)
    for derived, exact in (
        (avr, -(lead_i + lead_ii) / 2),
        (avl, lead_i - lead_ii / 2),
        (avf, lead_ii - lead_i / 2),
    ):
        assert np.abs(derived - exact).max() <= 0.5  # rounding of half-microvolts
    assert np.abs(lead_i).max() > 100  # a real signal, not zeros


def test_files_follow_the_challenge_format_and_round_trip(tmp_path):
    record = generate_record(2, ("SB", "IAVB"), name="SYN00007")
    hea = record.write(tmp_path)
    lines = hea.read_text().splitlines()
    assert lines[0] == "SYN00007 12 500 5000"
    val = scipy.io.loadmat(hea.with_suffix(".mat"))["val"]
    assert val.dtype == np.int16 and val.shape == (12, 5000)
    for row, (line, lead) in enumerate(zip(lines[1:13], LEADS)):
        fields = line.split()
        assert fields[:5] == ["SYN00007.mat", "16x1+24", "1000/mV", "16", "0"]
        assert fields[8] == lead and fields[7] == "0"
        assert int(fields[5]) == val[row, 0]
        assert int(fields[6]) == (int(val[row].astype(np.int64).sum()) + 32768) % 65536 - 32768
    assert lines[13:] == [
        f"# Age: {record.age}",
        f"# Sex: {record.sex}",
        f"# Dx: {class_code('SB')},{class_code('IAVB')}",
        "# Rx: Unknown",
        "# Hx: Unknown",
        "# Sx: Unknown",
    ]
    raw = hea.with_suffix(".mat").read_bytes()
    assert len(raw) == 24 + 12 * 5000 * 2
    assert np.array_equal(np.frombuffer(raw[24:], dtype="<i2").reshape(5000, 12).T, val)

    ours = read_record(hea)
    assert ours.leads == LEADS and ours.fs == 500 and ours.source == "synthetic"
    assert ours.age == record.age and ours.sex == record.sex
    assert set(np.flatnonzero(ours.labels)) == {CLASSES_INDEX["SB"], CLASSES_INDEX["IAVB"]}
    assert np.abs(ours.signal - record.signal).max() <= 0.0005 + 1e-6
    theirs = wfdb.rdrecord(str(hea.with_suffix("")))
    assert theirs.sig_name == list(LEADS) and theirs.fs == 500 and theirs.sig_len == 5000
    assert np.abs(theirs.p_signal.T - record.signal).max() <= 0.0005 + 1e-6
    assert f"Dx: {class_code('SB')},{class_code('IAVB')}" in theirs.comments


def test_write_record_rejects_bad_input(tmp_path):
    good = np.zeros((12, 100))
    with pytest.raises(ValueError, match=r"SYN9: signal must be \[12, samples\]"):
        write_record(tmp_path, "SYN9", np.zeros((8, 100)), 500, 50, "Male", ["426783006"])
    with pytest.raises(ValueError, match="SYN9: signal spans .* beyond the int16 range"):
        write_record(tmp_path, "SYN9", good + 40.0, 500, 50, "Male", ["426783006"])
    with pytest.raises(ValueError, match="SYN9: Dx codes must be numeric"):
        write_record(tmp_path, "SYN9", good, 500, 50, "Male", ["NSR"])
    with pytest.raises(ValueError, match="SYN9: signal has NaN"):
        write_record(tmp_path, "SYN9", good * np.nan, 500, 50, "Male", ["426783006"])


# ---- the side file ----------------------------------------------------------------------------------


def test_side_file_round_trips_and_locates_the_waves(tmp_path):
    noisy, clean = twins(("NSR", "PVC"))[0]
    hea = noisy.write(tmp_path)
    assert read_annotations(hea) == noisy.annotations
    assert read_annotations(hea.with_suffix(".json")) == noisy.annotations
    data = json.loads(hea.with_suffix(".json").read_text())
    assert data["r_peaks"] == noisy.annotations.r_peaks.tolist()
    assert len(data["pvc_beats"]) == len(noisy.annotations.pvc_indices) > 0
    m = magnitude(clean.signal)
    for beat in whole(noisy.annotations.beats):
        peak = beat.qrs[0] + int(np.argmax(m[beat.qrs[0] : beat.qrs[1]]))
        assert abs(peak - beat.r_peak) <= 2
        assert beat.t[0] >= beat.qrs[1]
        if beat.kind == "sinus":
            assert beat.p[1] == beat.pr_segment[0] and beat.pr_segment[1] == beat.qrs[0]
            segment = m[beat.pr_segment[0] + 2 : beat.pr_segment[1] - 2]
            assert segment.max() < 0.05 * m[beat.r_peak]  # the PR segment is isoelectric
        else:
            assert beat.p is None and beat.pr_segment is None


def test_read_annotations_names_missing_and_broken_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="SYN00003.json"):
        read_annotations(tmp_path / "SYN00003.hea")
    (tmp_path / "SYN00004.json").write_text('{"name": "SYN00004"}')
    with pytest.raises(ValueError, match="SYN00004.json: malformed annotation file"):
        read_annotations(tmp_path / "SYN00004")


# ---- rhythm and conduction ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("labels", "key"),
    [(("NSR",), "rate_nsr"), (("SB",), "rate_sb"), (("STach",), "rate_stach"), (("SB", "IAVB"), "rate_sb")],
)
def test_heart_rate_from_detected_r_peaks_fits_the_rate_label(labels, key):
    low, high = RANGES[key]
    for record in records(labels):
        rate = heart_rate(record.signal)
        assert low - 3 < rate < high + 3, record.spec
        assert abs(rate - record.annotations.heart_rate) < 3


def test_af_is_irregular_without_p_waves_over_a_fibrillatory_baseline():
    for record in records(("NSR",)):
        assert rr_variation(record.signal) < 0.05
    with_gaps = 0
    for noisy, clean in twins(("AF",)):
        assert rr_variation(noisy.signal) > 0.1
        assert all(b.p is None for b in noisy.annotations.beats)
        assert "NSR" not in noisy.labels
        beats = whole(noisy.annotations.beats)
        v1 = clean.signal[LEAD["V1"]]
        gaps = [v1[a.t[1] + 5 : b.qrs[0] - 5] for a, b in zip(beats, beats[1:]) if b.qrs[0] - a.t[1] > 110]
        if not gaps:  # a fast ventricular rate leaves no T-Q interval long enough to look at
            continue
        with_gaps += 1
        baseline = np.concatenate(gaps)
        assert baseline.std() > 0.005  # the T-Q interval is never flat
        freqs, power = welch(np.concatenate([g - g.mean() for g in gaps]), fs=FS, nperseg=100)
        assert 3.5 <= freqs[np.argmax(power)] <= 10.0
    assert with_gaps >= PER_GROUP // 2
    for _, clean in twins(("NSR",)):
        beats = whole(clean.annotations.beats)
        quiet = [
            clean.signal[:, a.t[1] + 2 : b.p[0] - 2] for a, b in zip(beats, beats[1:]) if b.p[0] - a.t[1] > 10
        ]
        assert all(np.abs(q).max() < 1e-3 for q in quiet)  # sinus rhythm: flat between T and P


def test_pr_interval_from_the_signal():
    for labels, prolonged in ((("NSR",), False), (("NSR", "IAVB"), True), (("SB", "IAVB"), True)):
        for _, clean in twins(labels):
            beats = clean.annotations.beats
            measured = [pr_interval_ms(clean.signal, b, a) for a, b in zip(beats, beats[1:])]
            measured = [m for m in measured if m is not None]
            assert measured, "no P wave clear of the previous T wave"
            low, high = RANGES["pr_iavb_sb" if prolonged else "pr_normal"]
            assert 1000 * low - 20 < np.median(measured) < 1000 * high + 20
            assert abs(np.median(measured) - clean.annotations.pr_ms) < 20


def test_qrs_width_separates_bundle_branch_blocks():
    measured_wide: list[float] = []
    measured_narrow: list[float] = []
    for labels, wide in (
        (("NSR",), False),
        (("NSR", "LBBB"), True),
        (("NSR", "RBBB"), True),
        (("SB", "RBBB", "LAD"), True),
    ):
        for _, clean in twins(labels):
            widths = [width_ms(clean.signal, b.r_peak) for b in whole(clean.annotations.beats)]
            low, high = RANGES[f"qrs_{clean.spec.qrs_kind}"]
            assert 1000 * low - 15 < np.median(widths) < 1000 * high + 15
            assert abs(np.median(widths) - clean.annotations.qrs_ms) < 15
            measured_wide.append(np.median(widths)) if wide else measured_narrow.append(np.median(widths))
    assert np.median(measured_wide) >= 120 and np.median(measured_narrow) < 110


def _qrs(clean, lead: str, beat) -> np.ndarray:
    start, end = active_span(clean.signal, beat.r_peak)
    return clean.signal[LEAD[lead], start:end].astype(np.float64)


def _humps(x: np.ndarray) -> int:
    peaks, _ = find_peaks(x, height=0.3 * x.max(), prominence=0.03)
    return len(peaks)


def test_left_bundle_branch_block_shapes():
    notched = []
    for labels in (("NSR", "LBBB"), ("NSR", "LBBB", "LAD")):
        for _, clean in twins(labels):
            beat = whole(clean.annotations.beats)[1]
            v1 = _qrs(clean, "V1", beat)
            assert v1.min() < -0.4 and v1.max() < 0.1 * -v1.min()  # deep QS in V1
            lateral = {lead: _qrs(clean, lead, beat) for lead in ("I", "aVL", "V5", "V6")}
            upright = [lead for lead, x in lateral.items() if x.max() > 0.2 and x.min() > -0.35 * x.max()]
            assert len(upright) >= 2  # broad R, no septal q, on the left
            notched.append(any(_humps(lateral[lead]) >= 2 for lead in upright))
    assert np.mean(notched) > 0.8  # notched R in most; slurred in the rest


def test_right_bundle_branch_block_shapes():
    for labels in (("NSR", "RBBB"), ("SB", "RBBB", "LAD")):
        for _, clean in twins(labels):
            beat = whole(clean.annotations.beats)[1]
            v1 = _qrs(clean, "V1", beat)
            late = len(v1) * 2 // 3
            assert v1[late:].max() > 0.2 and v1[:late].min() < -0.1  # rsR': S then a late R'
            assert int(np.argmax(v1)) >= late
            for lead in ("I", "V6"):
                x = _qrs(clean, lead, beat)
                assert x[len(x) * 3 // 5 :].min() < -0.05  # terminal (wide) S


@pytest.mark.parametrize(
    ("labels", "key"),
    [
        (("NSR",), "axis_normal"),
        (("NSR", "LAD"), "axis_lad"),
        (("NSR", "RAD"), "axis_rad"),
        (("NSR", "RBBB", "LAD"), "axis_lad"),
        (("AF", "LBBB", "LAD"), "axis_lad"),
    ],
)
def test_frontal_axis_from_leads_i_and_avf(labels, key):
    low, high = RANGES[key]
    for record in records(labels):
        beats = [b for b in whole(record.annotations.beats) if b.kind != "pvc"]
        axis = frontal_axis(record.signal, beats)
        assert low - 10 < axis < high + 10
        wide = record.spec.qrs_kind != "normal"  # a wide QRS's area is a rougher guide to its axis
        assert abs(axis - record.annotations.axis_deg) < (16 if wide else 10)


def test_low_qrs_voltage_in_the_limb_leads():
    for record in records(("NSR", "LQRSV")) + records(("AF", "RBBB", "LQRSV")):
        assert limb_qrs_amplitude(record.signal, whole(record.annotations.beats)) < 0.6
    for record in records(("NSR",)) + records(("AF",)) + records(("NSR", "RAD")):
        assert limb_qrs_amplitude(record.signal, whole(record.annotations.beats)) > 0.4


def test_premature_ventricular_beats_are_early_wide_and_followed_by_a_full_pause():
    checked = 0
    for labels in (("NSR", "PVC"), ("SB", "PVC"), ("STach", "PVC")):
        for noisy, clean in twins(labels):
            beats = noisy.annotations.beats
            detected = detect_r_peaks(noisy.signal)
            nearest = np.abs(detected[:, None] - noisy.annotations.r_peaks[None, :]).argmin(axis=1)
            kinds = [beats[j].kind for j in nearest]
            m = magnitude(clean.signal)
            peaks = [d - 30 + int(np.argmax(m[d - 30 : d + 30])) for d in detected]
            rr = np.diff([active_span(clean.signal, peak)[0] for peak in peaks])  # onset to onset
            sinus_rr = [rr[k] for k in range(len(rr)) if kinds[k] == kinds[k + 1] == "sinus"]
            sinus_widths = [width_ms(clean.signal, b.r_peak) for b in whole(beats) if b.kind == "sinus"]
            for k in np.flatnonzero(np.array(kinds) == "pvc"):
                beat = beats[nearest[k]]
                assert beat.p is None and beat.pr_segment is None
                assert width_ms(clean.signal, beat.r_peak) >= 120
                assert width_ms(clean.signal, beat.r_peak) > np.median(sinus_widths) + 25
                if not 1 <= k < len(detected) - 1:
                    continue
                before, after = rr[k - 1], rr[k]
                assert before < 0.75 * after  # early, then a long pause
                if sinus_rr:
                    cycle = np.median(sinus_rr)
                    assert before < 0.85 * cycle
                    assert abs((before + after) / (2 * cycle) - 1) < 0.1  # fully compensatory
                checked += 1
    assert checked >= 20


def test_t_wave_inversion_and_flattening():
    for record in records(("NSR",)):
        t = t_amplitudes(record.signal, whole(record.annotations.beats))
        assert t[LEAD["I"]] > 0 and t[LEAD["II"]] > 0
        assert np.abs(t).max() > 0.08
    for record in records(("NSR", "TInv")):
        t = t_amplitudes(record.signal, whole(record.annotations.beats))
        assert t[LEAD["I"]] < 0 and t[LEAD["II"]] < 0
    for record in records(("NSR", "TAb")):
        assert np.abs(t_amplitudes(record.signal, whole(record.annotations.beats))).max() < 0.16


# ---- labels, mix, determinism -----------------------------------------------------------------------


def test_class_mix_covers_every_class():
    rng = np.random.default_rng(0)
    drawn = [sample_labels(rng) for _ in range(4000)]
    share = {c: np.mean([c in labels for labels in drawn]) for c in CLASSES}
    assert 0.26 < np.mean([labels == ("NSR",) for labels in drawn]) < 0.34
    for abbreviation in CLASSES:
        if abbreviation != "NSR":
            assert 0.07 < share[abbreviation] < 0.22, (abbreviation, share[abbreviation])
    rhythms = [sum(r in labels for r in ("NSR", "SB", "STach", "AF")) for labels in drawn]
    assert set(rhythms) == {1}
    assert all(labels == validate_labels(labels) for labels in drawn)


def test_physiology_follows_the_labels_with_overlap_at_the_cut_offs():
    rng = np.random.default_rng(1)
    specs = [sample_spec(sample_labels(rng), rng) for _ in range(1500)]

    def inside(value: float, key: str) -> bool:
        low, high = RANGES[key]
        return low <= value <= high

    for spec in specs:
        has = set(spec.labels).__contains__
        sinus = spec.rhythm == "sinus"
        rate_key = next((k for c, k in (("SB", "sb"), ("STach", "stach"), ("AF", "af")) if has(c)), "nsr")
        assert inside(spec.rate, f"rate_{rate_key}")
        assert has("AF") == (not sinus) == (spec.pr is None)
        if has("IAVB"):
            assert spec.pr >= RANGES["pr_iavb"][0]
        elif sinus:
            assert spec.pr <= RANGES["pr_normal"][1]
        assert inside(spec.qrs_duration, f"qrs_{spec.qrs_kind}")
        assert (has("LBBB") or has("RBBB")) == (spec.qrs_kind != "normal")
        if has("LAD"):
            assert inside(spec.axis, "axis_lad")
        elif has("RAD"):
            assert inside(spec.axis, "axis_rad")
        else:
            assert inside(spec.axis, "axis_normal")
        assert inside(spec.qrs_size, "qrs_size_lqrsv" if has("LQRSV") else "qrs_size_normal")
        assert has("PVC") == (spec.pvc_count > 0)
    # neighbouring classes share their border bands, as real populations do
    sinus = [s for s in specs if s.rhythm == "sinus"]
    assert any("SB" in s.labels and s.rate >= 60 for s in sinus)
    assert any("NSR" in s.labels and s.rate < 60 for s in sinus)
    assert any("IAVB" in s.labels and s.pr <= 0.2 for s in sinus)
    assert any("IAVB" not in s.labels and s.pr > 0.2 for s in sinus)
    assert any(s.qrs_kind == "normal" and s.qrs_duration >= 0.12 for s in specs)
    assert any(s.qrs_kind != "normal" and s.qrs_duration < 0.12 for s in specs)
    for name, (low, high) in BORDERS.items():
        assert low < high, name


def test_label_noise_drops_or_adds_one_finding_at_its_rate():
    rng = np.random.default_rng(3)
    drawn = [sample_labels(rng) for _ in range(6000)]
    written = [noisy_labels(labels, rng) for labels in drawn]
    changed = [(a, b) for a, b in zip(drawn, written) if a != b]
    assert 0.02 < len(changed) / len(drawn) < 0.04 and LABEL_NOISE == 0.03
    for true, noisy in changed:
        assert abs(len(true) - len(noisy)) == 1 and validate_labels(noisy) == noisy
        assert [c for c in true if c in ("NSR", "SB", "STach", "AF")] == [
            c for c in noisy if c in ("NSR", "SB", "STach", "AF")
        ]
    assert any(len(b) > len(a) for a, b in changed) and any(len(b) < len(a) for a, b in changed)
    assert noisy_labels(("NSR", "PVC"), rng, rate=0.0) == ("NSR", "PVC")


def test_noisy_labels_go_to_the_header_and_the_true_ones_to_the_side_file(tmp_path):
    clean = generate_record(5, ("NSR", "PVC"), label_noise=0.0)
    noisy = generate_record(5, ("NSR", "PVC"), label_noise=1.0)
    np.testing.assert_array_equal(clean.signal, noisy.signal)  # the same heart
    assert noisy.labels == ("NSR",) and noisy.spec.labels == ("NSR", "PVC")
    annotations = read_annotations(noisy.write(tmp_path))
    assert annotations.labels == ("NSR",) and annotations.details["true_labels"] == ["NSR", "PVC"]
    assert set(np.flatnonzero(read_record(tmp_path / f"{noisy.name}.hea").labels)) == {CLASSES_INDEX["NSR"]}


def test_validate_labels():
    assert validate_labels(["LBBB"]) == ("NSR", "LBBB")
    assert validate_labels([class_code("AF"), "lbbb"]) == ("AF", "LBBB")
    for bad, message in (
        (["AF", "SB"], "rhythm labels exclude each other"),
        (["AF", "IAVB"], "needs sinus rhythm"),
        (["LBBB", "RBBB"], "cannot be generated together"),
        (["RBBB", "TInv"], "not generated with a bundle branch block"),
        (["AFL"], "does not produce AFL"),
        (["XYZ"], "unknown class 'XYZ'"),
    ):
        with pytest.raises(ValueError, match=message):
            validate_labels(bad)


def test_generation_is_deterministic_and_independent_of_workers(tmp_path):
    one = generate_dataset(tmp_path / "one", 6, seed=3, workers=1)
    two = generate_dataset(tmp_path / "two", 6, seed=3, workers=2)
    assert one == two == [f"SYN{i:05d}" for i in range(1, 7)]
    for path in sorted((tmp_path / "one").iterdir()):
        assert path.read_bytes() == (tmp_path / "two" / path.name).read_bytes(), path.name
    assert np.array_equal(generate_record(7).signal, generate_record(7).signal)
    assert not np.array_equal(generate_record(7).signal, generate_record(8).signal)
    other = generate_dataset(tmp_path / "other", 2, seed=4, workers=1)
    assert (tmp_path / "other" / f"{other[0]}.mat").read_bytes() != (
        tmp_path / "one" / "SYN00001.mat"
    ).read_bytes()


def test_generated_set_goes_through_the_manifest(tmp_path):
    names = generate_dataset(tmp_path / "data", 5, seed=1, workers=1)
    result = prepare(tmp_path / "data", workers=1)
    frame = result.manifest.set_index("name")
    assert sorted(frame.index) == names and len(result.errors) == 0
    assert set(frame["source"]) == {"synthetic"}
    for name in names:
        expected = set(read_annotations(tmp_path / "data" / name).labels)
        assert set(frame.loc[name, "labels"].split(",")) == expected


# ---- the cached demo set and the command ------------------------------------------------------------


def test_demo_data_is_cached_idempotent_and_replaces_partial_sets(tmp_path, monkeypatch):
    monkeypatch.setenv("LEADATTN_HOME", str(tmp_path / "home"))
    target = demo_data_dir(n=3, seed=1)
    assert target == tmp_path / "home" / "demo" / "3_1"
    target.mkdir(parents=True)
    (target / "SYN00001.hea").write_text("left by an interrupted run")
    abandoned = target.parent / ".partial-999999999-abc"
    abandoned.mkdir()
    assert ensure_demo_data(n=3, seed=1, workers=1) == target
    assert not abandoned.exists()
    assert sorted(p.name for p in target.glob("*.hea")) == ["SYN00001.hea", "SYN00002.hea", "SYN00003.hea"]
    assert read_record(target / "SYN00001").signal.shape == (12, 5000)
    assert [p.name for p in target.parent.iterdir()] == ["3_1"]

    def must_not_run(*args, **kwargs):
        raise AssertionError("a complete demo set was regenerated")

    monkeypatch.setattr(demo_module, "generate_dataset", must_not_run)
    assert ensure_demo_data(n=3, seed=1) == target


def test_demo_data_command(tmp_path, capsys):
    parser = argparse.ArgumentParser()
    synth_cli.register(parser.add_subparsers())
    args = parser.parse_args(
        ["demo-data", str(tmp_path / "out"), "--n", "4", "--seed", "5", "--workers", "1"]
    )
    assert args.func(args) == 0
    assert "4 records in" in capsys.readouterr().out
    assert len(list((tmp_path / "out").glob("*.mat"))) == 4
    assert (tmp_path / "out" / "RECORDS").read_text().split() == [f"SYN{i:05d}" for i in range(1, 5)]
    args = parser.parse_args(["demo-data", str(tmp_path / "out"), "--n", "0"])
    with pytest.raises(ValueError, match="--n must be at least 1"):
        args.func(args)


def test_other_rates_and_lengths(tmp_path):
    record = generate_record(0, ("SB", "PVC"), fs=250, seconds=4)
    assert record.signal.shape == (12, 1000) and record.annotations.pvc_indices
    hea = record.write(tmp_path)
    assert hea.read_text().splitlines()[0] == "SYN00001 12 250 1000"
    assert read_record(hea).fs == 250
    with pytest.raises(ValueError, match="SYN00001: a 1 s record at .* too short for a premature beat"):
        generate_record(2, ("SB", "PVC"), seconds=1)  # 46 bpm: one beat and a half


def test_demo_manifest_is_prepared_once_and_a_stale_cache_goes(tmp_path, monkeypatch):
    monkeypatch.setenv("LEADATTN_HOME", str(tmp_path / "home"))
    manifest = demo_manifest(n=4, seed=1)
    assert manifest == demo_data_dir(n=4, seed=1).with_name("4_1.csv")
    assert len(read_manifest(manifest)) == 4
    stale = default_cache_dir(manifest)
    stale.mkdir()
    written = manifest.stat().st_mtime_ns
    assert demo_manifest(n=4, seed=1) == manifest and manifest.stat().st_mtime_ns == written
    assert stale.exists()  # a current manifest keeps its cache
    os.utime(demo_data_dir(n=4, seed=1) / "COMPLETE.json")  # records newer than the manifest
    os.utime(manifest, (0, 0))
    demo_manifest(n=4, seed=1)
    assert not stale.exists() and manifest.stat().st_mtime_ns != 0
