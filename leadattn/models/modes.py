"""Running a model in eval mode for a while without losing the modes its modules were in."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from torch import nn


@contextmanager
def eval_mode(model: nn.Module) -> Iterator[None]:
    """Run ``model`` in eval mode, then give every module back its own mode.

    Touches only the modules that are training: ``model.eval()`` and ``model.train()`` walk and
    reassign every module, which costs milliseconds per call on this network, and a blanket
    ``model.train(was_training)`` would also reset modules deliberately left in the other mode.
    """
    training = [module for module in model.modules() if module.training]
    for module in training:
        module.training = False
    try:
        yield
    finally:
        for module in training:
            module.training = True
