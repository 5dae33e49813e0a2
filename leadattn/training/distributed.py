"""Running one training over several processes (``torchrun``): NCCL on GPUs, gloo on CPUs.

``torchrun`` sets ``RANK``, ``WORLD_SIZE`` and ``LOCAL_RANK``; without them training runs in a single
process and every helper here is a no-op. Only rank 0 writes files and prints.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import torch
import torch.distributed as dist

from leadattn.device import resolve_device


@dataclass(frozen=True)
class DistContext:
    """This process's place in the run and the device it computes on."""

    rank: int
    world: int
    local_rank: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world > 1


def init_distributed(device: str) -> DistContext:
    """Join the process group that ``torchrun`` describes in the environment, if any."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    resolved = resolve_device(device, local_rank)
    if world > 1 and not dist.is_initialized():
        if resolved.type == "cuda":
            torch.cuda.set_device(resolved)
        dist.init_process_group(backend="nccl" if resolved.type == "cuda" else "gloo")
    return DistContext(rank, world, local_rank, resolved)


def shutdown(context: DistContext) -> None:
    """Leave the process group (after every rank has finished)."""
    if context.distributed and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def barrier(context: DistContext) -> None:
    if context.distributed:
        dist.barrier()


def sum_over_ranks(values: list[float], context: DistContext) -> list[float]:
    """Element-wise sum of ``values`` over all processes."""
    if not context.distributed:
        return list(values)
    tensor = torch.tensor(values, dtype=torch.float64, device=_collective_device(context))
    dist.all_reduce(tensor)
    return tensor.cpu().tolist()


def gather_arrays(arrays: list[np.ndarray], context: DistContext) -> list[np.ndarray]:
    """Each array concatenated over processes in rank order (every process gets the result)."""
    if not context.distributed:
        return arrays
    gathered: list[list[np.ndarray] | None] = [None] * context.world
    dist.all_gather_object(gathered, arrays)
    return [np.concatenate([part[i] for part in gathered]) for i in range(len(arrays))]


def _collective_device(context: DistContext) -> torch.device:
    return context.device if dist.get_backend() == "nccl" else torch.device("cpu")
