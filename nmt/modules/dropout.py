"""Dropout (Srivastava et al. 2014) with a counter-based random mask and a fused CPU kernel.

    y = x ⊙ m / (1 − p),   m_i ~ Bernoulli(1 − p) independently

PyTorch's CPU dropout draws one Mersenne-Twister number per element (``bernoulli_``): 18 ms for a
(64, 60, 512) activation on 2 threads, 15% of a bf16 ConvS2S training step (docs/results.md).
Here the mask is a hash of a counter: each call draws one 64-bit seed from PyTorch's generator
(so ``torch.manual_seed`` makes it reproducible), word w of the mask is splitmix64(seed +
(w + 1)·γ) (Steele, Lea & Flood 2014), and element 4w + j takes the word's 16-bit lane j as a
signed integer u, kept when ``u < round((1 − p)·2¹⁶) − 2¹⁵``: the keep probability is 1 − p to
within 2⁻¹⁷. Because the mask is a function of the seed, the backward pass rebuilds it instead of
keeping it, and on the CPU one C++ pass (``dropout_kernel.cpp``, built on first use by
:mod:`nmt.modules.native`) hashes, masks and scales, forward and backward, for float32 and bf16.

:func:`keep_mask` computes the same mask with PyTorch integer ops: the reference the kernel is
tested against element for element, and the path for other dtypes or when no compiler is
available (the same masks, only slower). :func:`torch.nn.functional.dropout` is the reference
for the distribution (tests/modules/test_dropout.py); on other devices, and for p = 1, it is what
runs.
"""

from __future__ import annotations

import ctypes
import math
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from nmt.modules.native import KERNEL_DTYPES, NativeKernel, ptr, threads_for

_LANES = 4  # 16-bit lanes per 64-bit word
_GAMMA = 0x9E3779B97F4A7C15  # splitmix64's counter increment (2⁶⁴ / golden ratio)
_MIX = (0xBF58476D1CE4E5B9, 0x94D049BB133111EB)


def _signed(u: int) -> int:
    """A 64-bit unsigned value as the int64 with the same bits."""
    return u - (1 << 64) if u >= 1 << 63 else u


def _shift_right(z: Tensor, k: int) -> Tensor:
    """Logical right shift of int64 bits (PyTorch's ``>>`` on int64 is arithmetic)."""
    return (z >> k) & ((1 << (64 - k)) - 1)


def _threshold(p: float) -> int:
    return round((1.0 - p) * 65536) - 32768


def keep_mask(shape: torch.Size | tuple[int, ...], p: float, seed: int) -> Tensor:
    """The bool mask of ``shape`` for ``seed``, each element True with probability 1 − p (to within
    2⁻¹⁷); int64 arithmetic wraps, as the kernel's uint64 arithmetic does."""
    n = math.prod(shape)
    w = torch.arange(1, (n + _LANES - 1) // _LANES + 1, dtype=torch.int64)  # (words,)
    z = w * _signed(_GAMMA) + _signed(seed % (1 << 64))  # seed + (w + 1)·γ
    z = (z ^ _shift_right(z, 30)) * _signed(_MIX[0])
    z = (z ^ _shift_right(z, 27)) * _signed(_MIX[1])
    z = z ^ _shift_right(z, 31)
    u = z.view(torch.int16)[:n].view(shape)  # lane j of a word = bits 16j..16j+15 (little-endian)
    threshold = _threshold(p)
    if threshold > 32767:  # p < 2⁻¹⁷: every element kept (2¹⁵ would wrap to −2¹⁵ as an int16)
        return torch.ones(shape, dtype=torch.bool)
    return u < threshold


def _draw_seed() -> int:
    """One 64-bit seed from PyTorch's default generator, as a signed int64 (autograd and the
    profiler pass it through C++ as one)."""
    return int(torch.empty((), dtype=torch.int64).random_(-2 ** 63, None))


def _declare(lib) -> None:
    for name in ("f32", "bf16"):
        getattr(lib, f"dropout_{name}").argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64,
                                                    ctypes.c_uint64, ctypes.c_int32, ctypes.c_float,
                                                    ctypes.c_int]


_KERNEL = NativeKernel(Path(__file__).with_name("dropout_kernel.cpp"), _declare, "dropout CPU kernel")


def cpu_kernel():
    """The compiled dropout kernel (a ctypes library), or None when it cannot be built."""
    return _KERNEL.get()


def _kernel_apply(x: Tensor, p: float, seed: int) -> Tensor:
    """``x · m(seed) / (1 − p)`` by the C++ kernel, in x's dtype and shape."""
    x = x.contiguous()
    y = torch.empty_like(x)
    getattr(cpu_kernel(), f"dropout_{KERNEL_DTYPES[x.dtype]}")(
        ptr(x), ptr(y), x.numel(), seed % (1 << 64), _threshold(p), 1.0 / (1.0 - p),
        threads_for(x.numel()))
    return y


class _KernelDropout(torch.autograd.Function):
    """Forward and backward are one masked scaling with the same seed's mask."""

    @staticmethod
    def forward(ctx, x: Tensor, p: float, seed: int) -> Tensor:
        ctx.p, ctx.seed = p, seed
        return _kernel_apply(x, p, seed)

    @staticmethod
    def backward(ctx, grad: Tensor):
        return _KernelDropout.apply(grad, ctx.p, ctx.seed), None, None


def dropout(x: Tensor, p: float, training: bool = True) -> Tensor:
    """``F.dropout(x, p, training)`` with the mask of :func:`keep_mask` on the CPU."""
    if not training or p == 0.0:
        return x
    if x.device.type != "cpu" or p >= 1.0:
        return F.dropout(x, p, training)
    seed = _draw_seed()
    if x.dtype in KERNEL_DTYPES and cpu_kernel() is not None:
        return _KernelDropout.apply(x, p, seed)
    return (x * keep_mask(x.shape, p, seed)).mul_(1.0 / (1.0 - p))


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
