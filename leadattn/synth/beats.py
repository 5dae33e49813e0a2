"""Heart-beat waves in cardiac-dipole space: P wave, QRS complex and T wave.

Every wave is a Gaussian-like bump ``(1 - u**2)**2`` for ``|u| < 1`` (zero outside) with separate rise
and fall half-widths, times a 3-D dipole vector (frame of :mod:`leadattn.synth.dipole`). The compact
support gives every wave an exact onset and offset, which the annotations report.

Templates list each wave as (start, peak, end) fractions of the complex's duration and a dipole vector
in a reference orientation. The normal QRS loop turns anticlockwise in the horizontal plane: septum
(rightward, anterior), apex and anterior wall, left free wall (leftward, inferior, posterior), base
(superior, posterior). Left bundle branch block reverses septal activation and spreads slow,
notched leftward-posterior forces over the whole complex; right bundle branch block keeps the early
forces and adds late slow rightward-anterior ones (the R' of V1). Ventricular premature beats start
from an ectopic focus with a single broad, slow vector. A record perturbs, rotates and scales them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from leadattn.synth.dipole import (
    expand,
    frontal_angle,
    frontal_axis,
    frontal_rotation,
    project,
    rotation,
    wrap_degrees,
)


@dataclass(frozen=True)
class Waves:
    """A batch of waves: times in seconds, dipole vectors in mV."""

    start: np.ndarray
    peak: np.ndarray
    end: np.ndarray
    vector: np.ndarray

    def __len__(self) -> int:
        return len(self.start)

    @property
    def duration(self) -> float:
        """Time from the first onset to the last offset."""
        return float(self.end.max() - self.start.min())

    def transformed(self, matrix: np.ndarray) -> Waves:
        """The same waves with every vector multiplied by ``matrix`` [3, 3]."""
        return Waves(self.start, self.peak, self.end, self.vector @ matrix.T)

    def scaled(self, factor: float) -> Waves:
        return Waves(self.start, self.peak, self.end, self.vector * factor)

    def placed(self, onsets: np.ndarray, gains: np.ndarray | None = None) -> Waves:
        """One copy per onset (times shifted by it, vectors scaled by its gain), beat-major order."""
        onsets = np.asarray(onsets, dtype=float)[:, None]
        gains = np.ones(onsets.shape) if gains is None else np.asarray(gains, dtype=float)[:, None]
        return Waves(
            (onsets + self.start).ravel(),
            (onsets + self.peak).ravel(),
            (onsets + self.end).ravel(),
            (gains[:, :, None] * self.vector[None]).reshape(-1, 3),
        )

    @staticmethod
    def concat(parts: list[Waves]) -> Waves:
        parts = [p for p in parts if len(p)]
        return Waves(
            np.concatenate([p.start for p in parts]),
            np.concatenate([p.peak for p in parts]),
            np.concatenate([p.end for p in parts]),
            np.concatenate([p.vector for p in parts]),
        )


def render(waves: Waves, n: int, fs: float) -> np.ndarray:
    """Sum of the waves sampled at ``fs`` on samples 0..n-1: dipole signal [n, 3]."""
    out = np.zeros((n, 3))
    first = np.floor(waves.start * fs).astype(np.int64)
    last = np.ceil(waves.end * fs).astype(np.int64)
    keep = (last >= 0) & (first < n)
    if not keep.any():
        return out
    first, last = first[keep], last[keep]
    peak, vector = waves.peak[keep][:, None], waves.vector[keep]
    rise = (waves.peak - waves.start)[keep][:, None]
    fall = (waves.end - waves.peak)[keep][:, None]
    index = first[:, None] + np.arange(int((last - first).max()) + 1)
    t = index / fs
    u = np.where(t < peak, (peak - t) / rise, (t - peak) / fall)
    shape = np.clip(1.0 - u * u, 0.0, None) ** 2
    valid = (index >= 0) & (index < n) & (shape > 0)
    rows = np.nonzero(valid)[0]
    samples, weights = index[valid], shape[valid]
    for axis in range(3):
        out[:, axis] = np.bincount(samples, weights=weights * vector[rows, axis], minlength=n)
    return out


# Columns: start, peak, end (fractions of the complex's duration), dipole x, y, z.
_QRS_TEMPLATES: dict[str, np.ndarray] = {
    "normal": np.array(
        [
            [0.00, 0.16, 0.38, -0.18, 0.05, 0.16],
            [0.06, 0.34, 0.64, 0.30, 0.40, 0.36],
            [0.20, 0.52, 0.84, 0.62, 0.78, -0.45],
            [0.48, 0.78, 1.00, -0.20, -0.28, -0.40],
        ]
    ),
    "lbbb": np.array(
        [
            [0.00, 0.16, 0.36, 0.40, 0.15, -0.15],
            [0.12, 0.38, 0.62, 0.62, 0.40, -0.62],
            [0.46, 0.72, 1.00, 0.56, 0.14, -0.78],
        ]
    ),
    "rbbb": np.array(
        [
            [0.00, 0.09, 0.22, -0.20, 0.06, 0.20],
            [0.08, 0.30, 0.52, 0.62, 0.78, -0.45],
            [0.40, 0.71, 1.00, -0.60, -0.05, 0.60],
        ]
    ),
}
_PVC_TEMPLATES: tuple[np.ndarray, ...] = (
    np.array(
        [
            [0.00, 0.24, 0.50, 0.10, 0.20, -0.10],
            [0.18, 0.45, 0.72, 0.25, 0.90, -0.45],
            [0.48, 0.74, 1.00, 0.35, 0.18, -0.40],
        ]
    ),
    np.array(
        [
            [0.00, 0.24, 0.50, -0.08, -0.10, 0.14],
            [0.18, 0.45, 0.72, -0.45, -0.60, 0.65],
            [0.48, 0.74, 1.00, -0.35, 0.06, 0.30],
        ]
    ),
    np.array(
        [
            [0.00, 0.24, 0.50, 0.10, -0.14, 0.07],
            [0.18, 0.45, 0.72, 0.55, -0.65, -0.30],
            [0.48, 0.74, 1.00, 0.06, -0.30, -0.42],
        ]
    ),
)
"""Ectopic foci: right-ventricular outflow (inferior axis), left-ventricular free wall, apex."""

_P_TEMPLATE = np.array(
    [
        [0.00, 0.38, 0.72, 0.25, 0.75, 0.40],
        [0.28, 0.62, 1.00, 0.60, 0.55, -0.40],
    ]
)
"""Right atrium (anterior, inferior) then left atrium (leftward, posterior): biphasic P in V1."""

_KEEP_DIRECTION = {"rbbb": 1}
"""Trailing waves that an axis shift leaves alone: the late right-ventricular forces of RBBB."""

_SECONDARY_T_FROM = {"lbbb": slice(None), "rbbb": slice(-1, None), "pvc": slice(None)}
"""Waves a discordant T wave opposes: all of LBBB and ectopic beats, the late forces of RBBB."""


def _template_waves(table: np.ndarray, duration: float, rng: np.random.Generator) -> Waves:
    """Waves of a template over [0, duration] with each wave's peak, size and direction perturbed."""
    start, peak, end = table[:, 0].copy(), table[:, 1].copy(), table[:, 2].copy()
    peak = np.clip(peak + rng.uniform(-0.03, 0.03, len(peak)), start + 0.06, end - 0.06)
    vectors = []
    for row in table[:, 3:]:
        turn = rotation(rng.normal(size=3), rng.normal(0.0, 10.0))
        vectors.append(turn @ row * rng.lognormal(0.0, 0.12))
    return Waves(start * duration, peak * duration, end * duration, np.array(vectors))


def qrs_sizes(qrs: Waves, fs: float) -> tuple[float, float]:
    """Largest peak-to-peak amplitude (mV) of one complex over the six limb leads and over V1-V6."""
    leads = expand(project(render(qrs, int(np.ceil(qrs.end.max() * fs)) + 2, fs)))
    spans = np.ptp(leads, axis=1)
    return float(spans[:6].max()), float(spans[6:].max())


def qrs_axis(qrs: Waves, fs: float) -> float:
    """Frontal QRS axis (degrees) from the net (largest positive plus largest negative) I and aVF."""
    leads = expand(project(render(qrs, int(np.ceil(qrs.end.max() * fs)) + 2, fs)))
    net = leads.max(axis=1) + leads.min(axis=1)
    return float(frontal_axis(net[0], net[5]))


def orient_qrs(qrs: Waves, target: float, fs: float, fixed: int = 0) -> tuple[Waves, float]:
    """Turn a complex in the frontal plane so its axis (as :func:`qrs_axis` measures it) is nearest
    ``target``; returns the turned complex and its axis.

    The last ``fixed`` waves keep their direction: the delayed right-ventricular forces of right
    bundle branch block stay rightward when left-ventricular activation shifts the axis. The
    net-amplitude axis is not linear in the turn angle, so every whole degree is tried at once.
    """
    length = int(np.ceil(qrs.end.max() * fs)) + 2
    turning = len(qrs) - fixed
    moving = render(_subset(qrs, slice(0, turning)), length, fs)
    still = render(_subset(qrs, slice(turning, None)), length, fs) if fixed else np.zeros((length, 3))
    turns = np.radians(np.arange(-180.0, 180.0, 1.0))[:, None]
    x = np.cos(turns) * moving[:, 0] - np.sin(turns) * moving[:, 1] + still[:, 0]
    y = np.sin(turns) * moving[:, 0] + np.cos(turns) * moving[:, 1] + still[:, 1]
    axes = np.degrees(np.arctan2(y.max(1) + y.min(1), x.max(1) + x.min(1)))
    best = int(np.argmin(np.abs(wrap_degrees(axes - target))))
    turn = frontal_rotation(float(np.degrees(turns[best, 0])))
    vectors = qrs.vector.copy()
    vectors[:turning] = vectors[:turning] @ turn.T
    return Waves(qrs.start, qrs.peak, qrs.end, vectors), float(axes[best])


def _subset(waves: Waves, part: slice) -> Waves:
    return Waves(waves.start[part], waves.peak[part], waves.end[part], waves.vector[part])


def r_peak_offset(qrs: Waves, fs: float) -> float:
    """Time (s from the complex's onset) of the largest summed power over the 12 leads."""
    leads = expand(project(render(qrs, int(np.ceil(qrs.end.max() * fs)) + 2, fs)))
    return float(np.argmax((leads**2).sum(axis=0)) / fs)


def mean_vector(waves: Waves) -> np.ndarray:
    """Time integral of the waves' dipole divided by their span: the mean vector of the complex."""
    area = (waves.end - waves.start)[:, None] * waves.vector
    return area.sum(axis=0) / waves.duration


@dataclass(frozen=True)
class BeatShape:
    """The waves of one kind of beat in one record.

    ``qrs`` is timed from the QRS onset, ``p`` (None without atrial activation) from the P onset. The
    T wave is one asymmetric bump along ``t_vector`` whose timing follows each beat's QT interval;
    ``t_rise`` is the fraction of its duration before the peak. ``r_offset`` is the R peak's time
    after the QRS onset.
    """

    qrs: Waves
    p: Waves | None
    t_vector: np.ndarray
    t_rise: float
    r_offset: float
    axis: float

    @property
    def qrs_duration(self) -> float:
        return self.qrs.duration


def p_waves(duration: float, axis: float, size: float, rng: np.random.Generator, turn: np.ndarray) -> Waves:
    """Atrial depolarisation over [0, duration] with frontal axis ``axis`` and peak dipole ``size``."""
    waves = _template_waves(_P_TEMPLATE, duration, rng).transformed(turn)
    waves = waves.transformed(frontal_rotation(axis - frontal_angle(waves.vector.sum(axis=0))))
    return waves.scaled(size / np.linalg.norm(waves.vector, axis=1).max())


def sinus_beat(
    kind: str,
    duration: float,
    axis: float,
    size: tuple[float, float, float],
    t_kind: str,
    t_size: float,
    p: Waves | None,
    turn: np.ndarray,
    rng: np.random.Generator,
    fs: float,
) -> BeatShape:
    """A supraventricular beat: QRS of ``kind`` (normal, lbbb, rbbb) with frontal axis ``axis``; T wave
    ``t_kind`` (normal, flat, inverted, secondary).

    ``size`` is (limb, chest, floor): the QRS is scaled so its largest limb-lead amplitude is ``limb``
    unless the precordial leads would then exceed ``chest``, in which case it is scaled down, but
    not below a limb-lead amplitude of ``floor``. ``turn`` is the heart's orientation in the chest (a
    rotation applied to every wave).
    """
    qrs = _template_waves(_QRS_TEMPLATES[kind], duration, rng).transformed(turn)
    qrs, measured = orient_qrs(qrs, axis, fs, fixed=_KEEP_DIRECTION.get(kind, 0))
    limb_target, chest_cap, floor = size
    limb, chest = qrs_sizes(qrs, fs)
    qrs = qrs.scaled(max(min(limb_target / limb, chest_cap / chest), floor / limb))
    if t_kind == "secondary":
        opposed = mean_vector(_subset(qrs, _SECONDARY_T_FROM[kind]))
        direction = -opposed / np.linalg.norm(opposed)
    else:
        t_axis = np.radians(np.clip(measured, 15.0, 55.0) + rng.uniform(-10.0, 10.0))
        direction = turn @ np.array([np.cos(t_axis), np.sin(t_axis), rng.uniform(0.1, 0.5)])
        direction /= np.linalg.norm(direction)
        if t_kind == "inverted":
            direction = -direction
    return BeatShape(
        qrs=qrs,
        p=p,
        t_vector=direction * t_size,
        t_rise=float(rng.uniform(0.58, 0.68)),
        r_offset=r_peak_offset(qrs, fs),
        axis=measured,
    )


def ectopic_beat(
    duration: float, size: float, turn: np.ndarray, rng: np.random.Generator, fs: float
) -> BeatShape:
    """A ventricular premature beat from a random focus: broad, no P, discordant T; ``size`` is the
    peak dipole magnitude."""
    table = _PVC_TEMPLATES[int(rng.integers(len(_PVC_TEMPLATES)))]
    focus = turn @ rotation(rng.normal(size=3), rng.normal(0, 20))
    qrs = _template_waves(table, duration, rng).transformed(focus)
    qrs = qrs.scaled(size / np.linalg.norm(render(qrs, int(np.ceil(duration * fs)) + 2, fs), axis=1).max())
    opposed = mean_vector(qrs)
    t_vector = -opposed / np.linalg.norm(opposed) * size * rng.uniform(0.3, 0.45)
    return BeatShape(
        qrs=qrs,
        p=None,
        t_vector=t_vector,
        t_rise=float(rng.uniform(0.45, 0.6)),
        r_offset=r_peak_offset(qrs, fs),
        axis=qrs_axis(qrs, fs),
    )


def t_waves(shape: BeatShape, onsets: np.ndarray, offsets: np.ndarray, gains: np.ndarray) -> Waves:
    """One T wave per beat over [onset, offset) along the shape's T vector."""
    peaks = onsets + shape.t_rise * (offsets - onsets)
    return Waves(onsets, peaks, offsets, gains[:, None] * shape.t_vector[None])
