"""Token representations of chosen blocks, taken with forward hooks, and the vectors clustered.

Every block of :class:`~leadattn.models.LocalLeadAttentionNet` outputs ``[B, 12, N, D]``: one vector
per lead and token. Blocks of later stages have fewer tokens (each stage after the first halves
time), so the outputs of several blocks are brought to the finest chosen token grid first: a fine
token takes the vector of the coarse token it was merged into. The blocks' vectors are then
concatenated per lead and token.

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

from leadattn.models import TokenGeometry, eval_mode

VIEWS = ("lead", "timestamp")


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


def resolve_blocks(model: nn.Module, blocks: Sequence[int] | None = None) -> tuple[int, ...]:
    """Non-negative indices of ``blocks`` (negative count from the end); default: the last stage's.

    Raises ``ValueError`` naming the block when an index does not exist or is repeated.
    """
    stages = block_stages(model)
    count = len(stages)
    if blocks is None:
        return tuple(i for i, s in enumerate(stages) if s == stages[-1])
    chosen = []
    for b in blocks:
        if isinstance(b, bool) or not isinstance(b, int | np.integer):
            raise TypeError(f"block indices must be integers, got {b!r}")
        if not -count <= int(b) < count:
            raise ValueError(f"block {b} does not exist: the model has {count} blocks (0..{count - 1})")
        chosen.append(int(b) % count)
    if not chosen:
        raise ValueError("choose at least one block")
    if len(set(chosen)) != len(chosen):
        raise ValueError(f"blocks {list(blocks)} name a block twice")
    return tuple(sorted(chosen))


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
    model: nn.Module, x: torch.Tensor | np.ndarray, mask: torch.Tensor | np.ndarray, blocks: Sequence[int]
) -> TokenBatch:
    """Run ``model`` on ``x`` ``[B, 12, T]`` (lead ``mask`` ``[B, 12]``) and take ``blocks``' outputs.

    ``blocks`` must already be resolved (:func:`resolve_blocks`).
    """
    x = torch.as_tensor(x, dtype=torch.float32)
    mask_t = torch.as_tensor(mask, dtype=torch.bool)
    if mask_t.dim() == 1:
        mask_t = mask_t.expand(x.shape[0], -1)
    taken: dict[int, torch.Tensor] = {}
    handles = [
        model.blocks[i].register_forward_hook(lambda _m, _a, out, i=i: taken.__setitem__(i, out.detach()))
        for i in blocks
    ]
    device = next(model.parameters()).device
    try:
        with eval_mode(model), torch.no_grad():
            logits = model(x.to(device), mask_t.to(device))
    finally:
        for handle in handles:
            handle.remove()
    geometries = block_geometries(model, x.shape[-1])
    finest = min(blocks, key=lambda i: geometries[i].stride)
    grid = geometries[finest]
    parts = []
    for i in blocks:
        out = taken[i].float().cpu()
        if out.shape[2] != geometries[i].num_tokens:
            raise RuntimeError(
                f"block {i} returned {out.shape[2]} tokens, its geometry says {geometries[i].num_tokens}"
            )
        ratio = geometries[i].stride // grid.stride
        parent = torch.clamp(torch.arange(grid.num_tokens) // ratio, max=out.shape[2] - 1)
        parts.append(out[:, :, parent])
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
