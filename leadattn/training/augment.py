"""Training-time augmentation of preprocessed crops ``[12, T]`` (per-lead z-scored signals).

Waveform changes mimic what differs between real recordings: gain (one factor for all leads, so the
leads stay consistent with each other: III = II - I still holds), baseline wander (slow sinusoids, one
amplitude per lead), broadband noise, mains interference at 50 or 60 Hz, and a shift earlier in time
whose freed tail becomes padding (the crop's valid length shrinks, so the model skips it rather than
reading zeros as signal). Each is applied with ``probability``; amplitudes are in units of the
standardised signal. Lead-subset dropout keeps only the leads of one challenge subset (12, 6, 4, 3 or 2
leads, drawn by ``lead_subset_weights``) so that a single model learns to serve them all.

Every random draw comes from the ``numpy.random.Generator`` passed in, so a crop's augmentation is fixed
by the seed the dataset derives for it.
"""

from __future__ import annotations

import numpy as np

from leadattn.leads import lead_mask
from leadattn.training.config import AugmentConfig

_WANDER_HZ = (0.05, 0.5)
_MAINS_HZ = (50.0, 60.0)


class Augmenter:
    """Apply the augmentations of an :class:`AugmentConfig` to signals sampled at ``fs``."""

    def __init__(self, config: AugmentConfig, fs: float) -> None:
        self.config = config
        self.fs = float(fs)
        self.subset_masks = np.stack([lead_mask(size) for size in config.lead_subsets])
        weights = np.asarray(config.lead_subset_weights, dtype=np.float64)
        self.subset_probabilities = weights / weights.sum()

    def __call__(
        self, x: np.ndarray, mask: np.ndarray, length: int, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray, int]:
        """Augmented copy of ``x`` [12, T] whose first ``length`` samples are signal, its new lead
        mask [12] and its new valid length."""
        if not self.config.enabled:
            return x, mask, length
        x, length = self.waveform(np.array(x, dtype=np.float32, copy=True), length, rng)
        mask = self.lead_subset(mask, rng)
        x[~mask] = 0.0
        return x, mask, length

    def waveform(self, x: np.ndarray, length: int, rng: np.random.Generator) -> tuple[np.ndarray, int]:
        """Gain, baseline wander, Gaussian and mains noise and time shift, each with its probability;
        returns the signal and its valid length."""
        c = self.config
        leads, n = x.shape
        t = np.arange(n, dtype=np.float64) / self.fs
        if c.amplitude > 0 and rng.random() < c.probability:
            x *= np.float32(rng.uniform(1.0 - c.amplitude, 1.0 + c.amplitude))
        if c.baseline_wander > 0 and rng.random() < c.probability:
            freq = rng.uniform(*_WANDER_HZ, size=(2, 1))
            phase = rng.uniform(0.0, 2 * np.pi, size=(2, 1))
            wave = np.sin(2 * np.pi * freq * t + phase).sum(axis=0) / 2.0
            x += (rng.uniform(0.0, c.baseline_wander, size=(leads, 1)) * wave).astype(np.float32)
        if c.gaussian_noise > 0 and rng.random() < c.probability:
            sigma = rng.uniform(0.0, c.gaussian_noise)
            x += rng.normal(0.0, sigma, size=x.shape).astype(np.float32)
        if c.mains_noise > 0 and rng.random() < c.probability:
            freq = _MAINS_HZ[int(rng.integers(len(_MAINS_HZ)))]
            if freq < self.fs / 2:
                wave = np.sin(2 * np.pi * freq * t + rng.uniform(0.0, 2 * np.pi))
                x += (rng.uniform(0.0, c.mains_noise, size=(leads, 1)) * wave).astype(np.float32)
        if c.time_shift_seconds > 0 and rng.random() < c.probability:
            limit = min(int(round(c.time_shift_seconds * self.fs)), length - 1)
            samples = int(rng.integers(0, limit + 1))
            x, length = shift(x, -samples), length - samples
        return x, length

    def lead_subset(self, mask: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """The record's lead mask restricted to one randomly drawn challenge subset.

        A subset that shares no lead with the record leaves the record's own leads.
        """
        choice = int(rng.choice(len(self.subset_masks), p=self.subset_probabilities))
        kept = mask & self.subset_masks[choice]
        return kept if kept.any() else mask.copy()


def shift(x: np.ndarray, samples: int) -> np.ndarray:
    """``x`` [leads, T] moved later by ``samples`` (earlier when negative), zero-filled."""
    if samples == 0:
        return x
    out = np.zeros_like(x)
    if abs(samples) >= x.shape[1]:
        return out
    if samples > 0:
        out[:, samples:] = x[:, :-samples]
    else:
        out[:, :samples] = x[:, -samples:]
    return out
