"""The CUDA forget-mult: one Triton program per (sentence, block of H channels) loops over time.

Imported by :func:`nmt.modules.forget_mult.forget_mult` only when a CUDA tensor arrives, so nothing
here is touched on a CPU machine. Without Triton it falls back to the PyTorch loop. Same
semantics and gradient as the CPU kernel (see :mod:`nmt.modules.forget_mult`); the recurrence
runs in float32 registers (float64 for float64 tensors).

No GPU on the development machine: the kernels were checked against the reference (forward and
backward, masks, c0, f/fo and ifo, float32 and float64, strided gate views) in Triton's CPU
interpreter (``TRITON_INTERPRET=1``); the parity test in tests/modules/test_forget_mult.py runs
when CUDA is present.
"""

from __future__ import annotations

import torch
from torch import Tensor

try:  # this module is only imported for CUDA tensors; without Triton the PyTorch loop is used
    import triton
    import triton.language as tl
except ImportError:  # pragma: no cover - depends on the installation
    triton = None

if triton is not None:

    @triton.jit
    def _forward_kernel(F, X, C0, M, C, T, H, fsb, fst, xsb, xst,
                        HAS_C0: tl.constexpr, HAS_MASK: tl.constexpr, COMPLEMENT: tl.constexpr,
                        BLOCK: tl.constexpr, ACC: tl.constexpr):
        b = tl.program_id(0).to(tl.int64)
        offs = tl.program_id(1) * BLOCK + tl.arange(0, BLOCK)
        inside = offs < H
        if HAS_C0:
            c = tl.load(C0 + b * H + offs, mask=inside, other=0.0).to(ACC)
        else:
            c = tl.zeros([BLOCK], dtype=ACC)
        for t in range(0, T):
            f = tl.load(F + b * fsb + t * fst + offs, mask=inside, other=0.0).to(ACC)
            x = tl.load(X + b * xsb + t * xst + offs, mask=inside, other=0.0).to(ACC)
            if COMPLEMENT:
                x = (1.0 - f) * x
            new = f * c + x
            if HAS_MASK:
                real = tl.load(M + b * T + t) != 0
                new = tl.where(real, new, c)
            c = new
            tl.store(C + (b * T + t) * H + offs, c.to(C.dtype.element_ty), mask=inside)

    @triton.jit
    def _backward_step(G, F, X, M, GF, GX, b, t, T, H, fsb, fst, xsb, xst, offs, inside,
                       prev, carry, HAS_MASK: tl.constexpr, COMPLEMENT: tl.constexpr,
                       ACC: tl.constexpr):
        """Gradients of step t from g_t = ∂L/∂c_t + carry; returns the next carry f_t g_t."""
        row = (b * T + t) * H
        g = tl.load(G + row + offs, mask=inside, other=0.0).to(ACC) + carry
        f = tl.load(F + b * fsb + t * fst + offs, mask=inside, other=0.0).to(ACC)
        x = tl.load(X + b * xsb + t * xst + offs, mask=inside, other=0.0).to(ACC)
        if COMPLEMENT:
            gf = g * (prev - x)
            gx = g * (1.0 - f)
        else:
            gf = g * prev
            gx = g
        if HAS_MASK:  # a padded step passes its gradient on and takes none
            real = tl.load(M + b * T + t) != 0
            gf = tl.where(real, gf, 0.0)
            gx = tl.where(real, gx, 0.0)
            f = tl.where(real, f, 1.0)
        tl.store(GF + row + offs, gf.to(GF.dtype.element_ty), mask=inside)
        tl.store(GX + row + offs, gx.to(GX.dtype.element_ty), mask=inside)
        return g * f

    @triton.jit
    def _backward_kernel(G, F, X, C, C0, M, GF, GX, GC0, T, H, fsb, fst, xsb, xst,
                         HAS_C0: tl.constexpr, HAS_MASK: tl.constexpr, COMPLEMENT: tl.constexpr,
                         BLOCK: tl.constexpr, ACC: tl.constexpr):
        b = tl.program_id(0).to(tl.int64)
        offs = tl.program_id(1) * BLOCK + tl.arange(0, BLOCK)
        inside = offs < H
        carry = tl.zeros([BLOCK], dtype=ACC)  # f_{t+1} * g_{t+1}
        for i in range(0, T - 1):  # steps T-1 .. 1, whose previous state is in C
            t = T - 1 - i
            prev = tl.load(C + (b * T + t - 1) * H + offs, mask=inside, other=0.0).to(ACC)
            carry = _backward_step(G, F, X, M, GF, GX, b, t, T, H, fsb, fst, xsb, xst, offs,
                                   inside, prev, carry, HAS_MASK, COMPLEMENT, ACC)
        if HAS_C0:  # step 0, whose previous state is c0 (or zeros)
            first = tl.load(C0 + b * H + offs, mask=inside, other=0.0).to(ACC)
        else:
            first = tl.zeros([BLOCK], dtype=ACC)
        carry = _backward_step(G, F, X, M, GF, GX, b, 0, T, H, fsb, fst, xsb, xst, offs,
                               inside, first, carry, HAS_MASK, COMPLEMENT, ACC)
        if HAS_C0:
            tl.store(GC0 + b * H + offs, carry.to(GC0.dtype.element_ty), mask=inside)


_BLOCK = 128


def _acc(t: Tensor):
    """The dtype the recurrence runs in: float64 for float64 tensors, else float32."""
    return tl.float64 if t.dtype == torch.float64 else tl.float32


def _grid(B: int, H: int):
    return (B, (H + _BLOCK - 1) // _BLOCK)


class _ForgetMultTriton(torch.autograd.Function):
    @staticmethod
    def forward(ctx, f: Tensor, x: Tensor, c0: Tensor | None, mask: Tensor | None,
                complement: bool) -> Tensor:
        fwd = _forward_kernel
        f = f if f.stride(-1) == 1 else f.contiguous()
        x = x if x.stride(-1) == 1 else x.contiguous()
        c0 = None if c0 is None else c0.contiguous()
        m = None if mask is None else mask.contiguous().view(torch.uint8)
        B, T, H = f.shape
        c = f.new_empty(B, T, H)
        dummy = c  # never read when the matching HAS_* flag is off
        if c.numel():
            fwd[_grid(B, H)](f, x, dummy if c0 is None else c0, dummy if m is None else m, c,
                             T, H, f.stride(0), f.stride(1), x.stride(0), x.stride(1),
                             HAS_C0=c0 is not None, HAS_MASK=m is not None,
                             COMPLEMENT=bool(complement), BLOCK=_BLOCK, ACC=_acc(f))
        ctx.complement = complement
        ctx.has_c0, ctx.has_mask = c0 is not None, m is not None
        ctx.save_for_backward(f, x, c, c0, m)
        return c

    @staticmethod
    def backward(ctx, grad: Tensor):
        bwd = _backward_kernel
        f, x, c, c0, m = ctx.saved_tensors
        grad = grad.contiguous()
        B, T, H = c.shape
        gf, gx = torch.empty_like(c), torch.empty_like(c)
        gc0 = c.new_empty(B, H) if ctx.has_c0 else None
        if not c.numel():
            return gf, gx, None if gc0 is None else gc0.zero_(), None, None
        dummy = c
        bwd[_grid(B, H)](grad, f, x, c, dummy if c0 is None else c0, dummy if m is None else m,
                         gf, gx, dummy if gc0 is None else gc0, T, H,
                         f.stride(0), f.stride(1), x.stride(0), x.stride(1),
                         HAS_C0=ctx.has_c0, HAS_MASK=ctx.has_mask,
                         COMPLEMENT=bool(ctx.complement), BLOCK=_BLOCK, ACC=_acc(f))
        return gf, gx, gc0, None, None


def forget_mult_cuda(f: Tensor, x: Tensor, c0: Tensor | None, mask: Tensor | None,
                     complement: bool) -> Tensor:
    """The recurrence of :func:`nmt.modules.forget_mult.forget_mult` on CUDA tensors (needs
    Triton; the caller falls back to its PyTorch loop without it)."""
    if triton is None:
        raise RuntimeError("the CUDA forget-mult needs Triton")
    return _ForgetMultTriton.apply(f, x, c0, mask, complement)
