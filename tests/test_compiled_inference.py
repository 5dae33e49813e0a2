"""Tests for the compiled forward pass behind leadattn.inference.Predictor and its eager fallback."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from explain_helpers import TINY_CONFIG

from leadattn import inference
from leadattn.data import PreprocessConfig
from leadattn.inference import CompiledForward, Predictor, compile_unavailable, score_signals
from leadattn.leads import lead_mask
from leadattn.models import LocalLeadAttentionNet

TINY = TINY_CONFIG


@pytest.fixture(scope="module")
def model() -> LocalLeadAttentionNet:
    torch.manual_seed(3)
    return LocalLeadAttentionNet(TINY).eval()


def _inputs(batch: int, samples: int, lengths: list[int] | None = None):
    generator = torch.Generator().manual_seed(samples)
    x = torch.randn(batch, 12, samples, generator=generator)
    mask = torch.stack([torch.from_numpy(lead_mask(size)) for size in (12, 6, 3, 2)][:batch])
    return x, mask, torch.tensor(lengths or [samples] * batch)


def _stub_compile(monkeypatch, compiled):
    calls = []

    def fake(module, **options):
        calls.append(options)
        return compiled

    monkeypatch.setattr(torch, "compile", fake)
    return calls


@pytest.mark.skipif(compile_unavailable() is not None, reason=str(compile_unavailable()))
def test_compiled_logits_equal_eager(model):
    forward = CompiledForward(model)
    x, mask, lengths = _inputs(2, 1600)
    with torch.inference_mode():
        out = forward(x, mask, lengths)
        if not forward.active:
            pytest.skip(f"torch.compile does not work here: {forward.failure}")
        torch.testing.assert_close(out, model(x, mask, lengths), atol=1e-4, rtol=0)


def test_a_compiler_error_falls_back_to_eager_for_good(model, monkeypatch):
    def broken(*args):
        raise RuntimeError("no C++ compiler found")

    calls = _stub_compile(monkeypatch, broken)
    forward = CompiledForward(model)
    x, mask, lengths = _inputs(2, 1000)
    with torch.inference_mode(), pytest.warns(RuntimeWarning, match="no C.. compiler found"):
        out = forward(x, mask, lengths)
    assert not forward.active and "compilation failed" in forward.failure
    with torch.inference_mode():
        torch.testing.assert_close(out, model(x, mask, lengths))
        forward(x, mask, lengths)  # no second attempt, no second warning
    assert len(calls) == 1


def test_compiled_logits_that_differ_from_eager_are_not_used(model, monkeypatch):
    _stub_compile(monkeypatch, lambda x, mask, lengths: model(x, mask, lengths) + 1e-3)
    forward = CompiledForward(model)
    x, mask, lengths = _inputs(2, 1000)
    with torch.inference_mode(), pytest.warns(RuntimeWarning, match="differ from eager by 1.00e-03"):
        out = forward(x, mask, lengths)
    assert not forward.active
    with torch.inference_mode():
        torch.testing.assert_close(out, model(x, mask, lengths))


def test_full_lengths_reach_the_compiled_model_as_none(model, monkeypatch):
    seen = []

    def compiled(x, mask, lengths):
        seen.append(lengths)
        return model(x, mask, lengths)

    _stub_compile(monkeypatch, compiled)
    forward = CompiledForward(model)
    with torch.inference_mode():
        forward(*_inputs(2, 1000))
        forward(*_inputs(2, 1000, [1000, 700]))
    assert seen[0] is None and seen[1].tolist() == [1000, 700]


def test_auto_compiles_once_a_job_is_large_enough(model, monkeypatch):
    calls = _stub_compile(monkeypatch, lambda x, mask, lengths: model(x, mask, lengths))
    monkeypatch.setattr(inference, "COMPILE_AFTER_WINDOWS", 5)
    predictor = Predictor(model, PreprocessConfig(), window_seconds=2.0, compile="auto", device="cpu")
    assert predictor.forward(4) is model
    assert isinstance(predictor.forward(5), CompiledForward)
    assert Predictor(model, PreprocessConfig(), device="cpu").forward(10**6) is model
    always = Predictor(model, PreprocessConfig(), compile=True, device="cpu")
    assert isinstance(always.forward(), CompiledForward)
    signals = [np.random.default_rng(0).standard_normal((12, 1500)).astype(np.float32)]
    compiled = score_signals(predictor.forward(5), signals, lead_mask(12)[None], 1000, 500)
    eager = score_signals(model, signals, lead_mask(12)[None], 1000, 500)
    np.testing.assert_allclose(compiled, eager, atol=1e-6)
    assert len(calls) == 1 and calls[0] == {"dynamic": False}


def test_compile_mode_is_checked():
    with pytest.raises(ValueError, match="compile must be True, False or 'auto'"):
        Predictor(LocalLeadAttentionNet(TINY), PreprocessConfig(), compile="yes", device="cpu")
