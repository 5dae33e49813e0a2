"""Tests for leadattn.inference: window placement, combination of windows, lead masking."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from leadattn.data import PreprocessConfig, RecordError, read_record
from leadattn.inference import (
    predict_record,
    predict_record_subsets,
    predict_signal,
    subset_masks,
    window_starts,
)
from leadattn.leads import LEADS, lead_mask


class LeadSum(torch.nn.Module):
    """Stand-in model: every class's logit is the mean over time of the sum of the present leads."""

    def __init__(self) -> None:
        super().__init__()
        self.scale = torch.nn.Parameter(torch.ones(1))
        self.seen: list[tuple[tuple[int, ...], torch.Tensor]] = []

    def forward(self, x: torch.Tensor, lead_mask: torch.Tensor) -> torch.Tensor:
        self.seen.append((tuple(x.shape), lead_mask.clone()))
        logit = (x.sum(dim=1) * self.scale).mean(dim=1, keepdim=True)
        return logit.expand(-1, 26)


def _sigmoid(v: float) -> float:
    return 1.0 / (1.0 + np.exp(-v))


@pytest.mark.parametrize(
    ("n", "expected"),
    [(12000, [0, 2500, 5000, 7000]), (10000, [0, 2500, 5000]), (7500, [0, 2500]), (5000, [0]), (3000, [0])],
)
def test_window_starts_cover_the_record(n, expected):
    starts = window_starts(n, 5000, 2500)
    np.testing.assert_array_equal(starts, expected)
    assert starts[-1] + min(5000, n) == n


def test_window_starts_rejects_nonsense():
    with pytest.raises(ValueError, match="window and hop must be positive"):
        window_starts(100, 0, 10)
    with pytest.raises(ValueError, match="no samples"):
        window_starts(0, 10, 10)


def test_predict_signal_combines_window_probabilities():
    x = np.zeros((12, 300), dtype=np.float32)
    x[0, :100], x[0, 100:200], x[0, 200:] = 1.0, -1.0, 2.0  # windows of 100 every 100
    model = LeadSum()
    mean = predict_signal(model, x, np.ones(12, bool), window=100, hop=100, combine="mean")
    peak = predict_signal(model, x, np.ones(12, bool), window=100, hop=100, combine="max")
    assert mean.shape == (26,)
    assert mean[0] == pytest.approx(np.mean([_sigmoid(1.0), _sigmoid(-1.0), _sigmoid(2.0)]))
    assert peak[5] == pytest.approx(_sigmoid(2.0))


def test_predict_signal_masks_absent_leads_and_batches_subsets():
    x = np.zeros((12, 250), dtype=np.float32)
    x[LEADS.index("I")] = 0.5
    x[LEADS.index("V1")] = 3.0
    model = LeadSum()
    masks = np.stack([lead_mask(12), lead_mask(2)])
    out = predict_signal(model, x, masks, window=100, hop=50, batch_size=3)
    assert out.shape == (2, 26)
    assert out[0, 0] == pytest.approx(_sigmoid(3.5))
    assert out[1, 0] == pytest.approx(_sigmoid(0.5))  # V1 is not in the 2-lead subset: zeroed
    shapes = [shape for shape, _ in model.seen]
    assert shapes == [(3, 12, 100), (3, 12, 100), (2, 12, 100)]  # 2 subsets x 4 windows, batches of 3


def test_predict_signal_runs_short_records_whole_and_restores_mode():
    model = LeadSum().train()
    out = predict_signal(model, np.ones((12, 700), np.float32), np.ones(12, bool), window=5000)
    assert out[0] == pytest.approx(_sigmoid(12.0))
    assert model.seen[0][0] == (1, 12, 700)
    assert model.training


def test_predict_signal_rejects_bad_input():
    model = LeadSum()
    x = np.zeros((12, 100), np.float32)
    with pytest.raises(ValueError, match=r"signal must have shape \[12, samples\]"):
        predict_signal(model, x[:6], np.ones(12, bool))
    with pytest.raises(ValueError, match=r"mask must have shape \[12\] or \[subsets, 12\]"):
        predict_signal(model, x, np.ones(6, bool))
    with pytest.raises(ValueError, match="at least one present lead"):
        predict_signal(model, x, np.zeros(12, bool))
    with pytest.raises(ValueError, match="combine must be 'mean' or 'max'"):
        predict_signal(model, x, np.ones(12, bool), combine="median")


def test_predict_record_uses_the_checkpoint_preprocessing(records_dir):
    record = read_record(records_dir / "E07500")
    loaded = SimpleNamespace(model=LeadSum(), preprocess=PreprocessConfig(max_seconds=4.0))
    whole = predict_record(loaded, record, window=1000, hop=1000)
    assert {shape[2] for shape, _ in loaded.model.seen} == {1000}
    assert len(loaded.model.seen) == 1  # 10 s at 500 Hz: 5 windows of 1000 in one batch
    assert loaded.model.seen[0][0][0] == 5
    loaded.model.seen.clear()
    predict_record(loaded, record, window=1000, hop=1000, whole=False)  # truncated to 4 s: 2 windows
    assert loaded.model.seen[0][0][0] == 2
    both = predict_record_subsets(loaded, record, [12, "I,II"], window=1000, hop=1000)
    np.testing.assert_allclose(both[0], whole)
    assert loaded.model.seen[-1][1][-1].sum() == 2


def test_subset_masks_reject_records_without_the_subset(records_dir):
    record = read_record(records_dir / "E07500")
    record.leads = ("V1", "V2")
    record.signal = record.signal[6:8]
    np.testing.assert_array_equal(subset_masks(record, [3])[0], lead_mask("V2"))
    with pytest.raises(RecordError, match="E07500: no lead of subset 2 is in the record"):
        subset_masks(record, [2])
