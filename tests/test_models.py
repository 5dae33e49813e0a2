"""Tests of leadattn.models: shapes, cost, lead separation, locality, masking, attention output."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from leadattn.data.preprocess import PreprocessConfig, preprocess_record
from leadattn.data.records import read_record
from leadattn.leads import LEAD_SUBSETS, lead_mask
from leadattn.models import (
    AcrossLeadAttention,
    LeadAttentionBlock,
    LeadwiseMeanMaxPool,
    LocalLeadAttentionConfig,
    LocalLeadAttentionNet,
    MaskedMeanMaxPool,
    WithinLeadAttention,
    count_flops,
    count_parameters,
    eval_mode,
)

FS = 500
SMALL = LocalLeadAttentionConfig(
    stem_channels=(4, 8),
    stem_kernels=(15, 7, 7),
    stem_strides=(8, 2, 2),
    dims=(16, 24, 32),
    depths=(2, 1, 1),
    within_heads=(1, 2, 1),
    across_heads=(2, 1, 2),
    windows=(4, 4, 0),
    max_relative_distance=6,
)


def masks_for_every_subset() -> torch.Tensor:
    return torch.stack([torch.from_numpy(lead_mask(size)) for size in sorted(LEAD_SUBSETS)])


@pytest.fixture(scope="module")
def small() -> LocalLeadAttentionNet:
    torch.manual_seed(1)
    return LocalLeadAttentionNet(SMALL).eval()


@pytest.fixture(scope="module")
def default() -> LocalLeadAttentionNet:
    torch.manual_seed(2)
    return LocalLeadAttentionNet().eval()


# --- configuration and cost -------------------------------------------------------------------


def test_default_parameter_count_is_within_ten_percent_of_the_paper(default):
    assert abs(count_parameters(default) - 2.4e6) <= 0.1 * 2.4e6


def test_default_costs_at_most_one_gflop_per_ten_second_record(default):
    flops = count_flops(default, samples=10 * FS)
    assert 0.2e9 < flops <= 1.0e9


def test_flop_counter_counts_every_attention_product():
    batch, leads, tokens, dim, qk, window = 1, 12, 10, 8, 4, 4
    x = torch.randn(batch, leads, tokens, dim)
    within = WithinLeadAttention(leads, dim, qk, 2, window, 4, 0.0)
    padded = 12  # 10 tokens in windows of 4
    expected = 2 * leads * padded * (dim * (2 * qk + dim) + window * (qk + dim) + dim * dim)
    with FlopCounterMode(display=False) as counter:
        within(x)
    assert counter.get_total_flops() == expected

    across = AcrossLeadAttention(leads, dim, qk, 2, 0.0)
    expected = 2 * leads * tokens * (dim * (2 * qk + dim) + leads * (qk + dim) + dim * dim)
    with FlopCounterMode(display=False) as counter:
        across(x, torch.ones(batch, leads, dtype=torch.bool))
    assert counter.get_total_flops() == expected


def test_config_round_trips_through_a_plain_dict():
    config = replace(SMALL, dropout=0.2)
    values = config.to_dict()
    assert values["dims"] == [16, 24, 32]
    assert LocalLeadAttentionConfig.from_dict(values) == config


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"depths": (1, 1)}, "depths has 2 entries"),
        ({"windows": (4, 5, 0)}, "windows must be even"),
        ({"across_heads": (3, 1, 1)}, "divisible by 3 heads"),
        ({"stem_kernels": (15, 7)}, "stem_kernels and stem_strides need 3 entries"),
        ({"activation": "swish"}, "activation must be one of"),
    ],
)
def test_config_rejects_inconsistent_settings(change, message):
    with pytest.raises(ValueError, match=message):
        replace(SMALL, **change)


def test_config_from_dict_names_unknown_keys():
    with pytest.raises(ValueError, match="unknown config key .depth.; did you mean .depths."):
        LocalLeadAttentionConfig.from_dict({"depth": 3})


# --- shapes -----------------------------------------------------------------------------------


@pytest.mark.parametrize("samples", [2 * FS, 2 * FS + 77, 5 * FS + 3, 10 * FS, 17 * FS + 11])
def test_logits_for_every_subset_and_length(small, samples):
    masks = masks_for_every_subset()
    x = torch.randn(len(masks), 12, samples)
    with torch.no_grad():
        logits = small(x, masks)
    assert logits.shape == (len(masks), 26)
    assert torch.isfinite(logits).all()


@pytest.mark.parametrize("seconds", [2, 60])
def test_default_model_handles_two_to_sixty_seconds_with_mixed_masks(default, seconds):
    masks = masks_for_every_subset()[[0, 4]]
    with torch.no_grad():
        logits = default(torch.randn(2, 12, seconds * FS), masks)
    assert logits.shape == (2, 26) and torch.isfinite(logits).all()


def test_default_model_runs_on_a_real_record(default, records_dir):
    record = read_record(records_dir / "E07500")
    x, mask = preprocess_record(record, PreprocessConfig())
    with torch.no_grad():
        logits = default(torch.from_numpy(x)[None], torch.from_numpy(mask))
    assert logits.shape == (1, 26) and torch.isfinite(logits).all()


def test_stem_outputs_batch_leads_tokens_width(small):
    samples = 3001
    tokens = small.stem(torch.randn(2, 12, samples))
    assert tokens.shape == (2, 12, small.stem.geometry(samples).num_tokens, SMALL.dims[0])
    assert tokens.is_contiguous()  # a transposed view would be copied again by every consumer


# --- leads stay apart -------------------------------------------------------------------------


def test_stem_gradient_between_different_leads_is_exactly_zero(small):
    x = torch.randn(1, 12, 1200, requires_grad=True)
    tokens = small.stem(x)
    for lead in range(12):
        weights = torch.randn_like(tokens[:, lead])
        (grad,) = torch.autograd.grad((tokens[:, lead] * weights).sum(), x, retain_graph=True)
        others = torch.cat([grad[:, :lead], grad[:, lead + 1 :]], dim=1)
        assert torch.count_nonzero(others) == 0
        assert torch.count_nonzero(grad[:, lead]) > 0


def _lead_gradients(model, tokens, mask, lead):
    out = model.encode(tokens, mask)
    weights = torch.randn_like(out[:, lead])
    (grad,) = torch.autograd.grad((out[:, lead] * weights).sum(), tokens)
    return grad.abs().sum(dim=(0, 2, 3))  # per input lead


def test_lead_axis_stays_the_lead_axis_through_every_block(small):
    """With only lead l present, across-lead attention has nothing to mix, so block outputs of lead
    l must depend on lead l's tokens alone; a reshape that swapped lead and channel axes anywhere
    in the blocks or merges would make other leads' tokens leak in."""
    n = small.stem.geometry(2000).num_tokens
    for lead in range(12):
        tokens = torch.randn(1, 12, n, SMALL.dims[0], requires_grad=True)
        mask = torch.zeros(1, 12, dtype=torch.bool)
        mask[0, lead] = True
        per_lead = _lead_gradients(small, tokens, mask, lead)
        assert per_lead[lead] > 0
        assert torch.count_nonzero(torch.cat([per_lead[:lead], per_lead[lead + 1 :]])) == 0
    # Control: with every lead present, across-lead attention does mix leads.
    tokens = torch.randn(1, 12, n, SMALL.dims[0], requires_grad=True)
    assert torch.count_nonzero(_lead_gradients(small, tokens, torch.ones(1, 12, dtype=torch.bool), 0)) == 12


def test_within_lead_attention_uses_each_leads_own_projection(small):
    """Swapping two leads' tokens swaps the outputs only if the leads share weights."""
    attention = small.blocks[0].within
    x = torch.randn(1, 12, 8, SMALL.dims[0])
    swapped = x[:, [1, 0, *range(2, 12)]]
    with torch.no_grad():
        out, out_swapped = attention(x), attention(swapped)
    assert not torch.allclose(out[:, 0], out_swapped[:, 1])
    assert torch.equal(out[:, 2:], out_swapped[:, 2:])


# --- locality ---------------------------------------------------------------------------------


def test_first_block_output_ignores_samples_far_outside_its_window(small):
    window = SMALL.windows[0]
    geometry = small.stem.geometry(4000)
    _, stop = geometry.span(window - 1)  # last sample any token of window 0 is computed from
    x = torch.randn(1, 12, 4000)
    changed = x.clone()
    changed[..., stop:] = torch.randn_like(changed[..., stop:])

    captured = []
    handle = small.blocks[0].register_forward_hook(lambda m, i, out: captured.append(out))
    try:
        with torch.no_grad():
            small(x)
            small(changed)
    finally:
        handle.remove()
    before, after = captured
    # The feed-forward convolution reaches mlp_kernel // 2 tokens past the window's last token.
    inside = window - SMALL.mlp_kernel // 2
    assert SMALL.mlp_kernel > 1 and inside > 0
    assert torch.equal(before[:, :, :inside], after[:, :, :inside])
    assert not torch.allclose(before[:, :, inside:], after[:, :, inside:])


@pytest.mark.parametrize(
    ("projections", "cosine"), [("lead", False), ("shared", False), ("residual", False), ("lead", True)]
)
def test_within_lead_attention_matches_a_direct_per_lead_computation(projections, cosine):
    torch.manual_seed(3)
    leads, tokens, dim, qk, window, heads = 12, 7, 6, 4, 4, 2
    attention = WithinLeadAttention(
        leads, dim, qk, heads, window, 3, 0.0, projections=projections, cosine=cosine
    ).eval()
    with torch.no_grad():
        for parameter in attention.parameters():
            parameter.normal_()
    x = torch.randn(1, leads, tokens, dim)
    with torch.no_grad():
        out, weights, key_index = attention.forward_with_weights(x, offset=2)
    w, b, out_w, out_b = (t.detach() for t in attention.projection_weights())
    b, out_b = b[:, 0], out_b[:, 0]
    for lead in range(leads):
        qkv = x[0, lead] @ w[lead] + b[lead]
        q, k, v = qkv.split((qk, qk, dim), dim=-1)
        heads_out = []
        for h in range(heads):
            qh, kh = q[:, h * 2 : h * 2 + 2], k[:, h * 2 : h * 2 + 2]
            vh = v[:, h * 3 : h * 3 + 3]
            scale = attention.scale
            if cosine:
                qh, kh = qh / qh.norm(dim=-1, keepdim=True), kh / kh.norm(dim=-1, keepdim=True)
                scale = attention.cosine.log_scale[h].detach().clamp(max=math.log(100)).exp()
            rows = []
            for n in range(tokens):
                keys = key_index[n][key_index[n] >= 0]
                scores = qh[n] @ kh[keys].T * scale
                scores = scores + attention.relative_bias[h, keys - n + window - 1]
                p = torch.softmax(scores, dim=0)
                rows.append(p @ vh[keys])
                valid = key_index[n] >= 0
                torch.testing.assert_close(weights[0, h, lead, n, valid], p)
            heads_out.append(torch.stack(rows))
        expected = torch.cat(heads_out, dim=-1) @ out_w[lead] + out_b[lead]
        torch.testing.assert_close(out[0, lead], expected, atol=1e-4, rtol=1e-4)
    # Shifted windows of 4 over 7 tokens: [_, _, 0, 1] [2, 3, 4, 5] [6, _, _, _].
    assert key_index[0].tolist() == [-1, -1, 0, 1]
    assert key_index[6].tolist() == [6, -1, -1, -1]


def test_locality_starts_the_position_bias_at_minus_slope_times_distance():
    flat = WithinLeadAttention(12, 8, 4, 2, 6, 3, 0.0)
    assert torch.equal(flat.relative_bias, torch.zeros(2, 11))
    local = WithinLeadAttention(12, 8, 4, 2, 6, 3, 0.0, locality=0.5)
    distance = torch.tensor([5.0, 4, 3, 2, 1, 0, 1, 2, 3, 4, 5])
    torch.testing.assert_close(local.relative_bias[0], -0.5 * distance)
    torch.testing.assert_close(local.relative_bias[1], -0.25 * distance)  # halved for the next head
    # Nearer keys start with more weight: for equal scores the weights fall with distance.
    x = torch.zeros(1, 12, 6, 8)
    _, weights, _ = local.forward_with_weights(x)
    assert torch.all(weights[0, 0, 0, 2, 2] > weights[0, 0, 0, 2, 3])
    assert torch.all(torch.diff(weights[0, 0, 0, 0]) < 0)


def test_within_lead_projections_are_per_lead_shared_or_a_shared_part_plus_a_correction():
    dim, qk = 8, 4
    own = WithinLeadAttention(12, dim, qk, 1, 4, 3, 0.0, projections="lead")
    shared = WithinLeadAttention(12, dim, qk, 1, 4, 3, 0.0, projections="shared")
    residual = WithinLeadAttention(12, dim, qk, 1, 4, 3, 0.0, projections="residual")
    assert own.qkv_weight.shape == (12, dim, 2 * qk + dim)
    assert shared.qkv_weight.shape == (1, dim, 2 * qk + dim)
    count = sum(p.numel() for p in own.parameters())
    assert sum(p.numel() for p in shared.parameters()) < count / 6
    # The residual form starts as the shared one (corrections at zero) and learns per-lead weights.
    qkv = residual.projection_weights()[0]
    assert qkv.shape[0] == 12 and torch.equal(qkv[0], qkv[11])
    with torch.no_grad():
        residual.qkv_weight[3].add_(1.0)
    qkv = residual.projection_weights()[0]
    torch.testing.assert_close(qkv[3] - qkv[0], torch.ones(dim, 2 * qk + dim))
    x = torch.randn(2, 12, 9, dim)
    # One set for every lead: the same tokens give the same output in any lead.
    x[:, 5] = x[:, 2]
    out = shared(x)
    torch.testing.assert_close(out[:, 5], out[:, 2])
    with pytest.raises(ValueError, match="projections"):
        WithinLeadAttention(12, dim, qk, 1, 4, 3, 0.0, projections="tied")
    with pytest.raises(ValueError, match="within_projections"):
        LocalLeadAttentionConfig(within_projections="tied")


# --- masking ----------------------------------------------------------------------------------


def test_cosine_across_lead_attention_matches_a_direct_computation():
    torch.manual_seed(5)
    leads, tokens, dim, qk, heads = 12, 3, 8, 4, 2
    attention = AcrossLeadAttention(leads, dim, qk, heads, 0.0, cosine=True).eval()
    with torch.no_grad():
        attention.cosine.log_scale.copy_(torch.tensor([math.log(10.0), math.log(1e4)]))
        attention.lead_bias.normal_()
    mask = torch.from_numpy(lead_mask(6))[None]
    x = torch.randn(1, leads, tokens, dim)
    with torch.no_grad():
        out, weights = attention.forward_with_weights(x, mask)
        q, k, v = attention.qkv(x[0]).split((qk, qk, dim), dim=-1)  # [leads, tokens, .]
    present = mask[0].nonzero().flatten()
    for h, scale in enumerate((10.0, 100.0)):  # the second head's scale is clamped at 100
        qh = F.normalize(q[..., h * 2 : h * 2 + 2], dim=-1)
        kh = F.normalize(k[..., h * 2 : h * 2 + 2], dim=-1)
        for n in range(tokens):
            scores = qh[:, n] @ kh[present, n].T * scale + attention.lead_bias[h][:, present]
            torch.testing.assert_close(weights[0, h, n][:, present], torch.softmax(scores, dim=-1))
    assert weights[0][..., ~mask[0]].abs().max() == 0
    assert out.shape == x.shape


def test_values_in_absent_leads_do_not_change_logits(default):
    masks = masks_for_every_subset()
    x = torch.randn(len(masks), 12, 3000)
    noisy = torch.where(masks[:, :, None], x, 50 * torch.randn_like(x))
    with torch.no_grad():
        torch.testing.assert_close(default(noisy, masks), default(x, masks), atol=1e-6, rtol=0)


def test_absent_leads_are_excluded_inside_a_block():
    """Without the input zeroing, a block must still ignore absent leads' features."""
    torch.manual_seed(4)
    block = LeadAttentionBlock(12, 16, 8, 1, 2, 4, False, 2.0, "gelu", 0.0, 0.0, 4).eval()
    mask = torch.from_numpy(lead_mask(3))[None]
    x = torch.randn(1, 12, 9, 16)
    other = torch.where(mask[:, :, None, None], x, torch.randn_like(x))
    with torch.no_grad():
        out, out_other = block(x, mask), block(other, mask)
    torch.testing.assert_close(out[:, mask[0]], out_other[:, mask[0]], atol=1e-6, rtol=0)


def test_lead_mask_forms_agree(small):
    x = torch.randn(2, 12, 1500)
    mask = torch.from_numpy(lead_mask(6))
    with torch.no_grad():
        torch.testing.assert_close(small(x, mask), small(x, mask.expand(2, 12)))
        torch.testing.assert_close(small(x), small(x, torch.ones(2, 12, dtype=torch.bool)))


@pytest.mark.parametrize(
    ("x", "mask", "error", "message"),
    [
        (torch.randn(2, 8, 1000), None, ValueError, r"expected signals of shape \[batch, 12"),
        (torch.randn(12, 1000), None, ValueError, r"expected signals of shape \[batch, 12"),
        (torch.randn(2, 12, 1000), torch.ones(3, 12, dtype=torch.bool), ValueError, "lead_mask"),
        (torch.randn(2, 12, 1000), torch.ones(2, 12), TypeError, "boolean"),
        (
            torch.randn(2, 12, 1000),
            torch.tensor([[True] * 12, [False] * 12]),
            ValueError,
            r"no lead present for batch item\(s\) \[1\]",
        ),
        (torch.zeros(1, 12, 1000, dtype=torch.long), None, TypeError, "floating-point"),
    ],
)
def test_bad_inputs_raise_clear_errors(small, x, mask, error, message):
    with pytest.raises(error, match=message):
        small(x, mask)


# --- determinism ------------------------------------------------------------------------------


def test_eval_mode_is_deterministic_and_records_do_not_interact(small):
    masks = masks_for_every_subset()
    x = torch.randn(len(masks), 12, 2500)
    with torch.no_grad():
        first, second = small(x, masks), small(x, masks)
        alone = small(x[2:3], masks[2:3])
    assert torch.equal(first, second)
    torch.testing.assert_close(alone, first[2:3], atol=1e-5, rtol=1e-5)


def test_training_step_gives_finite_gradients_with_mixed_masks():
    model = LocalLeadAttentionNet(SMALL).train()
    masks = masks_for_every_subset()
    logits = model(torch.randn(len(masks), 12, 1500), masks)
    nn.functional.binary_cross_entropy_with_logits(logits, torch.rand_like(logits)).backward()
    for name, parameter in model.named_parameters():
        assert parameter.grad is not None and torch.isfinite(parameter.grad).all(), name


# --- attention output -------------------------------------------------------------------------


def test_forward_with_attention_follows_the_contract(small):
    masks = masks_for_every_subset()
    samples = 2777
    x = torch.randn(len(masks), 12, samples)
    with torch.no_grad():
        output = small.forward_with_attention(x, masks)
        torch.testing.assert_close(output.logits, small(x, masks))
    assert len(output.blocks) == len(small.blocks)
    geometry = small.stem.geometry(samples)
    for i, block in enumerate(output.blocks):
        if i > 0 and small._stages[i] != small._stages[i - 1]:
            geometry = geometry.merged()
        assert block.geometry == geometry
        n = geometry.num_tokens
        within, across, key_index = block.within, block.across, block.key_index
        assert within.shape[0] == len(masks) and within.shape[2:4] == (12, n)
        assert key_index.shape == (n, within.shape[-1])
        assert across.shape[0] == len(masks) and across.shape[2:] == (n, 12, 12)
        torch.testing.assert_close(within.sum(-1), torch.ones_like(within[..., 0]))
        assert torch.all(within[..., key_index < 0] == 0)
        torch.testing.assert_close(across.sum(-1), torch.ones_like(across[..., 0]))
        assert torch.all(across.permute(0, 4, 1, 2, 3)[~masks] == 0)


def test_token_geometry_is_the_exact_receptive_field(small):
    """Gradients of one token reach exactly the samples its geometry names, after the stem and
    after a token merge."""
    samples = 3000
    x = torch.randn(1, 12, samples, requires_grad=True)
    stem_geometry = small.stem.geometry(samples)
    tokens = small.stem(x)
    merged = small.merges[0](tokens)
    for features, geometry in ((tokens, stem_geometry), (merged, stem_geometry.merged())):
        assert features.shape[2] == geometry.num_tokens
        token = geometry.num_tokens // 2
        # a weighted sum: the plain sum of a layer-normed token has no gradient at initialisation
        weights = torch.linspace(-1.0, 2.0, features.shape[-1])
        (grad,) = torch.autograd.grad((features[0, 3, token] * weights).sum(), x, retain_graph=True)
        reached = torch.nonzero(grad[0, 3]).flatten()
        assert (reached.min().item(), reached.max().item() + 1) == geometry.span(token)


# --- attribution friendliness ----------------------------------------------------------------


def test_every_module_runs_once_per_forward_and_nothing_is_in_place(small):
    calls: dict[str, int] = {}

    def count(name: str):
        return lambda module, inputs, output: calls.__setitem__(name, calls.get(name, 0) + 1)

    leaves = {name: m for name, m in small.named_modules() if not list(m.children())}
    handles = [module.register_forward_hook(count(name)) for name, module in leaves.items()]
    try:
        with torch.no_grad():
            small(torch.randn(1, 12, 1500))
    finally:
        for handle in handles:
            handle.remove()
    assert calls == dict.fromkeys(leaves, 1)
    softmaxes = [m for m in small.modules() if isinstance(m, nn.Softmax)]
    assert len(softmaxes) == 2 * len(small.blocks)
    assert not any(getattr(m, "inplace", False) for m in small.modules())


def test_eval_mode_switches_only_for_its_block_and_restores_mixed_modes():
    model = LocalLeadAttentionNet(SMALL).train()  # not the shared fixture: its mode must not change
    model.head_drop.eval()
    before = {name: module.training for name, module in model.named_modules()}
    with pytest.raises(RuntimeError, match="inside"), eval_mode(model):
        assert not any(module.training for module in model.modules())
        raise RuntimeError("inside")
    assert {name: module.training for name, module in model.named_modules()} == before


# --- padding and key masks --------------------------------------------------------------------


@pytest.mark.parametrize("samples", [777, 2400, 3001])
def test_trailing_padding_cannot_change_logits(default, samples):
    """A record padded with anything after its length scores as the record alone, every subset."""
    torch.manual_seed(5)
    masks = masks_for_every_subset()
    x = torch.randn(len(masks), 12, samples)
    padded = torch.cat([x, 3.0 * torch.randn(len(masks), 12, 2000 - samples % 7)], dim=-1)
    lengths = torch.full((len(masks),), samples)
    with torch.no_grad():
        alone = default(x, masks)
        with_padding = default(padded, masks, lengths)
        attention = default.forward_with_attention(padded, masks, lengths)
    torch.testing.assert_close(with_padding, alone, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(attention.logits, alone, atol=1e-5, rtol=1e-5)


def test_records_of_different_lengths_share_a_batch(small):
    torch.manual_seed(6)
    a, b = torch.randn(1, 12, 1500), torch.randn(1, 12, 2600)
    batch = torch.cat([torch.cat([a, torch.zeros(1, 12, 1100)], dim=-1), b])
    with torch.no_grad():
        together = small(batch, None, torch.tensor([1500, 2600]))
        torch.testing.assert_close(together[0], small(a)[0], atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(together[1], small(b)[0], atol=1e-5, rtol=1e-5)


def test_full_lengths_take_the_unmasked_path(small):
    x = torch.randn(2, 12, 1000)
    with torch.no_grad():
        assert torch.equal(small(x, None, torch.tensor([1000, 1000])), small(x))


@pytest.mark.parametrize(
    ("lengths", "message"),
    [
        (torch.tensor([0, 5]), r"lengths must lie in \[1, 1000\]"),
        (torch.tensor([5]), "lengths must be integers"),
    ],
)
def test_bad_lengths_raise(small, lengths, message):
    with pytest.raises(ValueError, match=message):
        small(torch.randn(2, 12, 1000), None, lengths)


def test_hidden_tokens_are_never_attended_to(small):
    """Tokens outside the key mask cannot influence the tokens that remain keys."""
    torch.manual_seed(7)
    mask = torch.ones(1, 12, dtype=torch.bool)
    tokens = small.embed(torch.randn(1, 12, 2048))
    keys = torch.rand(1, 12, tokens.shape[2]) > 0.4
    changed = tokens.clone()
    changed[~keys] = torch.randn(int((~keys).sum()), tokens.shape[-1])
    with torch.no_grad():
        out = small.encode(tokens, mask, keys)
        out_changed = small.encode(changed, mask, keys)
    # A merged token is a key where either of its pair was: compare the final tokens built only from
    # key tokens, those whose whole span of stem tokens is keys.
    span = tokens.shape[2] // out.shape[2]
    whole = keys[..., : out.shape[2] * span].reshape(1, 12, out.shape[2], span).all(dim=-1)
    assert whole.any()
    torch.testing.assert_close(out[whole], out_changed[whole], atol=1e-5, rtol=1e-5)


def test_consecutive_blocks_never_share_a_window_border(default):
    """Window borders in stem-token positions: stage s tokens span 2**s stem tokens, and a block
    with offset o starts its windows at tokens k * window - o."""
    borders = []
    for block, stage in zip(default.blocks, default._stages):
        window = block.within.window
        if window:
            borders.append({(k * window - block.offset) * 2**stage for k in range(1, 64)})
    assert len(borders) == 4
    for first, second in zip(borders, borders[1:]):
        assert not first & second


# --- lead-wise pooling ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def leadwise() -> LocalLeadAttentionNet:
    torch.manual_seed(7)
    return LocalLeadAttentionNet(replace(SMALL, pooling="lead")).eval()


def test_leadwise_pooling_ignores_absent_leads_and_padding(leadwise):
    torch.manual_seed(8)
    masks = masks_for_every_subset()
    x = torch.randn(len(masks), 12, 1400)
    noisy = torch.where(masks[:, :, None], x, 50 * torch.randn_like(x))
    padded = torch.cat([noisy, 3.0 * torch.randn(len(masks), 12, 500)], dim=-1)
    with torch.no_grad():
        alone = leadwise(x, masks)
        torch.testing.assert_close(leadwise(padded, masks, torch.full((len(masks),), 1400)), alone)
    assert leadwise.head.in_features == 12 * 2 * SMALL.dims[-1]


def test_leadwise_pooling_keeps_lead_identity():
    """Record pooling cannot tell which lead a pooled feature came from; lead-wise pooling can."""
    pool_record = MaskedMeanMaxPool()
    pool_lead = LeadwiseMeanMaxPool()
    x = torch.zeros(1, 12, 3, 2)
    swapped = x.clone()
    x[0, 0, :, 0], swapped[0, 7, :, 0] = 1.0, 1.0
    mask = torch.ones(1, 12, dtype=torch.bool)
    assert torch.equal(pool_record(x, mask), pool_record(swapped, mask))
    assert not torch.equal(pool_lead(x, mask), pool_lead(swapped, mask))


def test_leadwise_pooling_scales_by_the_present_leads():
    x = torch.ones(1, 12, 4, 3)
    two = torch.from_numpy(lead_mask(2))[None]
    pooled = LeadwiseMeanMaxPool()(x, two).reshape(12, 6)
    assert torch.equal(pooled[two[0]], torch.full((2, 6), 6.0))
    assert torch.equal(pooled[~two[0]], torch.zeros(10, 6))


# --- convolution inside the feed-forward layers -----------------------------------------------


@pytest.fixture(scope="module")
def conv_mlp() -> LocalLeadAttentionNet:
    torch.manual_seed(9)
    return LocalLeadAttentionNet(replace(SMALL, mlp_kernel=3)).eval()


@pytest.mark.parametrize("samples", [777, 2401])
def test_feed_forward_convolution_keeps_padding_out(conv_mlp, samples):
    torch.manual_seed(10)
    masks = masks_for_every_subset()
    x = torch.randn(len(masks), 12, samples)
    padded = torch.cat([x, 3.0 * torch.randn(len(masks), 12, 900)], dim=-1)
    with torch.no_grad():
        alone = conv_mlp(x, masks)
        torch.testing.assert_close(conv_mlp(padded, masks, torch.full((len(masks),), samples)), alone)
        attention = conv_mlp.forward_with_attention(padded, masks, torch.full((len(masks),), samples))
    torch.testing.assert_close(attention.logits, alone)


def test_feed_forward_convolution_mixes_time_within_a_lead_only(conv_mlp):
    mlp = conv_mlp.blocks[0].mlp
    assert mlp.conv is not None and mlp.conv.kernel_size == (3,)
    x = torch.randn(1, 12, 9, SMALL.dims[0], requires_grad=True)
    mlp(x)[0, 4, 4].sum().backward()
    touched = x.grad.abs().sum(dim=-1)[0]  # [leads, tokens]
    assert torch.equal(touched[4].nonzero().flatten(), torch.tensor([3, 4, 5]))
    assert touched[torch.arange(12) != 4].abs().sum() == 0


def test_hidden_tokens_reach_no_token_through_the_feed_forward_convolution(conv_mlp):
    mlp = conv_mlp.blocks[0].mlp
    x = torch.randn(1, 12, 9, SMALL.dims[0])
    keys = torch.ones(1, 12, 9, dtype=torch.bool)
    keys[0, :, 5] = False
    changed = x.clone()
    changed[0, :, 5] = 100.0
    with torch.no_grad():
        torch.testing.assert_close(mlp(x, keys)[keys], mlp(changed, keys)[keys])


def test_mlp_kernel_must_be_odd():
    with pytest.raises(ValueError, match="mlp_kernel must be 0 or a positive odd number"):
        replace(SMALL, mlp_kernel=4)
