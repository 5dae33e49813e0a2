"""Scaling maps for display and comparison: normalisation, polarity and smoothing.

A raw map's scale depends on the method (attention sums to 1, attributions are in logit units), so
maps are compared and drawn after :func:`normalise`: divided by their largest magnitude over the
whole record (``scope="record"``, keeping the relative importance of leads) or over each lead
(``scope="lead"``, showing where within every lead). ``polarity="signed"`` keeps the sign and gives
values in [-1, 1]; ``"positive"`` gives [0, 1]. Left as None it is read from the data: signed when
any value is negative. A map that is zero (or NaN) everywhere raises :class:`EmptyMapError`.
"""

from __future__ import annotations

import warnings
from typing import Literal

import numpy as np
import pandas as pd

Polarity = Literal["signed", "positive"]
Scope = Literal["record", "lead"]
POLARITIES = ("signed", "positive")
SCOPES = ("record", "lead")


class EmptyMapError(ValueError):
    """A map with no non-zero finite value: nothing to normalise or draw."""


def _label(frame: pd.DataFrame) -> str:
    parts = [str(frame.attrs[key]) for key in ("record", "method", "class") if frame.attrs.get(key)]
    return " ".join(parts) or "map"


def infer_polarity(frame: pd.DataFrame) -> Polarity:
    """``"signed"`` when any finite value is negative, else ``"positive"``."""
    values = frame.to_numpy(dtype=np.float64)
    finite = values[np.isfinite(values)]
    return "signed" if finite.size and finite.min() < 0 else "positive"


def smooth(frame: pd.DataFrame, seconds: float) -> pd.DataFrame:
    """Centred moving average over ``seconds`` (NaN samples are skipped, not spread)."""
    if seconds <= 0:
        raise ValueError(f"smoothing window must be positive, got {seconds} s")
    fs = _rate(frame)
    window = max(1, int(round(seconds * fs)))
    if window == 1:
        return frame.copy()
    smoothed = frame.rolling(window, center=True, min_periods=1).mean()
    smoothed[frame.isna()] = np.nan
    smoothed.attrs = dict(frame.attrs)
    return smoothed


def _rate(frame: pd.DataFrame) -> float:
    fs = frame.attrs.get("fs")
    if fs:
        return float(fs)
    times = np.asarray(frame.index, dtype=np.float64)
    if times.size < 2 or not times[1] > times[0]:
        raise ValueError(f"{_label(frame)}: cannot tell the sampling rate (no 'fs' attribute, no time index)")
    return 1.0 / (times[1] - times[0])


def normalise(
    frame: pd.DataFrame,
    scope: Scope = "record",
    polarity: Polarity | None = None,
    absolute: bool = False,
    smooth_seconds: float | None = None,
    quantile: float = 1.0,
) -> pd.DataFrame:
    """A copy of ``frame`` scaled into [-1, 1] (signed) or [0, 1] (positive).

    Order: absolute value (when asked), smoothing, then division by the largest magnitude over the
    record or over each lead (a lead that is zero everywhere stays zero). With ``quantile`` below 1
    the divisor is that quantile of the magnitudes instead (the maximum where the quantile is 0)
    and larger values are clipped to +-1: one extreme sample, common in gradient maps, then does
    not flatten the rest. The chosen polarity is stored in ``attrs["polarity"]``.
    ``polarity="positive"`` on a map with negative values is an error: pass ``absolute=True`` to
    draw magnitudes instead.
    """
    if not 0.0 < quantile <= 1.0:
        raise ValueError(f"quantile must lie in (0, 1], got {quantile}")
    if scope not in SCOPES:
        raise ValueError(f"scope must be one of {SCOPES}, got {scope!r}")
    if polarity is not None and polarity not in POLARITIES:
        raise ValueError(f"polarity must be one of {POLARITIES} or None, got {polarity!r}")
    out = frame.astype(np.float64)
    out.attrs = dict(frame.attrs)
    if absolute:
        out = out.abs()
        out.attrs = dict(frame.attrs)
    if smooth_seconds:
        out = smooth(out, smooth_seconds)
    values = out.to_numpy()
    finite = np.isfinite(values)
    if not finite.any() or not np.any(values[finite] != 0):
        raise EmptyMapError(f"{_label(frame)}: the map is zero everywhere; there is nothing to show")
    found = infer_polarity(out)
    if polarity == "positive" and found == "signed":
        raise ValueError(
            f"{_label(frame)}: the map has negative values; use polarity='signed' or absolute=True"
        )
    polarity = polarity or found
    axis = 0 if scope == "lead" else None
    peak = np.abs(np.where(finite, values, 0.0)).max(axis=axis, keepdims=True)
    if quantile < 1.0:
        with warnings.catch_warnings():  # a lead without finite values has no quantile
            warnings.simplefilter("ignore", RuntimeWarning)
            level = np.nanquantile(
                np.where(finite, np.abs(values), np.nan), quantile, axis=axis, keepdims=True
            )
        peak = np.where(level > 0, level, peak)
    scaled = np.divide(values, peak, out=np.zeros_like(values), where=peak > 0)
    scaled = np.clip(scaled, -1.0, 1.0)
    scaled[~finite] = np.nan
    result = pd.DataFrame(scaled, index=frame.index, columns=frame.columns)
    result.attrs = {
        **frame.attrs,
        "polarity": polarity,
        "scope": scope,
        "absolute": absolute,
        "quantile": quantile,
    }
    return result
