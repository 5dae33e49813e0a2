"""When each beat happens: sinus and atrial-fibrillation timing, premature ventricular beats, QT.

Sinus rhythm: the sinus node fires at the set rate, modulated by breathing (respiratory sinus
arrhythmia) and a little beat-to-beat jitter; each P wave starts at a firing and its QRS follows after
the PR interval. A ventricular premature beat comes early (coupling interval 50-70 % of the sinus
cycle), and the sinus beat it replaces does not conduct, so the next sinus beat keeps its time: the
coupling interval plus the pause equal two sinus cycles (a full compensatory pause). Atrial
fibrillation has no organised atrial activation; the ventricles follow irregularly irregular RR
intervals (log-normal, never shorter than the refractory period), and the atria add fibrillatory
waves. QT follows the preceding RR interval
by Fridericia's correction, QT = QTc * RR ** (1/3), lengthened by any widening of the QRS.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Schedule:
    """Beat times in seconds from the record's start (some beats start before it or end after it).

    ``p_onset`` is NaN for beats without a P wave; ``ectopic`` marks ventricular premature beats.
    """

    qrs_onset: np.ndarray
    p_onset: np.ndarray
    ectopic: np.ndarray
    rr_before: np.ndarray


def _covering(intervals: np.ndarray, first: float, seconds: float) -> np.ndarray:
    """Cumulative times from ``first`` until one beyond ``seconds``."""
    times = first + np.concatenate([[0.0], np.cumsum(intervals)])
    return times[: int(np.searchsorted(times, seconds + 1.0)) + 1]


def sinus_schedule(
    rate: float, arrhythmia: float, resp_hz: float, pr: float, seconds: float, rng: np.random.Generator
) -> Schedule:
    """Sinus rhythm at ``rate`` bpm with respiratory modulation of relative size ``arrhythmia``."""
    cycle = 60.0 / rate
    count = int(np.ceil((seconds + 3.0) / (cycle * 0.9))) + 3
    first = -pr - rng.uniform(0.2, 1.2) * cycle
    approx = first + cycle * np.arange(count)
    phase = rng.uniform(0, 2 * np.pi)
    cycles = cycle * (
        1.0 + arrhythmia * np.sin(2 * np.pi * resp_hz * approx + phase) + rng.normal(0.0, 0.006, count)
    )
    p_onset = _covering(cycles, first, seconds)
    qrs_onset = p_onset + pr
    rr = np.diff(qrs_onset, prepend=qrs_onset[0] - cycle)
    return Schedule(qrs_onset, p_onset, np.zeros(len(qrs_onset), dtype=bool), rr)


def af_schedule(
    rate: float, variation: float, qtc: float, widening: float, seconds: float, rng: np.random.Generator
) -> Schedule:
    """Irregularly irregular ventricular response with mean rate ``rate`` and RR spread ``variation``.

    Intervals are log-normal, but no beat comes before the ventricles have repolarised from the
    previous one (its QT plus 60 ms).
    """
    mean = 60.0 / rate
    sigma = np.sqrt(np.log1p(variation**2))
    count = int(np.ceil((seconds + 3.0) / (mean * 0.5))) + 3
    drawn = mean * rng.lognormal(-(sigma**2) / 2, sigma, count)
    rr = np.empty(count)
    previous = mean
    for i, interval in enumerate(drawn):
        previous = rr[i] = max(interval, float(qt_intervals(np.array([previous]), qtc, widening)[0]) + 0.06)
    qrs_onset = _covering(rr, -rng.uniform(0.3, 1.3) * mean, seconds)
    before = np.diff(qrs_onset, prepend=qrs_onset[0] - mean)
    return Schedule(qrs_onset, np.full(len(qrs_onset), np.nan), np.zeros(len(qrs_onset), dtype=bool), before)


def add_premature_beats(
    schedule: Schedule, count: int, bigeminy: bool, qt: float, seconds: float, rng: np.random.Generator
) -> Schedule:
    """Replace sinus beats by ventricular premature beats, with their pauses inside the record where it
    is long enough. Raises ``ValueError`` when the record cannot hold one.

    Each chosen beat loses its P wave and comes early; the beats around it keep their times. In
    bigeminy every other beat is premature. The coupling interval is 50-70 % of the cycle and, where
    that leaves room, at least ``qt`` + 20 ms so the beat falls after the previous T wave.
    """
    onsets = schedule.qrs_onset
    cycle = float(np.median(np.diff(onsets)))
    candidates = np.flatnonzero((onsets - cycle > 0.25) & (onsets + cycle < seconds - 0.6))
    if len(candidates) == 0:  # a short record: the pause may run past its end
        candidates = np.flatnonzero((np.arange(len(onsets)) > 0) & (onsets > 0.1) & (onsets < seconds - 0.3))
    if len(candidates) == 0:
        raise ValueError(f"a {seconds:g} s record at {60 / cycle:.0f} bpm is too short for a premature beat")
    if bigeminy:
        start = int(rng.integers(2))
        chosen = candidates[start::2]
    else:
        chosen = []
        for index in rng.permutation(candidates):
            if len(chosen) == count:
                break
            if all(abs(index - c) > 1 for c in chosen):
                chosen.append(int(index))
        chosen = np.sort(np.array(chosen, dtype=int))
    qrs_onset, p_onset = onsets.copy(), schedule.p_onset.copy()
    ectopic = schedule.ectopic.copy()
    for index in chosen:
        coupling = max(rng.uniform(0.5, 0.7) * cycle, min(qt + 0.02, 0.7 * cycle))
        qrs_onset[index] = onsets[index - 1] + coupling
        p_onset[index] = np.nan
        ectopic[index] = True
    rr = np.diff(qrs_onset, prepend=qrs_onset[0] - cycle)
    return Schedule(qrs_onset, p_onset, ectopic, rr)


def qt_intervals(rr_before: np.ndarray, qtc: float, widening: np.ndarray | float = 0.0) -> np.ndarray:
    """QT of each beat from its preceding RR interval (Fridericia), plus QRS widening."""
    return qtc * np.cbrt(np.clip(rr_before, 0.25, 2.0)) + widening


def _wander(t: np.ndarray, rng: np.random.Generator, low: float, high: float, parts: int = 4) -> np.ndarray:
    """A smooth random signal of about unit spread: a few sinusoids between ``low`` and ``high`` Hz."""
    freqs = rng.uniform(low, high, parts)[:, None]
    phases = rng.uniform(0, 2 * np.pi, parts)[:, None]
    return np.sin(2 * np.pi * freqs * t + phases).sum(axis=0) / np.sqrt(parts / 2)


_F_WAVE_DIRECTIONS = (np.array([-0.3, 0.55, 0.8]), np.array([0.5, 0.75, -0.2]))


def fibrillatory_waves(n: int, fs: float, amplitude: float, rng: np.random.Generator) -> np.ndarray:
    """Atrial fibrillatory activity as a dipole signal [n, 3].

    Two wavelets, each a non-sinusoidal oscillation near 4.5-9 Hz whose rate and size wander
    within a second or two, pointing mostly anterior-inferior and leftward-inferior, so the sum is
    irregular in shape and timing and shows best in V1 and the inferior leads.
    """
    t = np.arange(n) / fs
    base = rng.uniform(4.5, 7.0)
    out = np.zeros((n, 3))
    for k, direction in enumerate(_F_WAVE_DIRECTIONS):
        frequency = base * (1.0 + k * rng.uniform(0.1, 0.3)) + 0.7 * _wander(t, rng, 0.1, 1.5)
        phase = 2 * np.pi * np.cumsum(frequency) / fs + rng.uniform(0, 2 * np.pi)
        wave = np.sin(phase) + rng.uniform(0.2, 0.45) * np.sin(2 * phase + rng.uniform(0, 2 * np.pi))
        envelope = amplitude * np.clip(1.0 + 0.5 * _wander(t, rng, 0.1, 1.0), 0.1, None)
        out += (envelope * wave)[:, None] * (direction / np.linalg.norm(direction))
    return out


def t_wave_bounds(qrs_onset: np.ndarray, qt: np.ndarray, qrs_duration: float, ectopic: bool) -> tuple:
    """Onset and offset (s) of each beat's T wave: it ends at QRS onset + QT.

    A supraventricular T wave takes at most 45 % of QT and leaves an ST segment of at least 40 ms; an
    ectopic beat's T wave follows its QRS after 20 ms.
    """
    offset = qrs_onset + qt
    if ectopic:
        onset = qrs_onset + qrs_duration + 0.02
    else:
        onset = offset - np.minimum(0.45 * qt, qt - qrs_duration - 0.04)
    return onset, offset
