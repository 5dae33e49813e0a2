"""Paths of the test records in the repository and of the shared material beside the checkout."""

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
TEST_DATA = REPO / "tests" / "data"
TEST_RECORDS = TEST_DATA / "records"
TEST_PTBXL = TEST_DATA / "ptbxl"
SHARED = REPO.parent / "shared"
SHARED_RECORDS = SHARED / "ecg" / "cinc2021"
SHARED_PTBXL = SHARED / "ecg" / "ptbxl"
SHARED_TABLES = SHARED / "physionet2021"


def require(path: Path) -> Path:
    """``path`` when it exists; otherwise skip the test, saying what is missing."""
    if not path.exists():
        pytest.skip(f"needs {path} (the shared data beside the checkout), which is absent")
    return path
