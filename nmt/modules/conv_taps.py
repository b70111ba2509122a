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

from nmt.modules.linear import (
    MIN_ROWS,
    bucketed_rows,
    linear,
    padded_input,
    padded_product,
    padded_product_backward,
    runs_in_onednn_bf16,
)
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


def _shifts(length: int, padding: tuple[int, int], kernel_size: int, dilation: int):
    """Per tap j: (j, s, lo, hi), output positions t in [lo, hi) read input t + s."""
    for j in range(kernel_size):
        s = j * dilation - padding[0]
        yield j, s, min(max(0, -s), length), max(min(length, length - s), 0)


class _TapsProduct(torch.autograd.Function):
    """:func:`conv_taps` and the product over them in one step, in bf16 over padded rows.

    Forward: x (B, T, C), the convolution's weight (out, C, k), bias -> (B, T, out) bf16, with
    the weight cast straight into its tap-major matrix (out, k·C) in the product. The taps are
    written straight into the padded product's input (:func:`~nmt.modules.linear.padded_input`)
    instead of padding x, concatenating its shifted copies and copying those into it. Backward:
    ``∂x_t = Σ_j ∂taps_{t − s_j, j}`` (tap j of output t reads input t + s_j), summed over the
    taps' gradient in place of the slices' zero-padded gradients and their sum. The sum runs in
    x's dtype, as autograd's sum of those slices did (in bf16 its order of additions differs, so
    ∂x may differ from the unfused path's in the last bit).
    """

    @staticmethod
    def forward(ctx, x: Tensor, weight: Tensor, bias: Tensor | None, padding: tuple[int, int],
                kernel_size: int, dilation: int, padded: int) -> Tensor:
        batch, length, channels = x.shape
        rows, d = batch * length, kernel_size * channels
        xa = padded_input(rows, padded, d, bias is not None)  # (P, k): [taps 1 0], zero rows after N
        taps = xa[:rows, :d].view(batch, length, kernel_size, channels)  # (B, T, k, C)
        for j, s, lo, hi in _shifts(length, padding, kernel_size, dilation):
            taps[:, lo:hi, j] = x[:, lo + s:hi + s]
            taps[:, :lo, j] = 0  # the zero padding before x ...
            taps[:, hi:, j] = 0  # ... and after it
        ctx.taps = padding, kernel_size, dilation, x.shape, x.dtype
        out = weight.size(0)

        def layout(m: Tensor) -> Tensor:  # (out, k·C) tap-major -> a view (out, C, k)
            return m.view(out, kernel_size, channels).permute(0, 2, 1)

        return padded_product(ctx, xa, weight, bias, rows, d, layout).view(batch, length, -1)

    @staticmethod
    def backward(ctx, grad: Tensor):
        padding, kernel_size, dilation, shape, x_dtype = ctx.taps
        batch, length, channels = shape
        grad_taps, grad_w, grad_b = padded_product_backward(
            ctx, grad.reshape(batch * length, -1), ctx.needs_input_grad[0],
            ctx.needs_input_grad[1] or ctx.needs_input_grad[2])
        grad_x = None
        if grad_taps is not None:
            grad_taps = grad_taps.view(batch, length, kernel_size, channels)  # (B, T, k, C)
            shifts = sorted(_shifts(length, padding, kernel_size, dilation), key=lambda t: t[1] != 0)
            j, s, lo, hi = shifts[0]  # the tap that reads input t at output t, if there is one
            if s == 0:
                grad_x = grad_taps[:, :, j].to(x_dtype, memory_format=torch.contiguous_format)
                shifts = shifts[1:]
            else:
                grad_x = grad_taps.new_zeros(shape, dtype=x_dtype)
            for j, s, lo, hi in shifts:
                grad_x[:, lo + s:hi + s] += grad_taps[:, lo:hi, j]
        return grad_x, grad_w, grad_b, None, None, None, None


def conv_product(owner: nn.Module, conv: nn.Conv1d, x: Tensor, padding: tuple[int, int],
                 kernel_size: int, dilation: int = 1) -> Tensor:
    """``taps_product(owner, conv, conv_taps(x, padding, kernel_size, dilation))``: x (B, T, C)
    -> (B, T, C_out). A oneDNN bf16 product of at least ``MIN_ROWS`` rows that records
    gradients (training) builds its taps in the padded product's input (:class:`_TapsProduct`);
    at inference the product is :func:`~nmt.modules.linear.linear`'s, over a packed weight."""
    rows = x.size(0) * x.size(1)
    training = torch.is_grad_enabled() and (x.requires_grad or conv.weight.requires_grad)
    if (not training or rows < MIN_ROWS or getattr(owner, "int8_taps", None) is not None
            or not runs_in_onednn_bf16(x)):
        return taps_product(owner, conv, conv_taps(x, padding, kernel_size, dilation))
    return _TapsProduct.apply(x, conv.weight, conv.bias, padding, kernel_size, dilation,
                              bucketed_rows(rows))


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
