"""Tests of leadattn.export: torch.export and ONNX programs equal the eager model."""

from __future__ import annotations

import sys
from dataclasses import replace

import pytest
import torch
from explain_helpers import TINY_CONFIG

from leadattn.export import (
    ExportMismatchError,
    example_inputs,
    export_onnx,
    export_program,
    onnx_session,
    run_onnx,
)
from leadattn.models import LocalLeadAttentionNet

TINY = replace(TINY_CONFIG, depths=(2, 1))


@pytest.fixture(scope="module")
def model() -> LocalLeadAttentionNet:
    torch.manual_seed(5)
    return LocalLeadAttentionNet(TINY).eval()


@pytest.fixture(scope="module")
def program(model):
    return export_program(model, example_inputs(2, 1200))


@pytest.fixture(scope="module")
def exported(program):
    return program.module()


# Other batch sizes and lengths than the export example, including a batch of one and lengths
# whose token counts fill windows exactly or leave padding.
SHAPES = [(1, 1000), (3, 2333), (2, 5000), (1, 30000)]


@pytest.mark.parametrize(("batch", "samples"), SHAPES)
def test_exported_program_equals_eager_at_other_shapes(model, exported, batch, samples):
    x, mask = example_inputs(batch, samples, seed=samples)
    with torch.no_grad():
        error = (exported(x, mask) - model(x, mask)).abs().max().item()
    assert error <= 1e-4


def test_onnx_export_equals_eager(model, program, tmp_path):
    pytest.importorskip("onnxruntime")
    # The graph optimiser is skipped only to keep the test fast (it adds ~15 s here).
    path = export_onnx(
        model, tmp_path / "model.onnx", example_inputs(2, 1200), optimize=False, program=program
    )
    session = onnx_session(path)
    for batch, samples in SHAPES[:3]:
        x, mask = example_inputs(batch, samples, seed=samples)
        with torch.no_grad():
            expected = model(x, mask).numpy()
        assert abs(run_onnx(session, x, mask) - expected).max() <= 1e-4


def test_export_check_rejects_outputs_beyond_the_tolerance(model):
    with pytest.raises(ExportMismatchError, match="torch.export output differs from eager"):
        export_program(model, example_inputs(1, 1000), dynamic=False, atol=-1.0)


def test_export_restores_training_mode():
    model = LocalLeadAttentionNet(TINY).train()
    export_program(model, example_inputs(1, 1000), dynamic=False)
    assert model.training


def test_onnx_check_without_onnxruntime_says_how_to_install(model, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    with pytest.raises(ImportError, match="pip install onnxruntime"):
        export_onnx(model, tmp_path / "model.onnx")


@pytest.mark.parametrize(
    ("example", "message"),
    [
        ((torch.randn(1, 12, 1000), torch.ones(1, 12)), "bool lead_mask"),
        ((torch.randn(1, 12, 100), torch.ones(1, 12, dtype=torch.bool)), "500 to 120000 samples"),
    ],
)
def test_export_rejects_bad_examples(model, example, message):
    with pytest.raises(ValueError, match=message):
        export_program(model, example)
