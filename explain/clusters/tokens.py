"""Token representations of chosen blocks, taken with forward hooks, and the vectors clustered.

Every block of :class:`~leadattn.models.LocalLeadAttentionNet` outputs ``[B, 12, N, D]``: one vector
per lead and token. The stem's layers keep the leads apart too, at finer spacings: besides block
indices (``0``, ``-1``...), a source can be a stem layer ``"stem.i"``: the output of the stem's
``i``-th convolution layer (0-based), ``[B, 12, N_i, C_i]``, with ``C_i`` the layer's channels per
lead and one vector per ``prod(stem_strides[:i + 1])`` input samples (the demo model at 125 Hz:
``stem.0`` every 32 ms, ``stem.1`` every 64 ms; its blocks every 128 and 256 ms). It is taken before
the layer's normalisation, which rescales every lead's channels at each time step to unit spread and
so discards the token's scale: the amplitude that, more than anything, tells a QRS from the baseline.

Sources of different spacings are brought to the finest chosen token grid first: a fine token takes
the vector of the coarse token whose centre is nearest its own (for a block's merged tokens, the token
it was merged into). The sources' vectors are then concatenated per lead and token.

Two views of the same tokens are clustered:

* ``"lead"``: one vector per present lead and token (absent leads give no vector), so one record
  gets a sequence of clusters per lead.
* ``"timestamp"``: one vector per token, the mean over the present leads, as a network that mixes
  its leads would have (and the same for any lead subset).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from explain.frames import token_centres
from leadattn.models import TokenGeometry, eval_mode
from leadattn.models.layers import LeadChannelNorm

VIEWS = ("lead", "timestamp")
STEM_PREFIX = "stem."

Source = int | str
"""A token source: a block index or a stem layer ``"stem.i"`` (see the module docstring)."""


def check_view(view: str) -> str:
    """Return ``view`` when it is ``"lead"`` or ``"timestamp"``; raise ``ValueError`` otherwise."""
    if view not in VIEWS:
        raise ValueError(f"view must be one of {VIEWS}, got {view!r}")
    return view


def block_stages(model: nn.Module) -> list[int]:
    """Stage index of every block, from the model's configuration (``depths``)."""
    depths = getattr(getattr(model, "config", None), "depths", None)
    if depths is None or not hasattr(model, "blocks"):
        raise TypeError(
            f"{type(model).__name__} is not a LocalLeadAttentionNet (no blocks and config.depths)"
        )
    return [stage for stage, depth in enumerate(depths) for _ in range(depth)]


def stem_layers(model: nn.Module) -> list[nn.Module]:
    """The last convolution of each stem layer (the module before its normalisation), in order: the
    modules ``"stem.i"`` is taken from."""
    modules = list(model.stem.layers)
    return [modules[i - 1] for i, m in enumerate(modules) if isinstance(m, LeadChannelNorm)]


def _source(model: nn.Module, source: object, count: int) -> Source:
    """One resolved source: a block index in ``0..count-1`` or ``"stem.i"`` of an existing layer."""
    if isinstance(source, bool) or not isinstance(source, int | np.integer | str):
        raise TypeError(f"token sources are block indices or 'stem.i', got {source!r}")
    if isinstance(source, str):
        text = source.strip()
        layers = len(stem_layers(model))
        if text.startswith(STEM_PREFIX):
            layer = text[len(STEM_PREFIX) :]
            if not layer.isdigit() or int(layer) >= layers:
                raise ValueError(
                    f"stem layer {text!r} does not exist: the stem has {layers} layers "
                    f"(stem.0..stem.{layers - 1})"
                )
            return f"{STEM_PREFIX}{int(layer)}"
        try:
            source = int(text)
        except ValueError:
            raise ValueError(
                f"unknown token source {text!r}: give a block index (0..{count - 1}, negative from the "
                f"end) or a stem layer (stem.0..stem.{layers - 1})"
            ) from None
    if not -count <= int(source) < count:
        raise ValueError(f"block {source} does not exist: the model has {count} blocks (0..{count - 1})")
    return int(source) % count


def _order(source: Source) -> tuple[int, int]:
    """Stem layers first, then blocks, each in network order."""
    if isinstance(source, str):
        return 0, int(source[len(STEM_PREFIX) :])
    return 1, source


def resolve_blocks(model: nn.Module, blocks: Sequence[Source] | None = None) -> tuple[Source, ...]:
    """Resolved token sources of ``blocks``; default: the last stage's blocks.

    Block indices become non-negative (negative count from the end); stem layers ``"stem.i"`` stay
    strings; numeric strings (``"-1"``) are block indices. Raises ``ValueError`` naming the source when
    it does not exist, is not a source name, or is repeated.
    """
    stages = block_stages(model)
    count = len(stages)
    if blocks is None:
        return tuple(i for i, s in enumerate(stages) if s == stages[-1])
    chosen = [_source(model, b, count) for b in blocks]
    if not chosen:
        raise ValueError("choose at least one block")
    if len(set(chosen)) != len(chosen):
        raise ValueError(f"blocks {list(blocks)} name a block twice")
    return tuple(sorted(chosen, key=_order))


def block_geometries(model: nn.Module, samples: int) -> list[TokenGeometry]:
    """Token geometry of every block's output for inputs of ``samples`` samples."""
    stages = block_stages(model)
    geometry = model.stem.geometry(samples)
    out = []
    for i, stage in enumerate(stages):
        if i > 0 and stage != stages[i - 1]:
            geometry = geometry.merged()
        out.append(geometry)
    return out


def source_geometry(model: nn.Module, source: Source, samples: int) -> TokenGeometry:
    """Token geometry of a resolved source's output for inputs of ``samples`` samples."""
    if isinstance(source, str):
        return model.stem.geometry(samples, layers=_order(source)[1] + 1)
    return block_geometries(model, samples)[source]


def _hooked_module(model: nn.Module, source: Source) -> nn.Module:
    return stem_layers(model)[_order(source)[1]] if isinstance(source, str) else model.blocks[source]


def _lead_tokens(out: torch.Tensor, leads: int) -> torch.Tensor:
    """A hooked output as ``[B, leads, N, C]`` (stem layers give lead-major ``[B, leads * C, N]``)."""
    if out.dim() == 4:
        return out
    batch, channels, steps = out.shape
    return out.reshape(batch, leads, channels // leads, steps).transpose(2, 3)


def _nearest_tokens(source: TokenGeometry, grid: TokenGeometry) -> torch.Tensor:
    """For each token of ``grid``, the ``source`` token whose centre is nearest (ties: the later)."""
    fine = token_centres(grid.stride, grid.receptive_field, grid.offset, grid.num_tokens)
    first = token_centres(source.stride, source.receptive_field, source.offset, 1)[0]
    index = np.floor((fine - first) / source.stride + 0.5).astype(np.int64)
    return torch.from_numpy(np.clip(index, 0, source.num_tokens - 1))


@dataclass
class TokenBatch:
    """Token vectors of a batch, on the finest token grid of the chosen blocks.

    Attributes:
        features: float32 ``[B, 12, N, F]``: the chosen blocks' outputs concatenated (rows of absent
            leads hold whatever the network computed there and are never clustered).
        mask: Present leads, bool ``[B, 12]``.
        geometry: Token geometry of the grid (maps tokens to input samples).
        logits: The network's logits ``[B, classes]`` from the same forward pass.
    """

    features: np.ndarray
    mask: np.ndarray
    geometry: TokenGeometry
    logits: np.ndarray


def token_batch(
    model: nn.Module, x: torch.Tensor | np.ndarray, mask: torch.Tensor | np.ndarray, blocks: Sequence[Source]
) -> TokenBatch:
    """Run ``model`` on ``x`` ``[B, 12, T]`` (lead ``mask`` ``[B, 12]``) and take the outputs of the
    token sources ``blocks`` (block indices and stem layers, already resolved: :func:`resolve_blocks`).
    """
    x = torch.as_tensor(x, dtype=torch.float32)
    mask_t = torch.as_tensor(mask, dtype=torch.bool)
    if mask_t.dim() == 1:
        mask_t = mask_t.expand(x.shape[0], -1)
    taken: dict[Source, torch.Tensor] = {}
    handles = [
        _hooked_module(model, i).register_forward_hook(
            lambda _m, _a, out, i=i: taken.__setitem__(i, out.detach())
        )
        for i in blocks
    ]
    device = next(model.parameters()).device
    try:
        with eval_mode(model), torch.no_grad():
            logits = model(x.to(device), mask_t.to(device))
    finally:
        for handle in handles:
            handle.remove()
    geometries = {i: source_geometry(model, i, x.shape[-1]) for i in blocks}
    grid = min(geometries.values(), key=lambda g: g.stride)
    parts = []
    for i in blocks:
        out = _lead_tokens(taken[i].float().cpu(), x.shape[1])
        if out.shape[2] != geometries[i].num_tokens:
            raise RuntimeError(
                f"block {i} returned {out.shape[2]} tokens, its geometry says {geometries[i].num_tokens}"
            )
        parts.append(out[:, :, _nearest_tokens(geometries[i], grid)])
    features = torch.cat(parts, dim=-1).numpy()
    return TokenBatch(features, mask_t.cpu().numpy(), grid, logits.float().cpu().numpy())


def view_vectors(batch: TokenBatch, view: str) -> list[tuple[np.ndarray, np.ndarray | None]]:
    """Per batch item, the vectors clustered ``[rows, F]`` and the lead slot of each row.

    ``"lead"``: one row per present lead and token, with its lead slot; ``"timestamp"``: one row per
    token (the mean over present leads), lead slots None.
    """
    check_view(view)
    out: list[tuple[np.ndarray, np.ndarray | None]] = []
    for features, mask in zip(batch.features, batch.mask):
        present = features[mask]  # [leads present, N, F]
        if view == "lead":
            slots = np.repeat(np.flatnonzero(mask), present.shape[1])
            out.append((present.reshape(-1, present.shape[-1]), slots))
        else:
            out.append((present.mean(axis=0), None))
    return out
