"""Attention maps: where the network's attention mass flows, per lead and per input sample.

Every block of the network attends twice: within each lead over a window of tokens (query token
``n`` of lead ``l`` takes a softmax-weighted mix of the keys of its window), then across the leads
at each token (lead ``l`` at token ``n`` mixes leads ``m``). Both attention matrices are row
stochastic, so attention *mass* can be traced backwards from a block's output to its input: mass on
output token ``(l, n)`` flows to ``(m, n)`` in proportion to the across-lead weight, then to the
keys of the within-lead window in proportion to the within-lead weights. Heads are averaged, or
``head=h`` takes head ``h`` of both attentions of every block.

Aggregates (all are distributions: the values of a map sum to 1 over leads and samples):

* ``"block:<i>"``: block ``i`` alone (negative ``i`` counts from the end). Uniform mass on the
  block's output tokens (present leads only) traced back through its across-lead then within-lead
  attention: how much of the block's output is read from each input token and lead.
* ``"mean"``: the mean of the per-block maps after each is brought to sample resolution.
* ``"rollout"``: attention rollout through the whole network. Mass starts uniform on the last
  block's tokens (the head's mean pooling; its max pooling has no attention to trace) and is traced
  back block by block; each attention is mixed with the identity (``identity`` share, default 0.5)
  for its residual connection. Between stages, where a token merge halves time, a coarse token's
  mass is split equally between the finer tokens it was merged from. The result is at the first
  block's token resolution.

Token maps are brought to input samples through the block's :class:`TokenGeometry` (stride,
receptive field, offset). By default (``spread="stride"``) a token's mass is placed at the centre
of its receptive field and becomes a density over one stride, linearly interpolated between token
centres: the map says *which token* the network read, at the token's spacing, not how far that
token sees (a stem token of the default network is 32 samples apart from the next but sees 351).
``spread="receptive_field"`` shares each token's mass uniformly over every sample it sees instead:
wider and smoother, and honest about what one token can have read. Each lead keeps its total
either way. When the record is at another rate than the model, the map is resampled to the
record's samples, again keeping each lead's total.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import torch
from torch import nn

from explain.explainer import Explainer, register
from explain.frames import tokens_to_samples
from explain.inputs import ExplainInput, ModelLike, device_of
from leadattn.models import eval_mode

_BLOCK = re.compile(r"^block:(-?\d+)$")


def collect_attention(model: nn.Module, inp: ExplainInput) -> list[Any]:
    """Every block's attention for ``inp`` (:class:`leadattn.models.BlockAttention`, batch of 1)."""
    if not hasattr(model, "forward_with_attention"):
        raise TypeError(f"{type(model).__name__} does not return attention (no forward_with_attention)")
    device = device_of(model)
    with eval_mode(model), torch.no_grad():
        output = model.forward_with_attention(inp.tensor(device), inp.mask_tensor(device))
    if not output.blocks:
        raise ValueError("the model returned no attention blocks")
    return output.blocks


def _weights(block: Any, head: int | None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    within = block.within[0].double()  # [heads, 12, N, W]
    across = block.across[0].double()  # [heads, N, 12, 12]
    if head is None:
        return within.mean(dim=0), across.mean(dim=0), block.key_index.cpu()
    for name, weights in (("within-lead", within), ("across-lead", across)):
        heads = weights.shape[0]
        if not -heads <= head < heads:
            raise ValueError(f"head {head} out of range: a block's {name} attention has {heads} heads")
    return within[head], across[head], block.key_index.cpu()


def _through_across(mass: torch.Tensor, across: torch.Tensor) -> torch.Tensor:
    """Mass on (lead l, token n) goes to (lead m, token n) by the weight of l attending to m."""
    return torch.einsum("ln,nlm->mn", mass, across)


def _through_within(mass: torch.Tensor, within: torch.Tensor, key_index: torch.Tensor) -> torch.Tensor:
    """Mass on query token n of lead l goes to the keys of its window by their weights."""
    leads, tokens, width = within.shape
    valid = key_index >= 0
    flows = mass[:, :, None] * within * valid[None].to(within.dtype)
    index = key_index.clamp(min=0).reshape(1, tokens * width).expand(leads, -1).to(within.device)
    out = torch.zeros(leads, tokens, dtype=within.dtype, device=within.device)
    return out.scatter_add_(1, index, flows.reshape(leads, tokens * width))


def _uniform(mask: np.ndarray, tokens: int) -> torch.Tensor:
    present = torch.from_numpy(mask).double()
    return present[:, None].expand(-1, tokens) / (present.sum() * tokens)


def block_map(block: Any, mask: np.ndarray, head: int | None = None) -> np.ndarray:
    """Token map ``[12, N]`` of one block: uniform output mass traced back through it (sums to 1)."""
    within, across, key_index = _weights(block, head)
    mass = _uniform(mask, within.shape[1]).to(within.device)
    mass = _through_within(_through_across(mass, across), within, key_index)
    return mass.cpu().numpy()


def _split_tokens(mass: torch.Tensor, fine: Any, coarse: Any) -> torch.Tensor:
    """Share each coarse token's mass equally between the fine tokens merged into it."""
    if coarse.stride % fine.stride or coarse.offset != fine.offset:
        raise ValueError(f"cannot relate token geometries {fine} and {coarse}")
    ratio = coarse.stride // fine.stride
    parent = torch.clamp(torch.arange(fine.num_tokens) // ratio, max=mass.shape[1] - 1)
    counts = torch.bincount(parent, minlength=mass.shape[1]).to(mass.dtype)
    return mass[:, parent] / counts[parent]


def rollout_map(
    blocks: list[Any], mask: np.ndarray, head: int | None = None, identity: float = 0.5
) -> np.ndarray:
    """Token map ``[12, N_first]`` of attention rollout over ``blocks`` (sums to 1)."""
    if not 0.0 <= identity < 1.0:
        raise ValueError(f"identity share must lie in [0, 1), got {identity}")
    mass = _uniform(mask, blocks[-1].geometry.num_tokens)
    for i in range(len(blocks) - 1, -1, -1):
        within, across, key_index = _weights(blocks[i], head)
        mass = mass.to(within.device)
        mass = identity * mass + (1 - identity) * _through_across(mass, across)
        mass = identity * mass + (1 - identity) * _through_within(mass, within, key_index)
        if i > 0 and blocks[i - 1].geometry != blocks[i].geometry:
            mass = _split_tokens(mass, blocks[i - 1].geometry, blocks[i].geometry)
    return mass.cpu().numpy()


def check_aggregate(aggregate: str) -> None:
    """Raise ``ValueError`` unless ``aggregate`` is ``mean``, ``rollout`` or ``block:<i>``."""
    if aggregate not in ("mean", "rollout") and not _BLOCK.match(aggregate):
        raise ValueError(f"aggregate must be 'mean', 'rollout' or 'block:<i>', got {aggregate!r}")


def _over_receptive_fields(tokens: np.ndarray, geometry: Any, samples: int) -> np.ndarray:
    """Spread each token's mass uniformly over the input samples of its receptive field."""
    starts = geometry.offset + np.arange(tokens.shape[1]) * geometry.stride
    stops = np.clip(starts + geometry.receptive_field, 0, samples)
    starts = np.clip(starts, 0, samples)
    width = np.maximum(stops - starts, 1)
    steps = np.zeros((tokens.shape[0], samples + 1))
    density = tokens / width
    for row in range(tokens.shape[0]):
        np.add.at(steps[row], starts, density[row])
        np.add.at(steps[row], stops, -density[row])
    out = np.cumsum(steps[:, :samples], axis=1)
    sums = out.sum(axis=1, keepdims=True)
    totals = tokens.sum(axis=1, keepdims=True)
    return np.divide(out * totals, sums, out=np.zeros_like(out), where=sums != 0)


SPREADS = ("stride", "receptive_field")


@register
class AttentionExplainer(Explainer):
    """Attention mass traced from the network's output to its input (see the module docstring).

    ``aggregate`` is ``"mean"``, ``"rollout"`` or ``"block:<i>"``; ``head`` takes one head of
    every attention instead of their mean; ``identity`` is rollout's residual share. ``spread``
    says how a token's mass becomes input samples: ``"stride"`` (each token covers its stride,
    centred on the centre of its receptive field) or ``"receptive_field"`` (uniform over every
    sample the token sees). The map does not depend on the class: ``target`` is ignored.
    """

    name = "attention"
    title = "attention"
    per_class = False

    def __init__(
        self,
        model: ModelLike,
        aggregate: str = "mean",
        head: int | None = None,
        identity: float = 0.5,
        spread: str = "stride",
    ) -> None:
        super().__init__(model)
        check_aggregate(aggregate)
        if not 0.0 <= identity < 1.0:
            raise ValueError(f"identity share must lie in [0, 1), got {identity}")
        if spread not in SPREADS:
            raise ValueError(f"spread must be one of {SPREADS}, got {spread!r}")
        self.aggregate, self.head, self.identity, self.spread = aggregate, head, identity, spread

    def settings(self) -> dict[str, Any]:
        return {
            "aggregate": self.aggregate,
            "head": self.head,
            "identity": self.identity,
            "spread": self.spread,
        }

    def _to_samples(self, tokens: np.ndarray, geometry: Any, samples: int) -> np.ndarray:
        if self.spread == "receptive_field":
            return _over_receptive_fields(tokens, geometry, samples)
        return tokens_to_samples(tokens, geometry, samples, mass=True)

    def attribute(
        self, inp: ExplainInput, target: int | str | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Attention at the model's input samples ``[12, n]``; sums to 1."""
        blocks = collect_attention(self.model, inp)
        samples, head = inp.samples, self.head
        if self.aggregate == "mean":
            maps = [self._to_samples(block_map(b, inp.mask, head), b.geometry, samples) for b in blocks]
            values = np.mean(maps, axis=0)
        elif self.aggregate == "rollout":
            tokens = rollout_map(blocks, inp.mask, head, self.identity)
            values = self._to_samples(tokens, blocks[0].geometry, samples)
        else:
            i = int(_BLOCK.match(self.aggregate).group(1))
            if not -len(blocks) <= i < len(blocks):
                raise ValueError(f"block {i} out of range: the model has {len(blocks)} blocks")
            values = self._to_samples(block_map(blocks[i], inp.mask, head), blocks[i].geometry, samples)
        info = {"method": self.name, **self.settings(), "polarity": "positive"}
        return values, info
