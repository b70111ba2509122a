"""The gated linear unit (Dauphin et al. 2017) over the last dim, whose backward pass writes the
input's gradient over the input.

    v([A B]) = A ⊗ σ(B);   ∂A = G ⊗ σ(B),   ∂B = G ⊗ A ⊗ σ(B) ⊗ (1 − σ(B))

In a GLU convolution (:class:`~nmt.modules.glu_conv.GLUConv1d`) the convolution's output [A B]
is read by the GLU only. So in training :func:`glu_over_input` writes [∂A ∂B] over [A B]: one C++
pass (``glu_kernel.cpp``, built on first use by :mod:`nmt.modules.native`) reads A, B and G and
stores both halves, and a bf16 product padded by :mod:`nmt.modules.linear` then finds that
gradient in its own buffer instead of copying it into one. The input's version counter is bumped,
so autograd refuses any later use of it. PyTorch's ``glu_backward`` is the reference (tested
against the kernel) and the path without a compiler, for other dtypes, and for inputs whose rows
are not contiguous.
"""

from __future__ import annotations

import ctypes
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor

from nmt.modules.native import KERNEL_DTYPES, NativeKernel, ptr, threads_for


def _declare(lib) -> None:
    for name in ("f32", "bf16"):
        getattr(lib, f"glu_backward_{name}").argtypes = [ctypes.c_void_p, ctypes.c_int64, ctypes.c_int64,
                                                         ctypes.c_int64, ctypes.c_void_p, ctypes.c_int]


_KERNEL = NativeKernel(Path(__file__).with_name("glu_kernel.cpp"), _declare, "GLU CPU kernel")


def cpu_kernel():
    """The compiled GLU kernel (a ctypes library), or None when it cannot be built."""
    return _KERNEL.get()


def glu_backward_reference(grad: Tensor, x: Tensor) -> Tensor:
    """[∂A ∂B] for x = [A B] (..., 2C) and the output's gradient (..., C), as a new tensor."""
    return torch.ops.aten.glu_backward(grad, x, -1)


def _kernel_applies(x: Tensor, grad: Tensor) -> bool:
    return (x.device.type == "cpu" and x.dtype in KERNEL_DTYPES and grad.dtype == x.dtype
            and x.is_contiguous() and cpu_kernel() is not None)


class _GLUOverInput(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: Tensor) -> Tensor:
        ctx.save_for_backward(x)
        return F.glu(x, dim=-1)

    @staticmethod
    def backward(ctx, grad: Tensor):
        (x,) = ctx.saved_tensors
        if not _kernel_applies(x, grad):
            return glu_backward_reference(grad, x)
        grad = grad.contiguous()
        channels = grad.size(-1)
        rows = grad.numel() // channels if channels else 0
        getattr(cpu_kernel(), f"glu_backward_{KERNEL_DTYPES[x.dtype]}")(
            ptr(x), rows, channels, 2 * channels, ptr(grad), threads_for(x.numel()))
        torch.autograd.graph.increment_version(x)  # it holds its gradient now
        return x


def glu_over_input(x: Tensor) -> Tensor:
    """``F.glu(x, dim=-1)``: x (..., 2C) -> (..., C). Where gradients are recorded, the backward
    pass writes x's gradient over x: only for an x that nothing else reads."""
    if not (torch.is_grad_enabled() and x.requires_grad) or x.device.type != "cpu":
        return F.glu(x, dim=-1)
    return _GLUOverInput.apply(x)
