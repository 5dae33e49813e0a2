"""Every Python snippet in the README runs as pasted.

The snippets refer to the files a reader has after the quick start (``runs/demo/best.pt``, a demo
manifest, a record ``path/to/E00001``); the sandbox provides small stand-ins for them: a small model's
checkpoint, a manifest of repository test records, and copies of those records under the names used.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import replace
from pathlib import Path

import matplotlib
import pytest
from explain_helpers import TINY_CONFIG, checkpoint_payload

from leadattn.checkpoint import save_checkpoint
from leadattn.data import prepare
from leadattn.labels import NUM_CLASSES

matplotlib.use("Agg")

REPO = Path(__file__).resolve().parents[1]
RECORDS = REPO / "tests" / "data" / "records"
SNIPPETS = re.findall(r"```python\n(.*?)```", (REPO / "README.md").read_text(), flags=re.S)
SMALL = replace(TINY_CONFIG, dims=(16, 16), within_heads=(1, 1), across_heads=(1, 1), windows=(8, 0))


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("readme")
    payload = checkpoint_payload(SMALL, thresholds={str(n): [0.5] * NUM_CLASSES for n in (12, 6, 4, 3, 2)})
    save_checkpoint(root / "runs" / "demo" / "best.pt", payload)
    (root / "path" / "to").mkdir(parents=True)
    for name, source in (("path/to/E00001", "E00001"), ("rec1", "E07500"), ("rec2", "JS20019")):
        for suffix in (".hea", ".mat"):
            shutil.copy(RECORDS / f"{source}{suffix}", root / f"{name}{suffix}")
    records = root / "records"
    records.mkdir()
    for path in RECORDS.iterdir():
        shutil.copy(path, records / path.name)
    prepare(records, root / "data_manifests" / "demo.csv", workers=1)
    return root


def test_the_readme_has_snippets():
    assert len(SNIPPETS) >= 3


@pytest.mark.parametrize("code", SNIPPETS, ids=[f"snippet{i + 1}" for i in range(len(SNIPPETS))])
def test_snippet_runs_as_pasted(code, sandbox, monkeypatch):
    monkeypatch.chdir(sandbox)
    exec(compile(code, "README.md", "exec"), {"__name__": "readme"})
