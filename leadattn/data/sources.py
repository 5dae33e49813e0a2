"""Which of the eight PhysioNet/CinC 2021 data sets a record comes from, by its name (and folder)."""

from __future__ import annotations

from pathlib import Path

SOURCES: tuple[str, ...] = (
    "CPSC",
    "CPSC-Extra",
    "INCART",
    "PTB",
    "PTB-XL",
    "Georgia",
    "Chapman-Shaoxing",
    "Ningbo",
    "synthetic",
)

_PREFIXES = (
    ("HR", "PTB-XL"),
    ("JS", None),
    ("SYN", "synthetic"),
    ("A", "CPSC"),
    ("Q", "CPSC-Extra"),
    ("I", "INCART"),
    ("S", "PTB"),
    ("E", "Georgia"),
)
_FOLDERS = {
    "cpsc_2018": "CPSC",
    "cpsc_2018_extra": "CPSC-Extra",
    "st_petersburg_incart": "INCART",
    "ptb": "PTB",
    "ptb-xl": "PTB-XL",
    "georgia": "Georgia",
    "chapman_shaoxing": "Chapman-Shaoxing",
    "ningbo": "Ningbo",
}
_LAST_CHAPMAN = 10646  # JS00001-JS10646 are Chapman-Shaoxing, the rest Ningbo


def source_of(name: str, path: Path | None = None) -> str:
    """The data set a record belongs to; the challenge's record names encode it, folders confirm it."""
    for prefix, source in _PREFIXES:
        if name.startswith(prefix) and name[len(prefix) :].isdigit():
            if source is None:
                return "Chapman-Shaoxing" if int(name[2:]) <= _LAST_CHAPMAN else "Ningbo"
            return source
    if path is not None:
        for part in reversed(Path(path).parts):
            if part.lower() in _FOLDERS:
                return _FOLDERS[part.lower()]
    return "unknown"
