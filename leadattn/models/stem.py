"""Per-lead convolutional stem: strided depthwise-separable convolutions that never mix leads."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from leadattn.models.geometry import TokenGeometry
from leadattn.models.layers import LeadChannelNorm, make_activation


class LeadwiseStem(nn.Module):
    """Turn ``[B, leads, T]`` signals into ``[B, leads, N, dim]`` tokens, each lead on its own.

    The first layer is a grouped convolution (one input channel per lead, ``channels[0]`` filters
    each). Each later layer is depthwise-separable: a depthwise convolution
    (``groups = leads * C``) followed by a pointwise convolution grouped by lead
    (``groups = leads``). Channels stay lead-major throughout, so lead ``l`` owns channels
    ``[l * C, (l + 1) * C)`` and no weight connects two leads. Normalisation is per lead and time
    step (:class:`LeadChannelNorm`); the last layer ends with it, without activation.

    The first layer is a bank of ``channels[0]`` filters per lead; by default 16 filters at stride
    8 keep twice as many values per second as the input has, so the stride alone discards nothing.
    """

    def __init__(
        self,
        leads: int,
        channels: Sequence[int],
        dim: int,
        kernels: Sequence[int],
        strides: Sequence[int],
        activation: str,
    ) -> None:
        super().__init__()
        if len(kernels) != len(channels) + 1 or len(strides) != len(kernels):
            raise ValueError("kernels and strides need one entry more than channels")
        self.leads = leads
        self.dim = dim
        self.kernels = tuple(kernels)
        self.strides = tuple(strides)
        widths = [*channels, dim]
        layers: list[nn.Module] = [
            nn.Conv1d(leads, leads * widths[0], kernels[0], strides[0], kernels[0] // 2, groups=leads),
            LeadChannelNorm(leads, widths[0]),
        ]
        for c_in, c_out, kernel, stride in zip(
            widths[:-1], widths[1:], kernels[1:], strides[1:], strict=True
        ):
            layers += [
                make_activation(activation),
                nn.Conv1d(
                    leads * c_in,
                    leads * c_in,
                    kernel,
                    stride,
                    kernel // 2,
                    groups=leads * c_in,
                    bias=False,
                ),
                nn.Conv1d(leads * c_in, leads * c_out, 1, groups=leads),
                LeadChannelNorm(leads, c_out),
            ]
        self.layers = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """``x``: ``[B, leads, T]`` -> tokens ``[B, leads, N, dim]``.

        ``lengths`` (``[B]``, samples) marks everything after a record's end as padding: before every
        convolution that reaches along time, positions past the record's end at that resolution are
        zeroed, so each token within the record equals the token of the unpadded record whatever the
        padding holds. Tokens past the end (see :meth:`token_lengths`) are not meaningful.
        """
        if lengths is None:
            y = self.layers(x)
        else:
            y = x
            for layer in self.layers:
                if isinstance(layer, nn.Conv1d) and layer.kernel_size[0] > 1:
                    valid = torch.arange(y.shape[-1], device=y.device) < lengths[:, None]
                    y = y * valid[:, None, :].to(y.dtype)
                    lengths = _conv_length(lengths, layer.kernel_size[0], layer.stride[0])
                y = layer(y)
        batch, _, steps = y.shape
        return y.reshape(batch, self.leads, self.dim, steps).transpose(2, 3).contiguous()

    def token_lengths(self, lengths: torch.Tensor) -> torch.Tensor:
        """Tokens computed within records of ``lengths`` samples (the stem's output lengths)."""
        for kernel, stride in zip(self.kernels, self.strides, strict=True):
            lengths = _conv_length(lengths, kernel, stride)
        return lengths

    def geometry(self, samples: int, layers: int | None = None) -> TokenGeometry:
        """Which input samples each output token is computed from, for inputs of ``samples``.

        ``layers``: the geometry after the first ``layers`` convolution layers (default: all of them).
        """
        stride, field, offset, tokens = 1, 1, 0, samples
        for kernel, step in list(zip(self.kernels, self.strides, strict=True))[:layers]:
            offset -= (kernel // 2) * stride
            field += (kernel - 1) * stride
            stride *= step
            tokens = _conv_length(tokens, kernel, step)
        return TokenGeometry(stride=stride, receptive_field=field, offset=offset, num_tokens=tokens)


def _conv_length(length, kernel: int, stride: int):
    """Output length of a convolution padded by ``kernel // 2`` on both sides (int or tensor)."""
    return (length + 2 * (kernel // 2) - kernel) // stride + 1
