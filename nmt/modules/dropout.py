"""Dropout (Srivastava et al. 2014) with a cheaper random mask on the CPU.

    y = x ⊙ m / (1 − p),   m_i ~ Bernoulli(1 − p) independently

PyTorch's CPU dropout draws one Mersenne-Twister number per element (``bernoulli_``): 18 ms for a
(64, 60, 512) activation on 2 threads, 15% of a bf16 ConvS2S training step (docs/results.md).
Here each 64-bit draw is cut into four 16-bit integers ``u``, uniform over [−2¹⁵, 2¹⁵), and an
element is kept when ``u < round((1 − p)·2¹⁶) − 2¹⁵``: the keep probability is 1 − p to within
2⁻¹⁷, from a quarter of the draws (the same activation's dropout takes 4.7 ms). The mask is drawn
from PyTorch's generator, so ``torch.manual_seed`` makes it reproducible.

:func:`torch.nn.functional.dropout` is the reference (tests/modules/test_dropout.py); on other
devices, and for p = 1, it is what runs.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

_LANES = 4  # 16-bit integers per 64-bit draw


def keep_mask(shape: torch.Size | tuple[int, ...], p: float) -> Tensor:
    """A bool mask of ``shape``, each element True with probability 1 − p (to within 2⁻¹⁷)."""
    n = math.prod(shape)
    words = torch.empty((n + _LANES - 1) // _LANES, dtype=torch.int64).random_(-2 ** 63, None)
    u = words.view(torch.int16)[:n].view(shape)  # uniform over [-32768, 32767]
    return u < round((1.0 - p) * 65536) - 32768


def dropout(x: Tensor, p: float, training: bool = True) -> Tensor:
    """``F.dropout(x, p, training)`` with the mask of :func:`keep_mask` on the CPU."""
    if not training or p == 0.0:
        return x
    if x.device.type != "cpu" or p >= 1.0:
        return F.dropout(x, p, training)
    return (x * keep_mask(x.shape, p)).mul_(1.0 / (1.0 - p))


class Dropout(nn.Module):
    """:class:`torch.nn.Dropout` (not in place) through :func:`dropout`."""

    def __init__(self, p: float = 0.5):
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
        self.p = p

    def forward(self, x: Tensor) -> Tensor:
        return dropout(x, self.p, self.training)

    def extra_repr(self) -> str:
        return f"p={self.p}"
