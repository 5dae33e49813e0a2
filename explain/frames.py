"""Per-lead maps as pandas DataFrames aligned with the record they explain.

A frame has one column per explained lead, named exactly as in ``record.leads``, one row per sample
of the record at the record's own rate, and a time index in seconds (``time_s``). Samples the model
did not see (past the checkpoint's ``max_seconds``) are NaN. Metadata (record, method, class,
output, ...) travels in ``frame.attrs``.

Maps are computed at the model's rate and resolution and brought to the record's samples here:
token-level maps are linearly interpolated between token centres, model-rate maps between sample
times. ``mass=True`` treats values as amounts to be shared out (attention mass, attributions whose
sum means something): each lead's total is kept; otherwise values are interpolated as they are.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from explain.inputs import ExplainInput
from leadattn.data import Record

TIME_INDEX = "time_s"


def token_centres(stride: int, receptive_field: int, offset: int, num_tokens: int) -> np.ndarray:
    """Input-sample position of the centre of each token's receptive field."""
    return offset + np.arange(num_tokens) * stride + (receptive_field - 1) / 2.0


def tokens_to_samples(values: np.ndarray, geometry: Any, samples: int, mass: bool) -> np.ndarray:
    """Spread token values ``[rows, N]`` over ``samples`` input samples: ``[rows, samples]``.

    ``geometry`` is a :class:`leadattn.models.TokenGeometry` (stride, receptive field, offset).
    With ``mass``, each token's value is an amount: it becomes a density of value / stride per
    sample, interpolated between token centres, and every row is rescaled to its token total.
    """
    values = np.asarray(values, dtype=np.float64)
    centres = token_centres(geometry.stride, geometry.receptive_field, geometry.offset, values.shape[1])
    positions = np.arange(samples, dtype=np.float64)
    scale = 1.0 / geometry.stride if mass else 1.0
    out = np.stack([np.interp(positions, centres, row * scale) for row in values])
    return _keep_totals(out, values.sum(axis=1)) if mass else out


def _keep_totals(out: np.ndarray, totals: np.ndarray) -> np.ndarray:
    sums = out.sum(axis=1)
    factor = np.divide(totals, sums, out=np.zeros_like(totals), where=sums != 0)
    return out * factor[:, None]


def to_record_frame(values: np.ndarray, inp: ExplainInput, mass: bool, **attrs: Any) -> pd.DataFrame:
    """A frame for ``inp.record`` from a model-rate map ``[12, n]`` (canonical lead slots)."""
    rows = np.asarray(values, dtype=np.float64)[inp.rows]
    record = inp.record
    if rows.shape[1] != inp.samples:
        raise ValueError(f"{record.name}: map has {rows.shape[1]} samples, the model input {inp.samples}")
    covered = inp.covered
    if covered == inp.samples and np.isclose(record.fs, inp.fs):
        mapped = rows
    else:
        model_times = np.arange(inp.samples) / inp.fs
        record_times = np.arange(covered) / record.fs
        ratio = inp.fs / record.fs
        mapped = np.stack([np.interp(record_times, model_times, row) * ratio for row in rows])
        if mass:
            mapped = _keep_totals(mapped, rows.sum(axis=1))
    out = np.full((len(inp.leads), record.signal.shape[1]), np.nan)
    out[:, :covered] = mapped
    frame = make_frame(out, inp.leads, record.fs)
    frame.attrs.update({"record": record.name, "fs": float(record.fs), "leads": list(inp.leads), **attrs})
    return frame


def make_frame(values: np.ndarray, leads: tuple[str, ...] | list[str], fs: float) -> pd.DataFrame:
    """A frame from ``values`` ``[leads, samples]`` sampled at ``fs``."""
    values = np.asarray(values, dtype=np.float64)
    index = pd.Index(np.arange(values.shape[1]) / float(fs), name=TIME_INDEX)
    return pd.DataFrame(values.T, index=index, columns=list(leads))


def check_frame(frame: pd.DataFrame, record: Record) -> pd.DataFrame:
    """Validate that ``frame`` belongs to ``record``; returns it with columns in the record's order.

    Raises ``ValueError`` naming the record when a column is not one of the record's leads, a lead
    appears twice, the number of rows differs from the record's samples, or values are not numeric.
    """
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"{record.name}: expected a pandas DataFrame, got {type(frame).__name__}")
    columns = [str(c) for c in frame.columns]
    if not columns:
        raise ValueError(f"{record.name}: the map has no lead columns")
    duplicated = sorted({c for c in columns if columns.count(c) > 1})
    if duplicated:
        raise ValueError(f"{record.name}: lead column(s) {', '.join(duplicated)} appear twice in the map")
    unknown = [c for c in columns if c not in record.leads]
    if unknown:
        raise ValueError(
            f"{record.name}: map column(s) {', '.join(unknown)} are not leads of the record "
            f"({', '.join(record.leads)})"
        )
    samples = record.signal.shape[1]
    if len(frame) != samples:
        raise ValueError(f"{record.name}: the map has {len(frame)} rows, the record {samples} samples")
    if not all(pd.api.types.is_numeric_dtype(dtype) for dtype in frame.dtypes):
        raise ValueError(f"{record.name}: map values must be numeric")
    ordered = [lead for lead in record.leads if lead in columns]
    checked = frame.copy()
    checked.columns = columns
    return checked[ordered]
