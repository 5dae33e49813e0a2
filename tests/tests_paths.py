"""Paths of the shared material beside the checkout, for modules that need them outside fixtures."""

from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
SHARED_RECORDS = SHARED / "ecg" / "cinc2021"
SHARED_TABLES = SHARED / "physionet2021"
