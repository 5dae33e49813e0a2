"""Mapping from tokens back to the input samples they are computed from."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TokenGeometry:
    """Token ``n`` is computed from input samples ``[offset + n * stride, ... + receptive_field)``.

    ``offset`` is negative when the first tokens reach into the stem's zero padding. The receptive
    field is that of the convolutions and token merges alone; attention widens what a token can
    see beyond it.
    """

    stride: int
    receptive_field: int
    offset: int
    num_tokens: int

    def span(self, token: int) -> tuple[int, int]:
        """Half-open sample range ``[start, stop)`` covered by ``token``."""
        start = self.offset + token * self.stride
        return start, start + self.receptive_field

    def merged(self) -> TokenGeometry:
        """Geometry after merging adjacent token pairs (a kernel-2, stride-2 step)."""
        return TokenGeometry(
            stride=2 * self.stride,
            receptive_field=self.receptive_field + self.stride,
            offset=self.offset,
            num_tokens=(self.num_tokens + 1) // 2,
        )
