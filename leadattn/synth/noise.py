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


def _band(white: np.ndarray, fs: float, low: float, high: float, slope: float = 0.0) -> np.ndarray:
    """White noise [..., n] kept between ``low`` and ``high`` Hz (spectrum tilted by f**-slope),
    scaled to unit standard deviation per row."""
    spectrum = np.fft.rfft(white, axis=-1)
    freqs = np.fft.rfftfreq(white.shape[-1], 1.0 / fs)
    gain = ((freqs >= low) & (freqs <= high)) / np.maximum(freqs, low) ** slope
    out = np.fft.irfft(spectrum * gain, n=white.shape[-1], axis=-1)
    return out / np.maximum(out.std(axis=-1, keepdims=True), 1e-12)


_LIMB, _CHEST = slice(0, 3), slice(3, 9)


def electrode_noise(
    levels: NoiseLevels, n: int, fs: float, resp_hz: float, rng: np.random.Generator
) -> np.ndarray:
    """Noise [8, n] (mV) in leads I, II, V1-V6 from independent noise at the nine electrodes."""
    t = np.arange(n) / fs
    white = rng.standard_normal((3, 9, n))
    drift = _band(white[0], fs, 0.02, 0.6, slope=1.0) * levels.wander * rng.uniform(0.3, 1.2, (9, 1))
    sway = rng.uniform(0.3, 1.0, (9, 1)) * levels.breathing
    sway[_CHEST] *= 1.5
    breathing = sway * np.sin(2 * np.pi * resp_hz * t + rng.uniform(0, 2 * np.pi, (9, 1)))
    muscle = _band(white[1], fs, 20.0, min(150.0, 0.45 * fs)) * levels.muscle
    muscle[_CHEST] *= 0.5
    burst = _band(rng.standard_normal(n), fs, 0.05, 1.0)
    muscle *= np.clip(1.0 + 0.8 * burst, 0.2, None)
    mains = np.zeros((9, n))
    if levels.mains > 0 and levels.mains_hz < fs / 2:
        size = levels.mains * rng.uniform(0.5, 1.5, (9, 1))
        phase = rng.uniform(0, 2 * np.pi, (9, 1))
        mains = size * np.sin(2 * np.pi * levels.mains_hz * t + phase)
        if 3 * levels.mains_hz < fs / 2:
            mains += 0.2 * size * np.sin(2 * np.pi * 3 * levels.mains_hz * t + 3 * phase)
    floor = 0.002 * white[2]
    electrodes = drift + breathing + muscle + mains + floor
    ra, la, ll = electrodes[0], electrodes[1], electrodes[2]
    central = (ra + la + ll) / 3.0
    return np.concatenate([np.stack([la - ra, ll - ra]), electrodes[_CHEST] - central])
