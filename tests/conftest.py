"""Shared fixtures: real records (a handful in the repository, the full shared sample beside the checkout
when present) and a quiet CPU torch."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests_paths import REPO, SHARED_RECORDS, TEST_RECORDS

SAMPLE_MANIFEST = REPO / "data_manifests" / "cinc2021_sample.csv"


def require(path: Path) -> Path:
    """``path`` when it exists; otherwise skip the test, saying what is missing."""
    if not path.exists():
        pytest.skip(f"needs {path} (the shared data beside the checkout), which is absent")
    return path


@pytest.fixture(scope="session")
def records_dir() -> Path:
    """Eight real challenge records kept in the repository (tests/data/README.md says which and why)."""
    return TEST_RECORDS


@pytest.fixture(scope="session")
def shared_records_dir() -> Path:
    """The 50 real PhysioNet/CinC 2021 records of ../shared, read in place (skips when absent)."""
    return require(SHARED_RECORDS)


@pytest.fixture(scope="session")
def sample_manifest() -> Path:
    """The committed manifest of the 50 shared records, whose data are in ../shared (skips if absent)."""
    require(SHARED_RECORDS)
    return SAMPLE_MANIFEST


@pytest.fixture(autouse=True, scope="session")
def _torch_threads():
    import torch

    torch.set_num_threads(2)
    torch.manual_seed(0)
