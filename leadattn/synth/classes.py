"""The classes the generator produces, the demo's class mix, and the physiology each label implies.

A record is first given a set of labels (abbreviations of scored classes), then a :class:`RecordSpec`:
the heart rate, conduction intervals, QRS shape, axis, voltages and T waves that go with those labels.
AF excludes every sinus label. Each measured quantity is drawn from its class's range in
:data:`RANGES`; as in real populations (and real annotators' readings of them), neighbouring
classes overlap around the clinical cut-off: a sinus rate of 58 bpm may be labelled NSR or SB, a
PR interval of 200 ms normal or IAVB, a QRS of 115-125 ms narrow or a bundle branch block. The
overlap bands are listed in :data:`BORDERS`. On top, :func:`noisy_labels` drops or adds a finding
in a small share of records (:data:`LABEL_NOISE`), as annotation errors do.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from leadattn.labels import ABBREVIATIONS, class_index, scored_classes

CLASSES: tuple[str, ...] = (
    "NSR",
    "SB",
    "STach",
    "AF",
    "IAVB",
    "LBBB",
    "RBBB",
    "PVC",
    "LQRSV",
    "LAD",
    "RAD",
    "TAb",
    "TInv",
)
"""Scored classes the generator can produce, in the order labels are listed."""

RHYTHMS: tuple[str, ...] = ("NSR", "SB", "STach", "AF")
_EXCLUSIVE = (("LBBB", "RBBB"), ("LAD", "RAD"), ("TAb", "TInv"), ("LBBB", "RAD"))
_SINUS_ONLY = ("IAVB", "PVC")
_NOT_WITH_BBB = ("TAb", "TInv")

NORMAL_FRACTION = 0.30
"""Share of the demo mix that is normal sinus rhythm with no other finding."""

RANGES: dict[str, tuple[float, float]] = {
    "rate_sb": (40.0, 62.0),
    "rate_nsr": (56.0, 104.0),
    "rate_stach": (97.0, 150.0),
    "rate_af": (65.0, 145.0),
    "pr_normal": (0.12, 0.21),
    "pr_stach": (0.11, 0.17),
    "pr_iavb": (0.19, 0.30),
    "pr_iavb_sb": (0.19, 0.36),
    "qrs_normal": (0.08, 0.125),
    "qrs_lbbb": (0.115, 0.17),
    "qrs_rbbb": (0.11, 0.16),
    "axis_normal": (-35.0, 95.0),
    "axis_normal_lbbb": (-35.0, 50.0),
    "axis_lad": (-80.0, -25.0),
    "axis_rad": (85.0, 160.0),
    "qrs_size_normal": (0.45, 2.0),
    "qrs_size_lqrsv": (0.2, 0.55),
    "t_size_normal": (0.1, 0.55),
    "t_size_flat": (0.03, 0.13),
}
"""Range of each drawn quantity by class (rates in bpm, times in s, axes in degrees, sizes in mV)."""

BORDERS: dict[str, tuple[float, float]] = {
    "SB / NSR rate (bpm)": (56.0, 62.0),
    "NSR / STach rate (bpm)": (97.0, 104.0),
    "normal PR / IAVB (s)": (0.19, 0.21),
    "narrow QRS / bundle branch block (s)": (0.11, 0.125),
    "normal axis / LAD (degrees)": (-35.0, -25.0),
    "normal axis / RAD (degrees)": (85.0, 95.0),
    "LQRSV limb QRS (mV)": (0.45, 0.55),
    "TAb / normal T (mV)": (0.1, 0.13),
}
"""Where two classes' ranges overlap: a record there may carry either label."""

LABEL_NOISE = 0.03
"""Share of demo records whose written labels miss one of their findings or name one they lack."""
_NOISE_FINDINGS = ("IAVB", "PVC", "LQRSV", "LAD", "RAD", "TAb", "TInv", "LBBB", "RBBB")


def class_code(abbreviation: str) -> str:
    """The SNOMED CT code written to ``# Dx:`` for a class (the first of its equivalent codes)."""
    return scored_classes()[class_index(abbreviation)].codes[0]


def validate_labels(labels: Iterable[str]) -> tuple[str, ...]:
    """Check a label set for the generator and return it in :data:`CLASSES` order.

    Labels may be abbreviations or SNOMED CT codes. Without a rhythm label the record is sinus rhythm
    at a normal rate, so ``NSR`` is added. Raises ``ValueError`` for classes the generator does not
    produce and for combinations that contradict each other.
    """
    chosen: set[str] = set()
    for label in labels:
        try:
            abbreviation = ABBREVIATIONS[class_index(str(label))]
        except KeyError:
            raise ValueError(f"unknown class {label!r}") from None
        if abbreviation not in CLASSES:
            raise ValueError(
                f"the generator does not produce {abbreviation}; choose from {', '.join(CLASSES)}"
            )
        chosen.add(abbreviation)
    rhythms = [r for r in RHYTHMS if r in chosen]
    if len(rhythms) > 1:
        raise ValueError(f"rhythm labels exclude each other: {', '.join(rhythms)}")
    if not rhythms:
        chosen.add("NSR")
    for a, b in _EXCLUSIVE:
        if a in chosen and b in chosen:
            raise ValueError(f"{a} and {b} cannot be generated together")
    if "AF" in chosen:
        clash = [c for c in _SINUS_ONLY if c in chosen]
        if clash:
            raise ValueError(f"{', '.join(clash)} needs sinus rhythm and cannot be combined with AF")
    if "LBBB" in chosen or "RBBB" in chosen:
        clash = [c for c in _NOT_WITH_BBB if c in chosen]
        if clash:
            raise ValueError(f"{', '.join(clash)} is not generated with a bundle branch block")
    return tuple(c for c in CLASSES if c in chosen)


def sample_labels(rng: np.random.Generator) -> tuple[str, ...]:
    """Draw one record's labels from the demo mix.

    About 30 % of records are normal; the rest draw a rhythm and then findings independently, with
    the dependencies seen in real data (first-degree block more common in bradycardia, left axis
    deviation with either bundle branch block, no right axis deviation with LBBB).
    """
    if rng.random() < NORMAL_FRACTION:
        return ("NSR",)
    rhythm = str(rng.choice(RHYTHMS, p=[0.25, 0.25, 0.25, 0.25]))
    sinus = rhythm != "AF"
    while True:
        found: set[str] = {rhythm}
        if sinus and rng.random() < (0.35 if rhythm == "SB" else 0.14):
            found.add("IAVB")
        bbb = str(rng.choice(["", "LBBB", "RBBB"], p=[0.66, 0.16, 0.18]))
        if bbb:
            found.add(bbb)
        if sinus and rng.random() < 0.22:
            found.add("PVC")
        if rng.random() < 0.15:
            found.add("LQRSV")
        p_lad = 0.35 if bbb else 0.12
        p_rad = 0.0 if bbb == "LBBB" else (0.2 if bbb == "RBBB" else 0.13)
        axis = rng.random()
        if axis < p_lad:
            found.add("LAD")
        elif axis < p_lad + p_rad:
            found.add("RAD")
        if not bbb:
            t_wave = rng.random()
            if t_wave < 0.2:
                found.add("TAb")
            elif t_wave < 0.4:
                found.add("TInv")
        if found != {"NSR"}:
            return tuple(c for c in CLASSES if c in found)


@dataclass(frozen=True)
class RecordSpec:
    """The physiology of one record (times in seconds, angles in degrees, voltages in mV).

    ``rate_variability`` is the relative amplitude of respiratory sinus arrhythmia for sinus rhythm and
    the coefficient of variation of RR intervals for AF. ``qrs_size`` is the largest QRS peak-to-peak
    amplitude over the six limb leads and ``chest_size`` the most V1-V6 may reach (the QRS is made
    smaller to respect it, but never below 0.75 mV in the limb leads unless LQRSV); ``attenuation``
    scales P and T waves too (low voltage records).
    ``t_kind`` is ``normal``, ``flat``, ``inverted`` or ``secondary`` (discordant to a wide QRS).
    """

    labels: tuple[str, ...]
    rhythm: str
    rate: float
    rate_variability: float
    resp_hz: float
    p_duration: float
    p_axis: float
    pr: float | None
    qrs_kind: str
    qrs_duration: float
    qtc: float
    axis: float
    qrs_size: float
    chest_size: float
    attenuation: float
    t_kind: str
    t_size: float
    pvc_count: int
    bigeminy: bool
    age: int
    sex: str


def sample_spec(labels: Iterable[str], rng: np.random.Generator) -> RecordSpec:
    """Draw the physiology that makes ``labels`` true, with plausible per-record variation."""
    labels = validate_labels(labels)
    has = set(labels).__contains__
    rhythm = "af" if has("AF") else "sinus"
    uniform = lambda key: rng.uniform(*RANGES[key])  # noqa: E731
    if has("SB"):
        rate = uniform("rate_sb")
    elif has("STach"):
        rate = uniform("rate_stach")
    elif has("AF"):
        rate = uniform("rate_af")
    else:
        rate = uniform("rate_nsr")
    variability = rng.uniform(0.18, 0.32) if rhythm == "af" else rng.uniform(0.004, 0.03)
    p_duration = rng.uniform(0.08, 0.11)
    pr = None
    if rhythm == "sinus":
        if has("IAVB"):
            pr = uniform("pr_iavb_sb" if has("SB") else "pr_iavb")
        elif has("STach"):
            pr = uniform("pr_stach")
        else:
            pr = uniform("pr_normal")
        pr = max(pr, p_duration + 0.03)
    if has("LBBB"):
        qrs_kind, qrs_duration = "lbbb", uniform("qrs_lbbb")
    elif has("RBBB"):
        qrs_kind, qrs_duration = "rbbb", uniform("qrs_rbbb")
    else:
        qrs_kind, qrs_duration = "normal", uniform("qrs_normal")
    if has("LAD"):
        axis = uniform("axis_lad")
    elif has("RAD"):
        axis = uniform("axis_rad")
    else:
        axis = uniform("axis_normal_lbbb" if qrs_kind == "lbbb" else "axis_normal")
    if has("LQRSV"):
        qrs_size, chest_size, attenuation = (
            uniform("qrs_size_lqrsv"),
            rng.uniform(0.5, 1.2),
            rng.uniform(0.45, 0.75),
        )
    else:
        qrs_size, chest_size, attenuation = uniform("qrs_size_normal"), rng.uniform(1.5, 3.2), 1.0
    if qrs_kind != "normal":
        t_kind, t_size = "secondary", rng.uniform(0.3, 0.55)
    elif has("TAb"):
        t_kind, t_size = "flat", uniform("t_size_flat")
    elif has("TInv"):
        t_kind, t_size = "inverted", rng.uniform(0.3, 0.6)
    else:
        t_kind, t_size = "normal", uniform("t_size_normal")
    bigeminy = bool(has("PVC") and rng.random() < 0.15)
    pvc_count = int(rng.integers(1, 4)) if has("PVC") else 0
    older = has("AF") or has("LBBB") or has("IAVB")
    mean_age = 45.0 if labels == ("NSR",) else (68.0 if older else 58.0)
    age = int(np.clip(round(rng.normal(mean_age, 15)), 18, 95))
    sex = "Male" if rng.random() < (0.58 if has("RBBB") else 0.5) else "Female"
    return RecordSpec(
        labels=labels,
        rhythm=rhythm,
        rate=float(rate),
        rate_variability=float(variability),
        resp_hz=float(rng.uniform(0.15, 0.35)),
        p_duration=float(p_duration),
        p_axis=float(rng.uniform(30, 70)),
        pr=None if pr is None else float(pr),
        qrs_kind=qrs_kind,
        qrs_duration=float(qrs_duration),
        qtc=float(rng.uniform(0.37, 0.43)),
        axis=float(axis),
        qrs_size=float(qrs_size),
        chest_size=float(chest_size),
        attenuation=float(attenuation),
        t_kind=t_kind,
        t_size=float(t_size),
        pvc_count=pvc_count,
        bigeminy=bigeminy,
        age=age,
        sex=sex,
    )


def noisy_labels(
    labels: tuple[str, ...], rng: np.random.Generator, rate: float = LABEL_NOISE
) -> tuple[str, ...]:
    """The labels an annotator writes: with probability ``rate`` one finding of ``labels`` is left
    out or, for a record without findings, a finding it does not have is added (the rhythm label
    is kept). Always draws the same numbers from ``rng``, whatever the outcome."""
    corrupt, pick, extra = rng.random(), rng.random(), rng.random()
    if corrupt >= rate:
        return labels
    findings = [c for c in labels if c in _NOISE_FINDINGS]
    if findings:
        dropped = findings[int(pick * len(findings))]
        return tuple(c for c in labels if c != dropped)
    candidates = []
    for finding in _NOISE_FINDINGS:
        try:
            candidates.append(validate_labels((*labels, finding)))
        except ValueError:
            continue
    return candidates[int(extra * len(candidates))] if candidates else labels
