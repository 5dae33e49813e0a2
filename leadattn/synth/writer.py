"""Writing a record in the PhysioNet/CinC Challenge 2021 format: a WFDB header and a MATLAB v4 file.

The ``.mat`` holds one int16 matrix ``val`` [leads, samples] in ADC units (1000 per mV). MATLAB v4
stores it column by column after a 20-byte header and the name ``val\\0``, so the samples of all leads
are interleaved from byte 24 on, which is what the header's ``16x1+24`` (WFDB format 16, offset 24)
tells WFDB readers. Signal lines carry each lead's first sample and the 16-bit checksum of its
samples, as the challenge's files do.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from leadattn.leads import LEADS

ADC_GAIN = 1000.0
"""ADC units per mV."""

_MAT_INT16 = 30  # MATLAB v4 type: little-endian, 16-bit signed integers, full numeric matrix


def _format_number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def to_adc(signal_mv: np.ndarray, name: str) -> np.ndarray:
    """Round a signal in mV to int16 ADC units; ``ValueError`` if it does not fit."""
    adc = np.rint(np.asarray(signal_mv, dtype=np.float64) * ADC_GAIN)
    if not np.isfinite(adc).all():
        raise ValueError(f"{name}: signal has NaN or infinite samples")
    limit = np.iinfo(np.int16)
    if adc.min() < limit.min or adc.max() > limit.max:
        raise ValueError(
            f"{name}: signal spans {adc.min() / ADC_GAIN:.2f} to {adc.max() / ADC_GAIN:.2f} mV, "
            f"beyond the int16 range of +-{limit.max / ADC_GAIN:.1f} mV at {ADC_GAIN:g}/mV"
        )
    return adc.astype(np.int16)


def mat_v4_bytes(adc: np.ndarray) -> bytes:
    """A MATLAB v4 file holding ``adc`` [leads, samples] int16 as ``val``."""
    rows, cols = adc.shape
    header = np.array([_MAT_INT16, rows, cols, 0, 4], dtype="<i4").tobytes() + b"val\x00"
    return header + np.ascontiguousarray(adc.T, dtype="<i2").tobytes()


def header_text(
    name: str,
    adc: np.ndarray,
    fs: float,
    age: float | None,
    sex: str | None,
    dx_codes: Sequence[str],
    leads: Sequence[str] = LEADS,
) -> str:
    """The ``.hea`` text for a record whose samples are ``adc`` [leads, samples]."""
    checksums = (adc.astype(np.int64).sum(axis=1) + 32768) % 65536 - 32768
    lines = [f"{name} {len(leads)} {_format_number(fs)} {adc.shape[1]}"]
    for row, lead in enumerate(leads):
        lines.append(
            f"{name}.mat 16x1+24 {ADC_GAIN:g}/mV 16 0 {int(adc[row, 0])} {int(checksums[row])} 0 {lead}"
        )
    age_text = "Unknown" if age is None else _format_number(round(float(age)))
    lines += [
        f"# Age: {age_text}",
        f"# Sex: {sex or 'Unknown'}",
        f"# Dx: {','.join(dx_codes)}",
        "# Rx: Unknown",
        "# Hx: Unknown",
        "# Sx: Unknown",
    ]
    return "\n".join(lines) + "\n"


def write_record(
    directory: str | Path,
    name: str,
    signal_mv: np.ndarray,
    fs: float,
    age: float | None,
    sex: str | None,
    dx_codes: Sequence[str],
    leads: Sequence[str] = LEADS,
) -> Path:
    """Write ``NAME.hea`` and ``NAME.mat`` into ``directory``; returns the header's path.

    ``signal_mv`` is [len(leads), samples] in mV; it is stored rounded to 1 microvolt.
    """
    signal_mv = np.asarray(signal_mv)
    if signal_mv.ndim != 2 or signal_mv.shape[0] != len(leads) or signal_mv.shape[1] == 0:
        raise ValueError(f"{name}: signal must be [{len(leads)}, samples], got shape {signal_mv.shape}")
    if not fs > 0:
        raise ValueError(f"{name}: sampling rate must be positive, got {fs}")
    bad = [c for c in dx_codes if not str(c).isdigit()]
    if bad:
        raise ValueError(f"{name}: Dx codes must be numeric SNOMED CT codes, got {bad}")
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    adc = to_adc(signal_mv, name)
    (directory / f"{name}.mat").write_bytes(mat_v4_bytes(adc))
    hea = directory / f"{name}.hea"
    hea.write_text(header_text(name, adc, fs, age, sex, [str(c) for c in dx_codes], leads), encoding="utf-8")
    return hea
