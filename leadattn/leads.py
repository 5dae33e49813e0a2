"""Lead names of the 12-lead ECG and the lead subsets scored by the PhysioNet/CinC Challenge 2021."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

LEADS: tuple[str, ...] = ("I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6")
"""Canonical lead order: every signal inside leadattn is stored and modelled in this order."""

LEAD_SUBSETS: dict[int, tuple[str, ...]] = {
    12: LEADS,
    6: ("I", "II", "III", "aVR", "aVL", "aVF"),
    4: ("I", "II", "III", "V2"),
    3: ("I", "II", "V2"),
    2: ("I", "II"),
}
"""The challenge's scored lead sets, keyed by their size."""

_ALIASES = {name.upper(): name for name in LEADS}


def canonical_lead(name: str) -> str:
    """Map a header spelling of a lead (``AVR``, ``avr``, ``v1``) to its canonical name.

    Raises ``KeyError`` naming the lead when it is not one of the 12 standard leads.
    """
    key = name.strip().upper()
    if key not in _ALIASES:
        raise KeyError(f"unknown lead name {name!r}; expected one of {', '.join(LEADS)}")
    return _ALIASES[key]


def resolve_leads(leads: int | str | Sequence[str] | None) -> tuple[str, ...]:
    """Resolve a lead subset given as a size (6), a comma list ("I,II,V2"), names, or None (all 12).

    The result is in canonical order so that a subset names one set of model inputs.
    """
    if leads is None:
        return LEADS
    if isinstance(leads, int) or (isinstance(leads, str) and leads.strip().isdigit()):
        size = int(leads)
        if size not in LEAD_SUBSETS:
            raise ValueError(f"no scored lead subset of size {size}; choose from {sorted(LEAD_SUBSETS)}")
        return LEAD_SUBSETS[size]
    names = leads.split(",") if isinstance(leads, str) else list(leads)
    chosen = {canonical_lead(n) for n in names if n.strip()}
    if not chosen:
        raise ValueError("empty lead subset")
    return tuple(lead for lead in LEADS if lead in chosen)


def lead_mask(leads: int | str | Sequence[str] | None) -> np.ndarray:
    """Boolean mask of shape [12] in canonical order, True where a lead is present."""
    present = set(resolve_leads(leads))
    return np.array([lead in present for lead in LEADS], dtype=bool)
