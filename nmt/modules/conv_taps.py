"""A 1-D convolution as one matrix product over its taps, on channels-last (B, T, C) input.

    y_t = W [x_{t − l}; x_{t − l + d}; …; x_{t − l + (k−1)·d}] + b

with ``l`` the left padding (``(k−1)·d`` for a causal convolution) and W the convolution weight
laid out tap-major, (C_out, k·C_in). On the CPU this trains faster than oneDNN's convolution over
(B, C, T) and the transposes around it (docs/results.md); GLU convolutions (ConvS2S) and dilated
convolutions (TCN) both use it, and their incremental steps take the same product over a window.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from nmt.modules.linear import linear
from nmt.modules.weight_norm import is_weight_normed


def tap_major(weight: Tensor) -> Tensor:
    """A convolution weight (C_out, C_in, k) as the matrix (C_out, k·C_in) of :func:`conv_taps`."""
    return weight.permute(0, 2, 1).reshape(weight.size(0), -1).contiguous()


def cached_tap_major(owner: nn.Module, conv: nn.Conv1d, dtype: torch.dtype | None = None) -> Tensor:
    """:func:`tap_major` of ``conv``'s weight (cast to ``dtype`` if given), kept on ``owner`` while
    the weight is a plain tensor that has not changed (weight norm folded for inference); under
    weight norm it is recomputed."""
    w = conv.weight
    key = (w.data_ptr(), w._version, w.dtype, dtype) if not is_weight_normed(conv) else None
    if key is None:
        return tap_major(w)
    if getattr(owner, "_linear_key", None) != key:
        owner._linear, owner._linear_key = tap_major(w).to(dtype or w.dtype), key
    return owner._linear


def conv_taps(x: Tensor, padding: tuple[int, int], kernel_size: int, dilation: int = 1) -> Tensor:
    """x (B, T, C) zero-padded by ``padding`` (left, right) on the time axis -> the k taps of
    every output position side by side, (B, T, k·C), tap-major."""
    length = x.size(1)
    padded = F.pad(x, (0, 0, *padding))  # (B, T + (k−1)·d, C)
    return torch.cat([padded[:, j * dilation: j * dilation + length] for j in range(kernel_size)],
                     dim=-1)


def taps_product(owner: nn.Module, conv: nn.Conv1d, taps: Tensor) -> Tensor:
    """``W·taps + b`` with W ``conv``'s weight tap-major: taps (..., k·C_in) -> (..., C_out).

    Under autocast the tap-major weight is kept in the autocast dtype (autocast keeps cast copies
    of parameters only, so it would cast this derived weight again on every call). An int8 model
    (:func:`nmt.modules.int8.quantize_int8`) gives ``owner`` an ``int8_taps`` layer, which then
    takes the product."""
    int8 = getattr(owner, "int8_taps", None)
    if int8 is not None:
        return int8(taps)
    device = taps.device.type
    dtype = torch.get_autocast_dtype(device) if torch.is_autocast_enabled(device) else None
    return linear(taps, cached_tap_major(owner, conv, dtype), conv.bias)
