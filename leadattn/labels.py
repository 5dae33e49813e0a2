"""The 26 scored classes of the PhysioNet/CinC Challenge 2021 and the challenge's reward matrix.

Classes follow the column order of the challenge's ``weights.csv``; the four pairs of equivalent
SNOMED CT codes are merged into one class each, exactly as the challenge scores them. The tables
live as CSV files in ``leadattn/tables/`` and are installed with the package.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from importlib import resources

import numpy as np


@dataclass(frozen=True)
class ScoredClass:
    """One scored class: its SNOMED CT codes (equivalents merged), abbreviation and name."""

    index: int
    codes: tuple[str, ...]
    abbreviation: str
    name: str

    @property
    def key(self) -> str:
        """The class as the challenge writes it in ``weights.csv``: codes joined by ``|``."""
        return "|".join(self.codes)


def _table(name: str):
    return resources.files("leadattn.tables").joinpath(name).open(newline="")


@cache
def scored_classes() -> tuple[ScoredClass, ...]:
    """The 26 scored classes in challenge column order."""
    with _table("scored_classes.csv") as f:
        return tuple(
            ScoredClass(int(r["index"]), tuple(r["codes"].split("|")), r["abbreviation"], r["name"])
            for r in csv.DictReader(f)
        )


@cache
def unscored_codes() -> dict[str, str]:
    """SNOMED CT code -> abbreviation of the diagnoses that occur in the data but are not scored."""
    with _table("unscored_codes.csv") as f:
        return {r["code"]: r["abbreviation"] for r in csv.DictReader(f)}


@cache
def weights() -> np.ndarray:
    """The challenge's 26 x 26 reward matrix, rows labels and columns outputs, in class order."""
    with _table("weights.csv") as f:
        rows = list(csv.reader(f))
    header = [c.strip() for c in rows[0][1:]]
    expected = [c.key for c in scored_classes()]
    if header != expected:
        raise ValueError("weights.csv columns do not match scored_classes.csv")
    return np.array([[float(v) for v in r[1:]] for r in rows[1:]], dtype=np.float64)


NUM_CLASSES = 26
CLASS_KEYS: tuple[str, ...] = tuple(c.key for c in scored_classes())
ABBREVIATIONS: tuple[str, ...] = tuple(c.abbreviation for c in scored_classes())
SINUS_RHYTHM = "426783006"
SINUS_RHYTHM_INDEX: int = next(c.index for c in scored_classes() if SINUS_RHYTHM in c.codes)
CODE_TO_INDEX: dict[str, int] = {code: c.index for c in scored_classes() for code in c.codes}


def class_index(name: str) -> int:
    """Index of a class given by abbreviation (``PVC``, ``VPB``), SNOMED code, or challenge key."""
    if name in CODE_TO_INDEX:
        return CODE_TO_INDEX[name]
    if name in CLASS_KEYS:
        return CLASS_KEYS.index(name)
    lowered = name.lower()
    for c in scored_classes():
        if lowered == c.abbreviation.lower():
            return c.index
    aliases = {"clbbb": "LBBB", "crbbb": "RBBB", "svpb": "PAC", "vpb": "PVC"}
    if lowered in aliases:
        return ABBREVIATIONS.index(aliases[lowered])
    raise KeyError(f"unknown class {name!r}; expected an abbreviation such as {', '.join(ABBREVIATIONS)}")


def encode(codes: Iterable[str]) -> np.ndarray:
    """Boolean vector [26] of the scored classes among SNOMED CT codes; unscored codes are ignored."""
    vector = np.zeros(NUM_CLASSES, dtype=bool)
    for code in codes:
        index = CODE_TO_INDEX.get(str(code).strip())
        if index is not None:
            vector[index] = True
    return vector


def decode(vector: np.ndarray) -> list[str]:
    """Abbreviations of the classes set in a boolean vector [26]."""
    return [ABBREVIATIONS[i] for i in np.flatnonzero(np.asarray(vector, dtype=bool))]
