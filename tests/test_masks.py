"""Mask collators: sizes, ratios, block lengths, disjointness, stacking, seeding, bad input, figure."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from leadattn.masks import (
    IJEPAMaskCollator,
    LeadTimeMaskCollator,
    MaskCollator,
    MaskError,
    num_patches,
    plot_masks,
)


def _runs(flags: np.ndarray) -> list[tuple[int, int]]:
    """(start, length) of every run of True."""
    padded = np.concatenate([[False], flags, [False]]).astype(np.int8)
    edges = np.flatnonzero(np.diff(padded))
    return [(int(s), int(e - s)) for s, e in zip(edges[::2], edges[1::2])]


@pytest.mark.parametrize("patches", [200, 40, 64])
def test_ecg_jepa_sizes_ratios_blocks_and_disjointness(patches):
    collator = MaskCollator(25, 10, 0.15, 0.25, seed=1)
    for _ in range(30):
        masks = collator.sample(8, patches)
        assert masks.context.shape[0] == masks.targets.shape[0] == 8
        keep = masks.context.shape[1]
        assert math.ceil(0.15 * patches) <= keep <= math.ceil(0.25 * patches)
        assert masks.targets.shape[1] == patches - keep
        for context, target in zip(masks.context.numpy(), masks.targets.numpy()):
            assert not set(context) & set(target)
            assert sorted({*context, *target}) == list(range(patches))
            assert np.all(np.diff(context) > 0) and np.all(np.diff(target) > 0)
            hidden = np.zeros(patches, dtype=bool)
            hidden[target] = True
            # every hidden run is at least one block long (a short remainder is glued to a block)
            assert all(length >= 10 for _, length in _runs(hidden))


def test_ecg_jepa_reference_setting_targets_are_75_to_85_percent():
    masks = MaskCollator(25, 10, 0.15, 0.25, seed=0)
    shares = [masks.sample(4, 200).targets.shape[1] / 200 for _ in range(200)]
    assert min(shares) >= 0.75 and max(shares) <= 0.85
    assert max(shares) - min(shares) > 0.05  # the keep ratio does vary between batches


def test_collators_are_seeded_and_collate_items():
    items = [(torch.randn(12, 5000), torch.ones(12, dtype=torch.bool)) for _ in range(3)]
    for make in (
        lambda: MaskCollator(25, seed=3),
        lambda: IJEPAMaskCollator(25, seed=3),
        lambda: LeadTimeMaskCollator(25, seed=3),
    ):
        (x, mask), a = make()(items)
        (_, _), b = make()(items)
        assert x.shape == (3, 12, 5000) and mask.shape == (3, 12)
        assert torch.equal(a.context, b.context)
        for ta, tb in zip(a.target_blocks, b.target_blocks):
            assert torch.equal(ta, tb)
        _, c = make()(items)
        collator = make()
        collator(items)
        _, d = collator(items)  # the generator moves on between calls
        assert torch.equal(c.context, a.context) and not (
            d.context.shape == a.context.shape and torch.equal(d.context, a.context)
        )


def test_sample_with_an_explicit_generator_is_reproducible():
    collator = MaskCollator(32, 4, 0.2, 0.3)
    a = collator.sample(5, 64, np.random.default_rng(7))
    b = collator.sample(5, 64, np.random.default_rng(7))
    assert torch.equal(a.context, b.context) and torch.equal(a.targets, b.targets)


@pytest.mark.parametrize("patches", [200, 60])
def test_ijepa_blocks_context_and_stacking(patches):
    collator = IJEPAMaskCollator(25, (0.85, 0.95), (0.15, 0.2), 4, min_keep=10, seed=2)
    for _ in range(30):
        masks = collator.sample(6, patches)
        blocks = masks.target_blocks
        assert len(blocks) == 4
        lengths = {b.shape[1] for b in blocks}
        assert len(lengths) == 1
        length = lengths.pop()
        assert round(0.15 * patches) <= length <= round(0.2 * patches)
        assert masks.context.shape[0] == 6 and masks.context.shape[1] >= 10
        for i in range(6):
            context = masks.context[i].numpy()
            assert np.all(np.diff(context) > 0)
            assert context.max() - context.min() < round(0.95 * patches)  # inside one interval
            for block in blocks:
                row = block[i].numpy()
                assert np.all(np.diff(row) == 1)  # contiguous
                assert not set(context) & set(row)


def test_ijepa_truncates_context_to_batch_minimum():
    masks = IJEPAMaskCollator(1, min_keep=10, seed=0).sample(16, 100)
    assert masks.context.dim() == 2
    lengths = masks.grids()[0][:, 0].sum(dim=1)
    assert torch.all(lengths == masks.context.shape[1])


def test_ijepa_relaxes_with_a_warning_when_targets_leave_too_little():
    collator = IJEPAMaskCollator(1, (0.5, 0.5), (0.5, 0.5), 4, min_keep=9, max_tries=3, seed=0)
    with pytest.warns(RuntimeWarning, match="target blocks are removed"):
        for _ in range(20):
            masks = collator.sample(4, 20)
    assert masks.context.shape[1] >= 9


def test_lead_time_masks_hide_time_blocks_in_a_subset_of_leads():
    collator = LeadTimeMaskCollator(32, 4, 0.2, 0.3, min_hidden_leads=3, max_hidden_leads=6, seed=4)
    for _ in range(30):
        masks = collator.sample(5, 40)
        assert masks.leads == 12
        context, target = masks.grids()
        assert not (context & target).any() and (context | target).all()
        for b in range(5):
            hidden_leads = target[b].any(dim=1)
            assert 3 <= int(hidden_leads.sum()) <= 6
            # one time mask shared by the hidden leads; the other leads are whole
            rows = target[b][hidden_leads]
            assert torch.equal(rows, rows[:1].expand_as(rows))
            assert context[b][~hidden_leads].all()
            assert all(length >= 4 for _, length in _runs(rows[0].numpy()))
        sizes = target.reshape(5, -1).sum(dim=1)
        assert torch.all(sizes == masks.targets.shape[1])
        assert masks.context.shape[1] + masks.targets.shape[1] == 12 * 40


def test_grids_of_time_masks_cover_every_lead():
    masks = MaskCollator(25, 10, 0.15, 0.25, seed=0).sample(2, 200)
    context, target = masks.grids()
    assert context.shape == (2, 12, 200)
    assert torch.equal(context[:, 0], context[:, 11]) and not (context & target).any()


def test_bad_input_gives_clear_errors():
    with pytest.raises(MaskError, match="does not divide records of 5000"):
        num_patches(5000, 64)
    with pytest.raises(MaskError, match="does not divide"):
        MaskCollator(64)([torch.zeros(12, 5000)])
    with pytest.raises(MaskError, match="too short"):
        MaskCollator(25, 10, 0.15, 0.25).sample(2, 12)
    with pytest.raises(MaskError, match="min_keep 10 is larger than the context"):
        IJEPAMaskCollator(25, min_keep=10).sample(2, 10)
    with pytest.raises(MaskError, match="keep ratios"):
        MaskCollator(25, 10, 0.3, 0.2)
    with pytest.raises(MaskError, match="hidden leads"):
        LeadTimeMaskCollator(25, min_hidden_leads=0)
    with pytest.raises(MaskError, match="too short"):
        LeadTimeMaskCollator(25, 10).sample(2, 11)


@pytest.mark.parametrize(
    "collator",
    [MaskCollator(25, seed=0), IJEPAMaskCollator(25, seed=0), LeadTimeMaskCollator(25, seed=0)],
)
def test_plot_masks_draws_bar_leads_legend_and_shares(collator):
    x = torch.randn(2, 12, 5000)
    masks = collator.sample(2, 200)
    fig = plot_masks(x, masks, index=1, title="demo")
    top, body = fig.axes
    assert len(top.patches) == 200
    assert len(body.lines) == 12 * 200
    legend = [t.get_text() for t in body.get_legend().get_texts()]
    assert legend[0] == "context" and legend[-1] == "ignored"
    assert len(legend) == 2 + len(masks.target_blocks)
    assert "context" in fig._suptitle.get_text() and "%" in fig._suptitle.get_text()
    with pytest.raises(ValueError, match="signals must be"):
        plot_masks(torch.randn(5000), masks)
