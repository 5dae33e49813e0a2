"""Recording noise at the nine electrodes, combined into the leads as the wiring combines it.

Each electrode (RA, LA, LL, V1-V6) picks up its own baseline wander (breathing and slow electrode
drift), muscle activity (band-limited 20-150 Hz noise whose strength waxes and wanes, stronger on the
limbs) and mains interference (50 or 60 Hz with a third harmonic, at a different phase per
electrode), plus a small amplifier noise floor. Leads are differences of electrode potentials
(I = LA - RA, II = LL - RA, Vi = Ci - Wilson's central terminal), so noise obeys the same lead
identities as the heart's signal.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np


@dataclass(frozen=True)
class NoiseLevels:
    """Per-record noise sizes at one electrode (mV): spread of drift, breathing sway, muscle
    activity and mains pick-up, and the mains frequency (Hz)."""

    wander: float
    breathing: float
    muscle: float
    mains: float
    mains_hz: float

    def to_dict(self) -> dict[str, float]:
        return {k: round(float(v), 5) for k, v in asdict(self).items()}


def _log_uniform(rng: np.random.Generator, low: float, high: float) -> float:
    return float(np.exp(rng.uniform(np.log(low), np.log(high))))


def sample_levels(rng: np.random.Generator) -> NoiseLevels:
    """Noise sizes for one record, log-uniform over ranges seen in resting 12-lead recordings."""
    return NoiseLevels(
        wander=_log_uniform(rng, 0.01, 0.12),
        breathing=_log_uniform(rng, 0.005, 0.06),
        muscle=_log_uniform(rng, 0.002, 0.025),
        mains=0.0 if rng.random() < 0.5 else _log_uniform(rng, 0.002, 0.02),
        mains_hz=50.0 if rng.random() < 0.5 else 60.0,
    )


def _band_noise(
    rows: int, n: int, fs: float, low: float, high: float, rng: np.random.Generator, slope: float = 0.0
) -> np.ndarray:
    """Random noise [rows, n] with power only between ``low`` and ``high`` Hz (amplitude spectrum
    tilted by f**-slope), unit standard deviation per row; drawn directly in the frequency domain."""
    freqs = np.fft.rfftfreq(n, 1.0 / fs)
    band = np.flatnonzero((freqs >= low) & (freqs <= high) & (freqs > 0) & (freqs < fs / 2))
    if len(band) == 0:
        return np.zeros((rows, n))
    coefficients = rng.standard_normal((rows, len(band))) + 1j * rng.standard_normal((rows, len(band)))
    coefficients *= freqs[band] ** -slope
    spectrum = np.zeros((rows, len(freqs)), dtype=complex)
    spectrum[:, band] = coefficients
    power = 2.0 * (np.abs(coefficients) ** 2).sum(axis=1, keepdims=True) / n**2  # Parseval
    return np.fft.irfft(spectrum, n=n, axis=-1) / np.sqrt(power)


def _sinusoids(t: np.ndarray, hz: float, amplitude: np.ndarray, phase: np.ndarray) -> np.ndarray:
    """Rows ``amplitude[i] * sin(2 pi hz t + phase[i])`` built from one sine and one cosine."""
    angle = 2 * np.pi * hz * t
    return np.outer(amplitude * np.cos(phase), np.sin(angle)) + np.outer(
        amplitude * np.sin(phase), np.cos(angle)
    )


_LIMB, _CHEST = slice(0, 3), slice(3, 9)


def electrode_noise(
    levels: NoiseLevels, n: int, fs: float, resp_hz: float, rng: np.random.Generator
) -> np.ndarray:
    """Noise [8, n] (mV) in leads I, II, V1-V6 from independent noise at the nine electrodes."""
    t = np.arange(n) / fs
    drift = _band_noise(9, n, fs, 0.02, 0.6, rng, slope=1.0) * (levels.wander * rng.uniform(0.3, 1.2, (9, 1)))
    sway = rng.uniform(0.3, 1.0, 9) * levels.breathing
    sway[_CHEST] *= 1.5
    breathing = _sinusoids(t, resp_hz, sway, rng.uniform(0, 2 * np.pi, 9))
    muscle = _band_noise(9, n, fs, 20.0, min(150.0, 0.45 * fs), rng) * levels.muscle
    muscle[_CHEST] *= 0.5
    muscle *= np.clip(1.0 + 0.8 * _band_noise(1, n, fs, 0.05, 1.0, rng), 0.2, None)
    electrodes = drift + breathing + muscle
    if levels.mains > 0 and levels.mains_hz < fs / 2:
        size = levels.mains * rng.uniform(0.5, 1.5, 9)
        phase = rng.uniform(0, 2 * np.pi, 9)
        electrodes += _sinusoids(t, levels.mains_hz, size, phase)
        if 3 * levels.mains_hz < fs / 2:
            electrodes += _sinusoids(t, 3 * levels.mains_hz, 0.2 * size, 3 * phase)
    ra, la, ll = electrodes[0], electrodes[1], electrodes[2]
    central = (ra + la + ll) / 3.0
    leads = np.concatenate([np.stack([la - ra, ll - ra]), electrodes[_CHEST] - central])
    return leads + 0.002 * rng.standard_normal(leads.shape)
