"""Tests for leadattn.inference: window placement, combination of windows, lead masking."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from leadattn.data import PreprocessConfig, RecordError, read_record
from leadattn.inference import Predictor, score_signals, subset_key, window_starts
from leadattn.leads import LEADS, lead_mask


class LeadSum(torch.nn.Module):
    """Stand-in model: every class's logit is the mean over time of the sum of the present leads."""

    def __init__(self) -> None:
        super().__init__()
        self.scale = torch.nn.Parameter(torch.ones(1))
        self.seen: list[tuple[tuple[int, ...], torch.Tensor]] = []

    def forward(self, x: torch.Tensor, lead_mask: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        self.seen.append((tuple(x.shape), lead_mask.clone()))
        valid = torch.arange(x.shape[-1]) < lengths[:, None]
        logit = (x.sum(dim=1) * self.scale * valid).sum(dim=1, keepdim=True) / lengths[:, None]
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


def score(model, x, masks, **options):
    return score_signals(model, [x], np.asarray(masks, bool).reshape(-1, 12), **options)[0]


def test_score_signals_combines_window_probabilities():
    x = np.zeros((12, 300), dtype=np.float32)
    x[0, :100], x[0, 100:200], x[0, 200:] = 1.0, -1.0, 2.0  # windows of 100 every 100
    model = LeadSum()
    mean = score(model, x, np.ones(12, bool), window=100, hop=100, combine="mean")
    peak = score(model, x, np.ones(12, bool), window=100, hop=100, combine="max")
    assert mean.shape == (1, 26)
    assert mean[0, 0] == pytest.approx(np.mean([_sigmoid(1.0), _sigmoid(-1.0), _sigmoid(2.0)]))
    assert peak[0, 5] == pytest.approx(_sigmoid(2.0))


def test_score_signals_masks_absent_leads_and_batches_subsets():
    x = np.zeros((12, 250), dtype=np.float32)
    x[LEADS.index("I")] = 0.5
    x[LEADS.index("V1")] = 3.0
    model = LeadSum()
    masks = np.stack([lead_mask(12), lead_mask(2)])
    out = score(model, x, masks, window=100, hop=50, batch_size=3)
    assert out.shape == (2, 26)
    assert out[0, 0] == pytest.approx(_sigmoid(3.5))
    assert out[1, 0] == pytest.approx(_sigmoid(0.5))  # V1 is not in the 2-lead subset: zeroed
    shapes = [shape for shape, _ in model.seen]
    assert shapes == [(3, 12, 100), (3, 12, 100), (2, 12, 100)]  # 2 subsets x 4 windows, batches of 3


def test_records_shorter_than_a_window_share_a_batch_with_their_lengths():
    model = LeadSum().train()
    short, long = np.ones((12, 700), np.float32), np.full((12, 1200), 2.0, np.float32)
    out = score_signals(model, [short, long], lead_mask(12)[None], window=1000, hop=1000)
    assert out[0, 0, 0] == pytest.approx(_sigmoid(12.0))  # padding after 700 samples is not averaged in
    assert out[1, 0, 0] == pytest.approx(_sigmoid(24.0))
    assert model.seen[0][0] == (3, 12, 1000)  # the short record and the long one's two windows
    assert model.training


def test_score_signals_rejects_bad_input():
    model = LeadSum()
    x = np.zeros((12, 100), np.float32)
    with pytest.raises(ValueError, match=r"signal 0 must have shape \[12, samples\]"):
        score_signals(model, [x[:6]], lead_mask(12)[None], 50, 50)
    with pytest.raises(ValueError, match=r"masks must have shape"):
        score_signals(model, [x], np.ones((1, 6), bool), 50, 50)
    with pytest.raises(ValueError, match="at least one present lead"):
        score_signals(model, [x], np.zeros((1, 12), bool), 50, 50)
    with pytest.raises(ValueError, match="combine must be 'mean' or 'max'"):
        score_signals(model, [x], lead_mask(12)[None], 50, 50, combine="median")


def test_predictor_windows_in_seconds_at_the_model_rate(records_dir):
    record = read_record(records_dir / "E07500")  # 10 s at 500 Hz
    model = LeadSum()
    predictor = Predictor(
        model, PreprocessConfig(fs=250.0, max_seconds=4.0), window_seconds=2.0, hop_seconds=2.0
    )
    assert (predictor.window, predictor.hop) == (500, 500)
    whole = predictor.probabilities([record], [12])[0, 0]
    assert model.seen[0][0] == (5, 12, 500)  # 10 s at 250 Hz: 5 windows of 2 s, scored whole
    truncated = Predictor(model, predictor.preprocess, window_seconds=2.0, hop_seconds=2.0, whole=False)
    model.seen.clear()
    truncated.probabilities([record], [12])
    assert model.seen[0][0] == (2, 12, 500)  # truncated to 4 s like training: 2 windows
    both = predictor.probabilities([record], [12, "I,II"])[0]
    np.testing.assert_allclose(both[0], whole)
    assert model.seen[-1][1][-1].sum() == 2


def test_predictor_uses_the_thresholds_of_each_subset(records_dir):
    table = {str(n): np.full(26, n / 100) for n in (12, 6, 4, 3, 2)}
    predictor = Predictor(LeadSum(), PreprocessConfig(), table)
    prediction = predictor.predict(records_dir / "E07500", leads=2)
    assert prediction.leads == ("I", "II")
    np.testing.assert_allclose(prediction.thresholds, 0.02)
    np.testing.assert_array_equal(prediction.outputs, prediction.probabilities >= 0.02)
    assert subset_key(lead_mask(12)) == "12" and subset_key(lead_mask("I,II,V1,V2,V3")) == "4"
    with pytest.raises(ValueError, match="thresholds lack lead subset"):
        Predictor(LeadSum(), PreprocessConfig(), {"12": np.zeros(26)})


def test_predictor_rejects_records_without_the_subset(records_dir):
    record = read_record(records_dir / "E07500")
    record.leads = ("V1", "V2")
    record.signal = record.signal[6:8]
    predictor = Predictor(LeadSum(), PreprocessConfig())
    prepared = predictor.prepare(record)
    np.testing.assert_array_equal(predictor.masks(prepared, [3])[0], lead_mask("V2"))
    with pytest.raises(RecordError, match="E07500: no lead of subset 2 has signal"):
        predictor.masks(prepared, [2])
