"""Generating labelled 12-lead records: labels -> physiology -> dipole -> leads + noise -> files.

Every record draws from its own random stream, ``SeedSequence(seed, spawn_key=(index,))``, so a data
set is the same for a seed whatever the number of worker processes. Noise is drawn after the heart's
signal and from the same stream whatever its scale, so ``noise_scale=0`` gives the noise-free twin of
a record.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np

from leadattn.data.parallel import progress_map
from leadattn.synth import classes
from leadattn.synth.annotations import Annotations, Beat, write_annotations
from leadattn.synth.beats import BeatShape, Waves, ectopic_beat, p_waves, render, sinus_beat, t_waves
from leadattn.synth.classes import RecordSpec, sample_labels, sample_spec, validate_labels
from leadattn.synth.dipole import expand, project, rotation
from leadattn.synth.noise import electrode_noise, sample_levels
from leadattn.synth.rhythm import (
    Schedule,
    add_premature_beats,
    af_schedule,
    fibrillatory_waves,
    qt_intervals,
    sinus_schedule,
    t_wave_bounds,
)
from leadattn.synth.writer import write_record

Seed = int | np.random.SeedSequence | np.random.Generator


@dataclass(frozen=True)
class SynthRecord:
    """A generated record: signal [12, samples] in mV (canonical lead order), demographics, the
    annotations and the physiology it was drawn from. Its name, rate, labels and codes are those of
    the annotations."""

    signal: np.ndarray
    age: int
    sex: str
    annotations: Annotations
    spec: RecordSpec

    def write(self, directory: str | Path) -> Path:
        """Write ``NAME.hea``, ``NAME.mat`` and the side file ``NAME.json``; returns the header path."""
        hea = write_record(directory, self.name, self.signal, self.fs, self.age, self.sex, self.dx)
        write_annotations(hea, self.annotations)
        return hea

    @property
    def name(self) -> str:
        """The record's name, that of its files."""
        return self.annotations.name

    @property
    def fs(self) -> float:
        """Sampling rate (Hz)."""
        return self.annotations.fs

    @property
    def labels(self) -> tuple[str, ...]:
        """Abbreviations as written to the header: with label noise they may differ from
        ``spec.labels``, the physiology's."""
        return self.annotations.labels

    @property
    def dx(self) -> tuple[str, ...]:
        """The SNOMED CT codes of :attr:`labels`."""
        return self.annotations.dx


def record_name(index: int) -> str:
    """Name of the record at position ``index`` (0-based) of a generated data set."""
    return f"SYN{index + 1:05d}"


def record_seed(seed: int, index: int) -> np.random.SeedSequence:
    """The random stream of record ``index`` of the data set with ``seed``."""
    return np.random.SeedSequence(seed, spawn_key=(index,))


def _beat_gains(onsets: np.ndarray, resp_hz: float, rng: np.random.Generator) -> np.ndarray:
    """QRS size of each beat: breathing swings the heart's position a few percent, plus jitter."""
    swing = rng.uniform(0.0, 0.08) * np.sin(2 * np.pi * resp_hz * onsets + rng.uniform(0, 2 * np.pi))
    return 1.0 + swing + rng.normal(0.0, 0.015, len(onsets))


def _span(start: float, end: float, fs: float, n: int) -> tuple[int, int] | None:
    first, last = max(0, int(round(start * fs))), min(n, int(round(end * fs)))
    return (first, last) if last > first else None


def generate_record(
    seed: Seed,
    labels: Iterable[str] | None = None,
    *,
    name: str = "SYN00001",
    fs: float = 500.0,
    seconds: float = 10.0,
    noise_scale: float = 1.0,
    label_noise: float = 0.0,
) -> SynthRecord:
    """Generate one record.

    ``labels`` (abbreviations or SNOMED CT codes) fixes the classes; None draws them from the demo
    mix. ``noise_scale`` multiplies the recording noise (0: noise-free, same heart).
    ``label_noise`` is the chance that the written labels miss a finding or name one the record
    lacks (:func:`~leadattn.synth.classes.noisy_labels`); the side file keeps the true ones.
    """
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    labels = sample_labels(rng) if labels is None else validate_labels(labels)
    spec = sample_spec(labels, rng)
    n = int(round(seconds * fs))
    if n < fs:
        raise ValueError(f"{name}: records must last at least one second, got {seconds} s")
    sinus = spec.rhythm == "sinus"
    turn = rotation(np.array([0.0, 1.0, 0.0]), rng.uniform(-20, 20)) @ rotation(
        rng.normal(size=3), rng.normal(0, 6)
    )
    p = (
        p_waves(spec.p_duration, spec.p_axis, rng.uniform(0.16, 0.3) * spec.attenuation, rng, turn)
        if sinus
        else None
    )
    size = (
        spec.qrs_size,
        spec.chest_size,
        0.0 if "LQRSV" in spec.labels else classes.RANGES["qrs_size_normal"][0],
    )
    dominant = sinus_beat(
        spec.qrs_kind, spec.qrs_duration, spec.axis, size, spec.t_kind, spec.t_size * spec.attenuation,
        p, turn, rng, fs,
    )  # fmt: skip
    widening = max(0.0, spec.qrs_duration - 0.1)
    if sinus:
        schedule = sinus_schedule(spec.rate, spec.rate_variability, spec.resp_hz, spec.pr, seconds, rng)
        if spec.pvc_count:
            qt = float(qt_intervals(np.array([60.0 / spec.rate]), spec.qtc, widening)[0])
            try:
                schedule = add_premature_beats(schedule, spec.pvc_count, spec.bigeminy, qt, seconds, rng)
            except ValueError as error:
                raise ValueError(f"{name}: {error}") from None
    else:
        schedule = af_schedule(spec.rate, spec.rate_variability, spec.qtc, widening, seconds, rng)
    ectopic = None
    if schedule.ectopic.any():
        peak = np.linalg.norm(render(dominant.qrs, int(spec.qrs_duration * fs) + 2, fs), axis=1).max()
        width = max(rng.uniform(0.14, 0.18), spec.qrs_duration + 0.035)  # always wider than the sinus beat
        ectopic = ectopic_beat(width, peak * rng.uniform(1.4, 2.1), turn, rng, fs)

    gains = _beat_gains(schedule.qrs_onset, spec.resp_hz, rng)
    parts: list[Waves] = []
    bounds = np.zeros((len(schedule.qrs_onset), 2))
    qts = np.zeros(len(schedule.qrs_onset))
    for shape, mask in ((dominant, ~schedule.ectopic), (ectopic, schedule.ectopic)):
        if shape is None or not mask.any():
            continue
        onsets = schedule.qrs_onset[mask]
        extra = widening if shape is dominant else shape.qrs_duration - 0.09
        qts[mask] = qt_intervals(schedule.rr_before[mask], spec.qtc, extra)
        t_on, t_off = t_wave_bounds(onsets, qts[mask], shape.qrs_duration, shape is ectopic)
        bounds[mask] = np.stack([t_on, t_off], axis=1)
        parts += [shape.qrs.placed(onsets, gains[mask]), t_waves(shape, t_on, t_off, gains[mask])]
    has_p = ~np.isnan(schedule.p_onset)
    if p is not None and has_p.any():
        parts.append(p.placed(schedule.p_onset[has_p]))
    dipole = render(Waves.concat(parts), n, fs)
    f_wave = 0.0
    if not sinus:
        f_wave = rng.uniform(0.02, 0.06) * spec.attenuation
        dipole += fibrillatory_waves(n, fs, f_wave, rng)

    levels = sample_levels(rng)
    independent = project(dipole) + noise_scale * electrode_noise(levels, n, fs, spec.resp_hz, rng)
    independent[:2] = np.rint(independent[:2] * 1000.0) / 1000.0  # I and II on the 1 microvolt grid
    signal = expand(independent).astype(np.float32)

    beats = _annotate_beats(schedule, dominant, ectopic, bounds, spec, fs, n)
    listed = np.array([b.r_peak for b in beats], dtype=float)
    heart_rate = (
        60.0 * fs / float(np.mean(np.diff(listed))) if len(listed) > 1 else 60.0 / schedule.rr_before[0]
    )
    inside = (schedule.qrs_onset * fs >= 0) & (schedule.qrs_onset * fs < n) & ~schedule.ectopic
    if not inside.any():  # a very short record: describe the beats around it
        inside = ~schedule.ectopic
    rr = schedule.rr_before[inside]
    written = classes.noisy_labels(
        spec.labels, rng, label_noise
    )  # drawn last: the heart is the same either way
    annotations = Annotations(
        name=name,
        fs=float(fs),
        samples=n,
        labels=written,
        dx=tuple(classes.class_code(c) for c in written),
        rhythm="sinus" if sinus else "atrial fibrillation",
        heart_rate=round(heart_rate, 2),
        pr_ms=None if spec.pr is None else round(spec.pr * 1000, 1),
        qrs_ms=round(dominant.qrs_duration * 1000, 1),
        qt_ms=round(float(qts[inside].mean()) * 1000, 1),
        qtc_ms=round(float(np.mean(qts[inside] / np.cbrt(rr))) * 1000, 1),
        axis_deg=round(dominant.axis, 1),
        beats=tuple(beats),
        details={
            "qrs_kind": spec.qrs_kind,
            "t_kind": spec.t_kind,
            "p_axis_deg": round(spec.p_axis, 1),
            "p_ms": None if p is None else round(spec.p_duration * 1000, 1),
            "pvc_qrs_ms": None if ectopic is None else round(ectopic.qrs_duration * 1000, 1),
            "f_wave_mV": round(f_wave, 4),
            "noise": levels.to_dict(),
            "noise_scale": noise_scale,
            "true_labels": list(spec.labels),
        },
    )
    return SynthRecord(signal, spec.age, spec.sex, annotations, spec)


def _annotate_beats(
    schedule: Schedule,
    dominant: BeatShape,
    ectopic: BeatShape | None,
    t_bounds: np.ndarray,
    spec: RecordSpec,
    fs: float,
    n: int,
) -> list[Beat]:
    """Sample ranges of every beat whose R peak falls inside the record."""
    beats = []
    for i, onset in enumerate(schedule.qrs_onset):
        is_pvc = bool(schedule.ectopic[i])
        shape = ectopic if is_pvc else dominant
        r_peak = int(round((onset + shape.r_offset) * fs))
        if not 0 <= r_peak < n:
            continue
        qrs = _span(onset, onset + shape.qrs_duration, fs, n)
        p_range = pr_segment = None
        if not np.isnan(schedule.p_onset[i]):
            p_end = schedule.p_onset[i] + spec.p_duration
            p_range = _span(schedule.p_onset[i], p_end, fs, n)
            pr_segment = _span(p_end, onset, fs, n)
        kind = "pvc" if is_pvc else ("sinus" if spec.rhythm == "sinus" else "af")
        t_range = _span(t_bounds[i, 0], t_bounds[i, 1], fs, n)
        beats.append(Beat(kind, r_peak, qrs, t_range, p_range, pr_segment))
    return beats


def _write_one(index: int, out_dir: Path, seed: int, fs: float, seconds: float, label_noise: float) -> str:
    record = generate_record(
        record_seed(seed, index), name=record_name(index), fs=fs, seconds=seconds, label_noise=label_noise
    )
    record.write(out_dir)
    return record.name


def generate_dataset(
    out_dir: str | Path,
    n: int,
    seed: int = 0,
    fs: float = 500.0,
    seconds: float = 10.0,
    workers: int | None = None,
    label_noise: float = classes.LABEL_NOISE,
) -> list[str]:
    """Write ``n`` records ``SYN00001``... with side files into ``out_dir``; returns their names.

    Labels are drawn from the demo mix and written with ``label_noise``. The result depends only
    on ``n``, ``seed``, ``fs``, ``seconds`` and ``label_noise``, not on ``workers`` (processes;
    default all cores). A ``RECORDS`` file lists the names, as in PhysioNet databases.
    """
    if n < 1:
        raise ValueError(f"number of records must be at least 1, got {n}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    task = partial(_write_one, out_dir=out_dir, seed=seed, fs=fs, seconds=seconds, label_noise=label_noise)
    names = list(progress_map(task, range(n), total=n, desc="demo records", workers=workers))
    (out_dir / "RECORDS").write_text("\n".join(names) + "\n", encoding="utf-8")
    return names
