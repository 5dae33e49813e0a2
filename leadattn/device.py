"""The one device resolver: ``auto``, ``cpu``, ``cuda``, ``cuda:1`` ... to a ``torch.device``."""

from __future__ import annotations

import torch


def resolve_device(name: str | torch.device = "auto", local_rank: int = 0) -> torch.device:
    """``auto`` picks this process's GPU (``local_rank``) when CUDA is available, else the CPU; a bare
    ``cuda`` means this process's GPU too. Raises ``ValueError`` for a name torch does not know or a
    CUDA device without CUDA."""
    if isinstance(name, torch.device):
        return name
    if name == "auto":
        return torch.device(f"cuda:{local_rank}" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ValueError(f"device {name!r} is not a torch device (auto, cpu, cuda, cuda:1, ...)") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device {name!r} requested but CUDA is not available")
        if device.index is None:
            device = torch.device(f"cuda:{local_rank}")
    return device
