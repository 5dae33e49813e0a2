"""Shared fixtures: the real challenge records beside the checkout, and a quiet CPU torch."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests_paths import REPO, SHARED_RECORDS

SAMPLE_MANIFEST = REPO / "data_manifests" / "cinc2021_sample.csv"


@pytest.fixture(scope="session")
def shared_records_dir() -> Path:
    """The 50 real PhysioNet/CinC 2021 records, read in place."""
    if not SHARED_RECORDS.is_dir():
        pytest.fail(f"real records not found at {SHARED_RECORDS}: ../shared must sit beside the checkout")
    return SHARED_RECORDS


@pytest.fixture(scope="session")
def sample_manifest() -> Path:
    """The committed manifest of the 50 shared records."""
    return SAMPLE_MANIFEST


@pytest.fixture(autouse=True, scope="session")
def _torch_threads():
    import torch

    torch.set_num_threads(2)
    torch.manual_seed(0)
