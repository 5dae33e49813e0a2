"""Export of a model's inference path (``model(x, lead_mask) -> logits``) with torch.export and
ONNX, each checked against the eager model before it is returned.

Both exports take two inputs, ``x`` (float32 ``[batch, 12, samples]``) and ``lead_mask`` (bool
``[batch, 12]``), and by default keep batch size and record length dynamic.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.fx.experimental._config as fx_config
from torch import nn
from torch.export import Dim, ExportedProgram

from leadattn.leads import LEAD_SUBSETS, lead_mask
from leadattn.models.modes import eval_mode

if TYPE_CHECKING:
    import onnxruntime

DEFAULT_ATOL = 1e-4
MIN_SAMPLES = 500
MAX_SAMPLES = 120_000
MAX_BATCH = 4096


class ExportMismatchError(RuntimeError):
    """An exported program's outputs differ from the eager model's by more than the tolerance."""


def example_inputs(batch: int = 2, samples: int = 5000, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Random signals with a different challenge lead subset in each record."""
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, 12, samples, generator=generator)
    subsets = sorted(LEAD_SUBSETS, reverse=True)
    masks = [torch.from_numpy(lead_mask(subsets[i % len(subsets)])) for i in range(batch)]
    return x, torch.stack(masks)


def export_program(
    model: nn.Module,
    example: tuple[torch.Tensor, torch.Tensor] | None = None,
    *,
    dynamic: bool = True,
    atol: float = DEFAULT_ATOL,
) -> ExportedProgram:
    """``torch.export`` of ``model`` in eval mode, checked against eager outputs.

    With ``dynamic``, batch size (1 to 4096) and length (500 to 120,000 samples) are symbolic, and
    the check also runs on a second input of another batch size and length.
    Raises :class:`ExportMismatchError` when outputs differ by more than ``atol``.
    """
    x, mask = _validated(example)
    with eval_mode(model):
        shapes = None
        if dynamic:
            batch = Dim.DYNAMIC(min=1, max=MAX_BATCH)
            samples = Dim.DYNAMIC(min=MIN_SAMPLES, max=MAX_SAMPLES)
            shapes = {"x": {0: batch, 2: samples}, "lead_mask": {0: batch}}
        # Size-oblivious reasoning keeps sizes that happen to be 0 or 1 in the example (a window's
        # padding, a batch of one) from being specialised into the program.
        with torch.no_grad(), fx_config.patch(backed_size_oblivious=True):
            program = torch.export.export(model, (x, mask), dynamic_shapes=shapes)
        checks = [(x, mask)]
        if dynamic:
            checks.append(example_inputs(x.shape[0] + 1, x.shape[2] + 1013, seed=1))
        exported = program.module()
        for inputs in checks:
            with torch.no_grad():
                _compare(exported(*inputs), model(*inputs), "torch.export", atol)
    return program


def export_onnx(
    model: nn.Module,
    path: str | Path,
    example: tuple[torch.Tensor, torch.Tensor] | None = None,
    *,
    dynamic: bool = True,
    atol: float = DEFAULT_ATOL,
    check: bool = True,
    optimize: bool = True,
    program: ExportedProgram | None = None,
) -> Path:
    """Write the inference path as a single ONNX file (inputs ``x``, ``lead_mask``; output
    ``logits``) and, with ``check``, compare onnxruntime's outputs with the eager model's.

    ``optimize`` runs the ONNX graph optimiser (constant folding, fusions); onnxruntime optimises
    again when it loads the file, so turning it off mainly makes the export faster. ``program``
    reuses a result of :func:`export_program` for the same model (and ``dynamic`` setting);
    otherwise one is made. The check needs ``onnxruntime``
    (``pip install 'leadattn[export]'``); without it, pass ``check=False``. Raises
    :class:`ExportMismatchError` when outputs differ by more than ``atol``.
    """
    path = Path(path)
    if check:
        try:
            import onnxruntime  # noqa: F401
        except ImportError as err:
            raise ImportError(
                "checking an ONNX export needs onnxruntime: pip install onnxruntime "
                "(or call export_onnx with check=False)"
            ) from err
    x, mask = _validated(example)
    if program is None:
        program = export_program(model, (x, mask), dynamic=dynamic, atol=atol)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.onnx.export(
        program,
        (x, mask),
        str(path),
        input_names=["x", "lead_mask"],
        output_names=["logits"],
        external_data=False,
        optimize=optimize,
        verbose=False,
    )
    if check:
        with eval_mode(model):
            checks = [(x, mask)]
            if dynamic:
                checks.append(example_inputs(x.shape[0] + 1, x.shape[2] + 1013, seed=1))
            session = onnx_session(path)
            for inputs in checks:
                with torch.no_grad():
                    expected = model(*inputs)
                _compare(torch.from_numpy(run_onnx(session, *inputs)), expected, "ONNX", atol)
    return path


def onnx_session(path: str | Path) -> onnxruntime.InferenceSession:
    """An onnxruntime session on the CPU for an exported file."""
    import onnxruntime

    return onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def run_onnx(
    session: str | Path | onnxruntime.InferenceSession, x: torch.Tensor, mask: torch.Tensor
) -> np.ndarray:
    """Logits of an exported ONNX model (a file or an :func:`onnx_session`)."""
    if isinstance(session, (str, Path)):
        session = onnx_session(session)
    feeds = {"x": x.detach().cpu().numpy(), "lead_mask": mask.detach().cpu().numpy()}
    return session.run(["logits"], feeds)[0]


def _validated(
    example: tuple[torch.Tensor, torch.Tensor] | None,
) -> tuple[torch.Tensor, torch.Tensor]:
    if example is None:
        return example_inputs()
    if not isinstance(example, tuple) or len(example) != 2:
        raise TypeError("example must be a pair (x [batch, 12, samples], lead_mask [batch, 12])")
    x, mask = example
    if x.dim() != 3 or mask.shape != (x.shape[0], x.shape[1]) or mask.dtype != torch.bool:
        raise ValueError(
            f"example needs x [batch, 12, samples] and a bool lead_mask [batch, 12]; got "
            f"{tuple(x.shape)} and {tuple(mask.shape)} {mask.dtype}"
        )
    if not MIN_SAMPLES <= x.shape[2] <= MAX_SAMPLES:
        raise ValueError(f"example length must be {MIN_SAMPLES} to {MAX_SAMPLES} samples")
    return x, mask


def _compare(actual: torch.Tensor, expected: torch.Tensor, what: str, atol: float) -> None:
    if actual.shape != expected.shape:
        raise ExportMismatchError(
            f"{what} output has shape {tuple(actual.shape)}, eager {tuple(expected.shape)}"
        )
    error = (actual.float() - expected.float()).abs().max().item()
    if not error <= atol:
        raise ExportMismatchError(f"{what} output differs from eager by {error:.3g} > {atol:g}")
