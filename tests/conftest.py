"""Shared fixtures: real records (a handful in the repository, the full shared sample beside the checkout
when present) and a quiet CPU torch."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests_paths import REPO, SHARED_RECORDS, TEST_RECORDS, require

from leadattn.data import prepare

SAMPLE_MANIFEST = REPO / "data_manifests" / "cinc2021_sample.csv"


@pytest.fixture(scope="session")
def records_dir() -> Path:
    """Eight real challenge records kept in the repository (tests/data/README.md says which and why)."""
    return TEST_RECORDS


@pytest.fixture(scope="session")
def records_manifest(tmp_path_factory) -> Path:
    """A manifest of the records in tests/data/records (its data directory recorded beside it)."""
    path = tmp_path_factory.mktemp("records_manifest") / "records.csv"
    prepare(TEST_RECORDS, path, workers=1)
    return path


@pytest.fixture(scope="session")
def shared_records_dir() -> Path:
    """The 50 real PhysioNet/CinC 2021 records of ../shared, read in place (skips when absent)."""
    return require(SHARED_RECORDS)


@pytest.fixture(scope="session")
def sample_manifest() -> Path:
    """The committed manifest of the 50 shared records (a test that reads their signals also asks for
    ``shared_records_dir``, so that it skips when ../shared is absent)."""
    return SAMPLE_MANIFEST


@pytest.fixture(autouse=True, scope="session")
def _torch_threads():
    import torch

    torch.set_num_threads(2)
    torch.manual_seed(0)


@pytest.fixture(scope="module")
def one_torch_thread():
    """One torch thread for a module's tests (``pytest.mark.usefixtures("one_torch_thread")``): small
    models are fast so on a shared CPU, where a second thread mostly waits for a core."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)
