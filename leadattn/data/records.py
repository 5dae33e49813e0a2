"""Reading PhysioNet/CinC Challenge 2021 records: a WFDB header (``.hea``) and a MATLAB signal (``.mat``).

The header carries the sampling rate, per-lead gain, baseline and name, and comment lines with age, sex
and the SNOMED CT diagnoses (``# Dx:``). The ``.mat`` file holds ``val``, int16 ADC values of shape
[leads, samples]. Signals are returned in millivolts, rows in canonical lead order. A header without a
``# Dx:`` line, or with ``# Dx: Unknown``, reads as an unlabelled record (``labelled`` False): fine for
prediction and pretraining, left out of training and evaluation.
"""

from __future__ import annotations

import io
import math
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
import scipy.io

from leadattn import labels as _labels
from leadattn.data.sources import source_of
from leadattn.errors import LeadattnError
from leadattn.leads import LEADS, canonical_lead


class RecordError(LeadattnError):
    """A record that cannot be used, with the record's name and the kind of problem.

    ``kind`` is one of: missing_file, bad_header, bad_fs, unknown_lead, bad_dx, truncated_signal,
    shape_mismatch, non_finite, empty, flat (no lead carries signal).
    """

    def __init__(self, record: str, kind: str, message: str):
        super().__init__(f"{record}: {message}")
        self.record = record
        self.kind = kind


@dataclass(frozen=True)
class LeadInfo:
    """One signal line of a header."""

    name: str
    gain: float
    baseline: float
    scale_to_mv: float


@dataclass(frozen=True)
class Header:
    """What a ``.hea`` file says about a record, without reading its signal."""

    name: str
    path: Path
    fs: float
    samples: int
    leads: tuple[str, ...]
    lead_info: tuple[LeadInfo, ...]
    age: float | None
    sex: str | None
    dx: tuple[str, ...]
    labelled: bool = True

    @property
    def source(self) -> str:
        return source_of(self.name, self.path)

    @property
    def labels(self) -> np.ndarray:
        return _labels.encode(self.dx)


@dataclass
class Record:
    """A record read into memory: signal in mV, rows in canonical lead order (only leads present)."""

    name: str
    signal: np.ndarray
    fs: float
    leads: tuple[str, ...]
    age: float | None
    sex: str | None
    dx: tuple[str, ...]
    path: Path
    labelled: bool = True
    labels: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        self.labels = _labels.encode(self.dx)

    @property
    def source(self) -> str:
        return source_of(self.name, self.path)

    @property
    def duration(self) -> float:
        return self.signal.shape[1] / self.fs


FLAT_MV = 0.02
"""A lead whose peak-to-peak amplitude is below this many mV carries no signal: it is disconnected,
constant, or holds only a few ADC units of noise (one unit is 0.001-0.005 mV at the data's gains).
The smallest real ECG lead still swings well over 0.1 mV with every QRS complex."""

_WFDB_INVALID_16 = -32768
_UNITS_TO_MV = {"mv": 1.0, "uv": 1e-3, "v": 1e3}
_UNKNOWN = ("unknown", "nan", "none")
_GAIN = re.compile(r"^(?P<gain>[-+0-9.eE]+)(\((?P<baseline>[-+0-9]+)\))?(/(?P<units>\w+))?$")


def _stem(path: str | Path) -> Path:
    path = Path(path)
    return path.with_suffix("") if path.suffix in (".hea", ".mat") else path


def _parse_lead(stem: str, line: str) -> LeadInfo:
    parts = line.split()
    if len(parts) < 9:
        raise RecordError(stem, "bad_header", f"signal line has {len(parts)} fields, expected 9: {line!r}")
    try:
        return _lead_info(parts[2], parts[4], " ".join(parts[8:]))
    except KeyError as error:
        raise RecordError(stem, "unknown_lead", str(error.args[0])) from None
    except ValueError as error:
        raise RecordError(stem, "bad_header", str(error)) from None


@lru_cache(maxsize=1024)
def _lead_info(gain_field: str, adc_zero: str, lead_name: str) -> LeadInfo:
    """A signal line's gain, baseline, units and lead: a pure function of three fields that repeat
    from record to record, so each distinct spelling is parsed once."""
    match = _GAIN.match(gain_field)
    try:
        gain = float(match["gain"]) if match else math.nan
    except ValueError:  # the pattern admits strings such as "1.2.3"
        gain = math.nan
    if math.isnan(gain):
        raise ValueError(f"cannot parse gain field {gain_field!r}")
    try:
        baseline = float(match["baseline"] if match["baseline"] is not None else adc_zero)
    except ValueError:
        raise ValueError(f"cannot parse ADC zero {adc_zero!r} (gain field {gain_field!r})") from None
    units = (match["units"] or "mV").lower()
    if units not in _UNITS_TO_MV:
        raise ValueError(f"unknown units {match['units']!r} in {gain_field!r}")
    # WFDB: a gain of 0 means the default of 200 ADC units per mV
    return LeadInfo(canonical_lead(lead_name), gain or 200.0, baseline, _UNITS_TO_MV[units])


def _parse_comment(
    stem: str, comments: dict[str, str]
) -> tuple[float | None, str | None, tuple[str, ...], bool]:
    age_text = comments.get("age", "").strip()
    try:
        age = float(age_text) if age_text else None
    except ValueError:
        age = None
    if age is not None and not np.isfinite(age):
        age = None
    sex = comments.get("sex", "").strip() or None
    if sex is not None and sex.lower() in ("unknown", "nan"):
        sex = None
    dx_text = comments.get("dx")
    if dx_text is None:  # a recording without a diagnosis: fine for prediction, not for training
        return age, sex, (), False
    codes = tuple(c.strip() for c in dx_text.split(",") if c.strip() and c.strip().lower() not in _UNKNOWN)
    bad = [c for c in codes if not c.isdigit()]
    if bad:
        raise RecordError(stem, "bad_dx", f"non-numeric SNOMED CT code(s) in '# Dx:': {', '.join(bad)}")
    return age, sex, codes, bool(codes)


def read_header(path: str | Path) -> Header:
    """Parse a record's ``.hea`` file (path to ``.hea``, ``.mat`` or the record stem)."""
    stem = _stem(path)
    name = stem.name
    hea = stem.with_suffix(".hea")
    if not hea.is_file():
        raise RecordError(name, "missing_file", f"header file {hea} does not exist")
    try:
        text = hea.read_text(encoding="utf-8", errors="replace")
    except OSError as error:
        raise RecordError(name, "missing_file", f"cannot read {hea}: {error}") from None
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    body = [ln for ln in lines if not ln.startswith("#")]
    comments: dict[str, str] = {}
    for ln in lines:
        if ln.startswith("#") and ":" in ln:
            key, value = ln.lstrip("#").split(":", 1)
            comments.setdefault(key.strip().lower(), value)
    if not body:
        raise RecordError(name, "bad_header", "header is empty")
    first = body[0].split()
    if len(first) < 4:
        raise RecordError(name, "bad_header", f"record line needs name, leads, fs, samples: {body[0]!r}")
    try:
        n_leads = int(first[1])
        fs = float(first[2].split("/")[0].split("(")[0])
        samples = int(first[3])
    except ValueError:
        raise RecordError(name, "bad_header", f"cannot parse record line {body[0]!r}") from None
    if not np.isfinite(fs) or fs <= 0:
        raise RecordError(name, "bad_fs", f"sampling rate must be positive, header says {first[2]!r}")
    if samples <= 0 or n_leads <= 0:
        raise RecordError(name, "empty", f"header declares {n_leads} leads and {samples} samples")
    if len(body) - 1 != n_leads:
        raise RecordError(
            name,
            "bad_header",
            f"header declares {n_leads} leads but has {len(body) - 1} signal lines",
        )
    info = tuple(_parse_lead(name, ln) for ln in body[1:])
    leads = tuple(i.name for i in info)
    duplicated = sorted({lead for lead in leads if leads.count(lead) > 1})
    if duplicated:
        raise RecordError(name, "unknown_lead", f"lead(s) {', '.join(duplicated)} appear twice")
    age, sex, dx, labelled = _parse_comment(name, comments)
    return Header(name, hea, fs, samples, leads, info, age, sex, dx, labelled)


_V4_TYPES = {0: "<f8", 10: "<f4", 20: "<i4", 30: "<i2", 40: "<u2", 50: "<u1"}
"""MATLAB level-4 element types (the ``P`` digit of the type code ``MOPT``) in little-endian order."""


def _read_v4(data: bytes) -> np.ndarray | None:
    """``val`` from a little-endian MATLAB level-4 file (what the challenge's ``.mat`` files are), or
    None when the bytes are in another format. Read in place, a tenth of the cost of ``loadmat``."""
    if len(data) < 20:
        return None
    kind, rows, cols, imaginary, name_length = np.frombuffer(data, "<i4", 5)
    dtype = _V4_TYPES.get(int(kind))
    if dtype is None or imaginary or rows < 0 or cols < 0 or not 0 < name_length < 64:
        return None
    begin = 20 + int(name_length)
    if data[20 : begin - 1] != b"val":
        return None
    size = int(rows) * int(cols) * np.dtype(dtype).itemsize
    if len(data) != begin + size:
        return None  # truncated, or more variables than val: scipy decides and explains
    return np.frombuffer(data, dtype, int(rows) * int(cols), begin).reshape(int(cols), int(rows)).T


def _load_adc(header: Header) -> np.ndarray:
    mat = header.path.with_suffix(".mat")
    name = header.name
    try:
        data = mat.read_bytes()
    except FileNotFoundError:
        raise RecordError(name, "missing_file", f"signal file {mat} does not exist") from None
    except OSError as error:
        raise RecordError(name, "missing_file", f"cannot read {mat}: {error}") from None
    adc = _read_v4(data)
    if adc is None:
        try:
            content = scipy.io.loadmat(io.BytesIO(data), variable_names=["val"])
        except Exception:  # scipy raises many types for damaged files
            raise RecordError(
                name,
                "truncated_signal",
                f"{mat.name} cannot be read: the file is truncated or is not a MATLAB file",
            ) from None
        if "val" not in content:
            raise RecordError(name, "truncated_signal", f"{mat.name} holds no 'val' array")
        adc = np.asarray(content["val"])
    if adc.ndim != 2 or adc.shape != (len(header.leads), header.samples):
        raise RecordError(
            name,
            "shape_mismatch",
            f"signal shape {tuple(adc.shape)} disagrees with the header's "
            f"{len(header.leads)} leads x {header.samples} samples",
        )
    return adc


def flat_leads(signal: np.ndarray) -> np.ndarray:
    """Which rows of a signal [leads, samples] in mV are flat (peak-to-peak below :data:`FLAT_MV`)."""
    return np.ptp(signal, axis=1) < FLAT_MV


def read_record(path: str | Path) -> Record:
    """Read one challenge record (path to ``.hea``, ``.mat`` or the stem) into a :class:`Record`.

    The signal is ``(adc - baseline) / gain`` per lead in mV, float32, rows in canonical lead order.
    Raises :class:`RecordError` naming the record and the problem for any unusable input.
    """
    header = read_header(path)
    adc = _load_adc(header)
    if adc.size == 0:
        raise RecordError(header.name, "empty", "signal has no samples")
    order = sorted(range(len(header.leads)), key=lambda r: LEADS.index(header.leads[r]))
    info = [header.lead_info[r] for r in order]
    baseline = np.array([i.baseline for i in info], dtype=np.float32)[:, None]
    scale = np.array([i.scale_to_mv / i.gain for i in info], dtype=np.float32)[:, None]
    adc = adc[order]
    signal = adc.astype(np.float32)
    signal -= baseline
    signal *= scale
    # WFDB marks a missing sample of format 16 with the smallest int16; it reads as NaN.
    if np.issubdtype(adc.dtype, np.integer):
        signal[adc == _WFDB_INVALID_16] = np.nan
    if not np.isfinite(signal).all():
        bad = sorted({header.leads[order[r]] for r in np.nonzero(~np.isfinite(signal))[0]})
        raise RecordError(header.name, "non_finite", f"NaN or infinite samples in lead(s) {', '.join(bad)}")
    if flat_leads(signal).all():
        raise RecordError(header.name, "flat", f"every lead is flat (peak-to-peak below {FLAT_MV} mV)")
    return Record(
        name=header.name,
        signal=signal,
        fs=header.fs,
        leads=tuple(header.leads[r] for r in order),
        age=header.age,
        sex=header.sex,
        dx=header.dx,
        path=header.path,
        labelled=header.labelled,
    )
