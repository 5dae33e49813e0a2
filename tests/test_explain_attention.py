"""Tests for explain.attention: mass tracing on hand-made attention, and frames of the real network."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch
from explain_helpers import OneLeadModel, make_record, small_model

from explain.attention import AttentionExplainer, block_map, rollout_map
from explain.frames import TIME_INDEX
from leadattn.leads import LEADS
from leadattn.models import BlockAttention, TokenGeometry

pytestmark = pytest.mark.usefixtures("one_torch_thread")

LEAD_I, LEAD_II = LEADS.index("I"), LEADS.index("II")


def attention_frame(model, record, aggregate="mean", leads=None, **settings):
    return AttentionExplainer(model, aggregate, **settings).explain(record, leads=leads)


MASK = np.array([lead in ("I", "II") for lead in LEADS])


def _block(within_keys, key_index, across_to, geometry):
    """Attention where every query takes key ``within_keys[n]`` of its window and every lead attends
    to lead ``across_to`` (or to itself when None)."""
    tokens, width = len(key_index), len(key_index[0])
    within = torch.zeros(1, 1, 12, tokens, width)
    for n, j in enumerate(within_keys):
        within[0, 0, :, n, j] = 1.0
    across = torch.zeros(1, 1, tokens, 12, 12)
    for lead in range(12):
        across[0, 0, :, lead, lead if across_to is None else across_to] = 1.0
    return BlockAttention(within, across, torch.tensor(key_index), geometry)


GEOMETRY = TokenGeometry(stride=8, receptive_field=8, offset=0, num_tokens=4)
WINDOWS = [[0, 1], [0, 1], [2, 3], [2, 3]]


def test_block_map_traces_uniform_mass_back_through_across_then_within_attention():
    block = _block([0, 0, 0, 0], WINDOWS, across_to=LEAD_I, geometry=GEOMETRY)
    tokens = block_map(block, MASK)
    expected = np.zeros((12, 4))
    expected[LEAD_I] = [0.5, 0.0, 0.5, 0.0]  # all leads read lead I, every window reads its first key
    np.testing.assert_allclose(tokens, expected)


def test_rollout_mixes_each_attention_with_the_identity_for_the_residual():
    block = _block([0, 0, 0, 0], WINDOWS, across_to=LEAD_I, geometry=GEOMETRY)
    tokens = rollout_map([block], MASK, identity=0.5)
    np.testing.assert_allclose(tokens[LEAD_I], [0.28125, 0.09375, 0.28125, 0.09375])
    np.testing.assert_allclose(tokens[LEAD_II], [0.09375, 0.03125, 0.09375, 0.03125])
    assert tokens.sum() == pytest.approx(1.0)
    assert not tokens[[i for i in range(12) if not MASK[i]]].any()


def test_rollout_splits_merged_tokens_between_the_tokens_they_came_from():
    fine = _block([0, 1, 0], [[0, 1], [0, 1], [2, -1]], None, TokenGeometry(8, 8, 0, 3))
    coarse = _block([0, 1], [[0, 1], [0, 1]], None, TokenGeometry(16, 16, 0, 2))
    tokens = rollout_map([fine, coarse], MASK)
    np.testing.assert_allclose(tokens[LEAD_I], [0.125, 0.125, 0.25])  # token 2 was merged with padding
    np.testing.assert_allclose(tokens[LEAD_II], [0.125, 0.125, 0.25])


@pytest.fixture(scope="module")
def network():
    return small_model()


@pytest.mark.parametrize("aggregate", ["mean", "rollout", "block:0", "block:-1"])
def test_attention_frame_is_a_distribution_over_leads_and_samples(network, aggregate):
    record = make_record(seconds=3.0)
    frame = attention_frame(network, record, aggregate)
    assert frame.shape == (1500, 12)
    assert list(frame.columns) == list(LEADS)
    assert frame.index.name == TIME_INDEX
    assert frame.index[-1] == pytest.approx(1499 / 500)
    values = frame.to_numpy()
    assert values.min() >= 0
    assert values.sum() == pytest.approx(1.0, abs=1e-5)
    assert frame.attrs["method"] == "attention" and frame.attrs["aggregate"] == aggregate


def test_attention_frame_for_a_lead_subset_and_another_rate(network):
    record = make_record(seconds=4.0, fs=250.0, leads=("I", "II", "III", "aVR", "aVL", "aVF"))
    frame = attention_frame(network, record, "rollout", leads=["II", "I"])
    assert list(frame.columns) == ["I", "II"]
    assert frame.shape == (1000, 2)
    assert frame.to_numpy().sum() == pytest.approx(1.0, abs=1e-5)


def test_one_head_differs_from_the_mean_of_heads(network):
    record = make_record(seconds=2.0)
    mean = attention_frame(network, record, "block:0").to_numpy()
    first = attention_frame(network, record, "block:0", head=0).to_numpy()
    assert first.sum() == pytest.approx(1.0, abs=1e-5)
    assert not np.allclose(mean, first)


def test_bad_aggregates_heads_and_models_are_named(network):
    record = make_record(seconds=2.0)
    with pytest.raises(ValueError, match="aggregate must be 'mean', 'rollout' or 'block:<i>'"):
        attention_frame(network, record, "max")
    with pytest.raises(ValueError, match="block 7 out of range: the model has 3 blocks"):
        attention_frame(network, record, "block:7")
    with pytest.raises(ValueError, match="head 5 out of range"):
        attention_frame(network, record, "block:0", head=5)
    with pytest.raises(ValueError, match=r"T0001: lead\(s\) V1 requested but the record has only I, II"):
        attention_frame(network, make_record(leads=("I", "II")), leads=["V1"])
    with pytest.raises(TypeError, match="does not return attention"):
        attention_frame(OneLeadModel(), record)
    with pytest.raises(TypeError, match="expected a Predictor, a LoadedModel or a model"):
        attention_frame(SimpleNamespace(), record)
    with pytest.raises(ValueError, match="spread must be one of"):
        attention_frame(network, record, spread="gaussian")


def test_spreading_over_the_receptive_field_keeps_each_leads_mass(network):
    record = make_record(seconds=3.0)
    centred = attention_frame(network, record, "block:0")
    spread = attention_frame(network, record, "block:0", spread="receptive_field")
    assert spread.attrs["spread"] == "receptive_field" and centred.attrs["spread"] == "stride"
    np.testing.assert_allclose(spread.sum().to_numpy(), centred.sum().to_numpy(), atol=1e-9)
    assert not np.allclose(spread.to_numpy(), centred.to_numpy())


def test_receptive_field_spread_of_one_token_covers_its_field_uniformly():
    from explain.attention import _over_receptive_fields

    geometry = TokenGeometry(stride=4, receptive_field=10, offset=-3, num_tokens=5)
    tokens = np.zeros((1, 5))
    tokens[0, 2] = 1.0
    out = _over_receptive_fields(tokens, geometry, samples=20)
    first = -3 + 2 * 4
    expected = np.zeros(20)
    expected[first : first + 10] = 0.1
    np.testing.assert_allclose(out[0], expected)
