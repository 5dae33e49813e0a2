"""Where a generated record's defining features are: the side file ``NAME.json`` beside its header.

Sample ranges are half-open ``[start, end)`` and clipped to the record; a beat is listed when its R
peak lies inside the record. Per beat: its kind (``sinus``, ``pvc`` or ``af`` for a beat conducted
during atrial fibrillation), R peak, QRS and T wave, and for sinus beats the P wave and the PR segment
(end of P to start of QRS). Record-level figures describe the dominant (non-premature) beats.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

Range = tuple[int, int]
FORMAT_VERSION = 1
_PARTS = ("p", "pr_segment", "qrs", "t")
_LISTED = (
    ("p", "p_waves"),
    ("pr_segment", "pr_segments"),
    ("qrs", "qrs_complexes"),
    ("t", "t_waves"),
    ("pvc", "pvc_beats"),
)


@dataclass(frozen=True)
class Beat:
    """One beat's wave boundaries in samples."""

    kind: str
    r_peak: int
    qrs: Range
    t: Range | None
    p: Range | None = None
    pr_segment: Range | None = None


@dataclass(frozen=True)
class Annotations:
    """The known answer for one generated record.

    Intervals are in milliseconds, the heart rate in beats per minute (mean over the record's RR
    intervals) and the frontal QRS axis in degrees (net amplitudes of I and aVF, noise-free).
    ``pr_ms`` is None without sinus P waves. ``details`` holds generator settings (noise sizes,
    f-wave rate, QRS shape) for reference.
    """

    name: str
    fs: float
    samples: int
    labels: tuple[str, ...]
    dx: tuple[str, ...]
    rhythm: str
    heart_rate: float
    pr_ms: float | None
    qrs_ms: float
    qt_ms: float
    qtc_ms: float
    axis_deg: float
    beats: tuple[Beat, ...]
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def r_peaks(self) -> np.ndarray:
        """R-peak sample indices of every beat."""
        return np.array([b.r_peak for b in self.beats], dtype=np.int64)

    @property
    def pvc_indices(self) -> tuple[int, ...]:
        """Positions in :attr:`beats` of the ventricular premature beats."""
        return tuple(i for i, b in enumerate(self.beats) if b.kind == "pvc")

    def ranges(self, part: str) -> np.ndarray:
        """Sample ranges [k, 2] of one part (``p``, ``pr_segment``, ``qrs``, ``t`` or ``pvc``: the
        premature beats from QRS onset to T-wave end) over all beats that have it."""
        if part == "pvc":
            spans = [(b.qrs[0], b.t[1] if b.t else b.qrs[1]) for b in self.beats if b.kind == "pvc"]
        elif part in _PARTS:
            spans = [getattr(b, part) for b in self.beats if getattr(b, part) is not None]
        else:
            raise KeyError(f"unknown part {part!r}; expected one of {', '.join((*_PARTS, 'pvc'))}")
        return np.array(spans, dtype=np.int64).reshape(-1, 2)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dictionary: the fields, plus every part's ranges listed across beats
        (``p_waves``, ``pr_segments``, ``qrs_complexes``, ``t_waves``, ``pvc_beats``) and ``r_peaks``."""
        data = asdict(self)
        data["format_version"] = FORMAT_VERSION
        data["r_peaks"] = self.r_peaks.tolist()
        for part, key in _LISTED:
            data[key] = self.ranges(part).tolist()
        data["beats"] = [_beat_dict(b) for b in self.beats]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Annotations:
        beats = tuple(
            Beat(
                kind=b["kind"],
                r_peak=int(b["r_peak"]),
                qrs=_range(b["qrs"]),
                t=_range(b.get("t")),
                p=_range(b.get("p")),
                pr_segment=_range(b.get("pr_segment")),
            )
            for b in data["beats"]
        )
        return cls(
            name=data["name"],
            fs=float(data["fs"]),
            samples=int(data["samples"]),
            labels=tuple(data["labels"]),
            dx=tuple(data["dx"]),
            rhythm=data["rhythm"],
            heart_rate=float(data["heart_rate"]),
            pr_ms=None if data.get("pr_ms") is None else float(data["pr_ms"]),
            qrs_ms=float(data["qrs_ms"]),
            qt_ms=float(data["qt_ms"]),
            qtc_ms=float(data["qtc_ms"]),
            axis_deg=float(data["axis_deg"]),
            beats=beats,
            details=dict(data.get("details", {})),
        )


def _range(value: Any) -> Range | None:
    return None if value is None else (int(value[0]), int(value[1]))


def _beat_dict(beat: Beat) -> dict[str, Any]:
    data = asdict(beat)
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in data.items()}


def annotation_path(path: str | Path) -> Path:
    """The side file of a record given by its ``.hea``, ``.mat``, ``.json`` or stem."""
    path = Path(path)
    stem = path.with_suffix("") if path.suffix in (".hea", ".mat", ".json") else path
    return stem.with_name(stem.name + ".json")


def write_annotations(path: str | Path, annotations: Annotations) -> Path:
    """Write the side file beside the record; returns its path."""
    target = annotation_path(path)
    target.write_text(json.dumps(annotations.to_dict(), separators=(",", ":")) + "\n", encoding="utf-8")
    return target


def read_annotations(path: str | Path) -> Annotations:
    """Read a generated record's side file (path to its ``.json``, ``.hea``, ``.mat`` or stem).

    Raises ``FileNotFoundError`` or ``ValueError`` naming the file when it is missing or malformed.
    """
    target = annotation_path(path)
    if not target.is_file():
        raise FileNotFoundError(f"{target}: no annotation side file (only generated records have one)")
    try:
        data = json.loads(target.read_text(encoding="utf-8"))
        return Annotations.from_dict(data)
    except (json.JSONDecodeError, KeyError, TypeError, IndexError) as error:
        raise ValueError(f"{target}: malformed annotation file ({type(error).__name__}: {error})") from None
