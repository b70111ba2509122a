"""Forget-mult: the recurrent pooling of a QRNN (Bradbury et al. 2017, §2), and fast forms of it.

With gates ``f_t ∈ (0, 1)`` and candidates ``z_t`` (all ``(B, T, H)``) the cell state is

    f- and fo-pooling:  c_t = f_t ⊙ c_{t−1} + (1 − f_t) ⊙ z_t
    ifo-pooling:        c_t = f_t ⊙ c_{t−1} + i_t ⊙ z_t          (pass ``input_gate=i``)

from ``c_0`` (zeros unless given, ``(B, H)``); ``f`` weights the *old* state. The pooling layer then
outputs ``h_t = c_t`` (f-pooling) or ``h_t = o_t ⊙ c_t`` (fo, ifo), which the caller does. With a
padding ``mask`` (``(B, T)`` bool, True at real steps) a padded step leaves the state alone,
``c_t = c_{t−1}``, so pads never change the state carried to later real steps. ``reverse=True``
runs the recurrence from the last step to the first (the backward half of a bidirectional
encoder), again carrying the state across pads on either side.

Four implementations compute the same function:

- :func:`forget_mult_reference`: a plain loop over time with autograd, the specification;
- the CPU kernel: a small C++ loop over time, vectorised over ``H``, compiled with the system
  compiler on first use (never at import) into a cache directory and called through ctypes, with a
  custom autograd function whose backward is the reversed recurrence
  ``g_t = ∂L/∂c_t + f_{t+1} ⊙ g_{t+1}``, ``∂L/∂f_t = g_t ⊙ (c_{t−1} − z_t)``,
  ``∂L/∂z_t = g_t ⊙ (1 − f_t)``, ``∂L/∂c_0 = f_1 ⊙ g_1``. When compilation fails (no compiler)
  a warning is logged once and the PyTorch loop below is used;
- the same algorithm as PyTorch ops in one autograd node (:class:`_ForgetMultTorch`, any device),
  the fallback;
- on CUDA, a Triton kernel (imported only when a CUDA tensor arrives; the PyTorch loop if Triton
  is missing).

Half-precision inputs are upcast to float32 for the recurrence and the result cast back.

Speed (CPU, (T, B, H) = (300, 64, 320) fp32, forward + backward, one thread, medians of
interleaved rounds, ``nmt bench forget-mult --threads 1``): the kernel is about 5x faster than the
reference loop as written here (``unbind``) and over 100x faster than the textbook ``f[:, t]``
loop, whose backward materialises a full-size gradient per step. It is memory-bound: the forward
pass streams 3 and the backward pass 6 tensors of that size; rows are computed in an L1-sized
buffer and streamed out with non-temporal stores (3.0x -> 5.0x), and what remains beyond the
kernel's own time is first-touch page faults on the freshly allocated outputs.
"""

from __future__ import annotations

import ctypes
from pathlib import Path

import torch
from torch import Tensor

from nmt.modules.native import NativeKernel, ptr, threads_for

IMPLS = ("auto", "reference", "torch", "cpu", "cuda")


def forget_mult(f: Tensor, z: Tensor, c0: Tensor | None = None, mask: Tensor | None = None, *,
                input_gate: Tensor | None = None, reverse: bool = False,
                impl: str = "auto") -> Tensor:
    """The cell states ``c`` (B, T, H) of the recurrence in the module docstring.

    f, z, input_gate: (B, T, H); c0: (B, H) or None; mask: (B, T) bool, True at real steps.
    ``impl``: ``"auto"`` (the fastest available for the device), ``"reference"``, ``"torch"``,
    ``"cpu"`` (the C++ kernel; an error if it cannot be built) or ``"cuda"``.
    """
    if impl not in IMPLS:
        raise ValueError(f"impl must be one of {IMPLS}, got {impl!r}")
    _check_shapes(f, z, c0, mask, input_gate)
    if reverse:
        flip = (lambda t: None if t is None else t.flip(1))  # noqa: E731
        c = forget_mult(flip(f), flip(z), c0, flip(mask), input_gate=flip(input_gate), impl=impl)
        return c.flip(1)
    if impl == "reference":
        return forget_mult_reference(f, z, c0, mask, input_gate=input_gate)
    out_dtype = f.dtype
    dtype = f.dtype if f.dtype in (torch.float32, torch.float64) else torch.float32
    f, z = f.to(dtype), z.to(dtype)  # bf16/fp16: recur in float32
    c0 = None if c0 is None else c0.to(dtype)
    input_gate = None if input_gate is None else input_gate.to(dtype)
    # ifo: the kernel recurs on x = i ⊙ z with no complement; f/fo: on z with (1 − f) ⊙ z inside
    x, complement = (z, True) if input_gate is None else (input_gate * z, False)
    if impl == "auto":
        impl = ("cuda" if f.is_cuda else "cpu" if f.device.type == "cpu" and cpu_kernel() else
                "torch")
    if (impl == "cpu" and f.device.type != "cpu") or (impl == "cuda" and not f.is_cuda):
        raise ValueError(f"impl={impl!r} needs {impl.upper()} tensors, got {f.device}")
    if impl == "cpu":
        if cpu_kernel() is None:
            raise RuntimeError(f"the forget-mult CPU kernel could not be built: {_KERNEL.error}")
        c = _ForgetMultCPU.apply(f, x, c0, mask, complement)
    elif impl == "cuda":
        from nmt.modules import _forget_mult_cuda  # lazy: nothing CUDA-related on CPU

        if _forget_mult_cuda.triton is None:  # no Triton: the PyTorch loop, on the GPU
            c = _torch_forget_mult(f, x, c0, mask, complement)
        else:
            c = _forget_mult_cuda.forget_mult_cuda(f, x, c0, mask, complement)
    else:
        c = _torch_forget_mult(f, x, c0, mask, complement)
    return c.to(out_dtype)


def forget_mult_reference(f: Tensor, z: Tensor, c0: Tensor | None = None,
                          mask: Tensor | None = None, *, input_gate: Tensor | None = None,
                          reverse: bool = False) -> Tensor:
    """The specification: a loop over time with autograd through every step."""
    _check_shapes(f, z, c0, mask, input_gate)
    T = f.size(1)
    if T == 0:
        return f.new_zeros(f.shape)
    # unbind (not f[:, t]) so that autograd stacks the step gradients once instead of
    # materialising a full-size gradient per step
    fs, zs = f.unbind(1), z.unbind(1)
    gs = (None,) * T if input_gate is None else input_gate.unbind(1)
    ms = (None,) * T if mask is None else mask.unsqueeze(-1).unbind(1)
    c = f.new_zeros(f.size(0), f.size(2)) if c0 is None else c0
    out: list[Tensor] = [c] * T
    for t in (range(T - 1, -1, -1) if reverse else range(T)):
        new = fs[t] * c + ((1 - fs[t]) if gs[t] is None else gs[t]) * zs[t]
        c = new if ms[t] is None else torch.where(ms[t], new, c)
        out[t] = c
    return torch.stack(out, dim=1)


def _check_shapes(f, z, c0, mask, input_gate) -> None:
    if f.dim() != 3 or z.shape != f.shape:
        raise ValueError(f"f and z must be (B, T, H) of one shape, got {tuple(f.shape)}, "
                         f"{tuple(z.shape)}")
    if input_gate is not None and input_gate.shape != f.shape:
        raise ValueError("input_gate must have the shape of f")
    if c0 is not None and c0.shape != (f.size(0), f.size(2)):
        raise ValueError(f"c0 must be (B, H) = {(f.size(0), f.size(2))}, got {tuple(c0.shape)}")
    if mask is not None and (mask.shape != f.shape[:2] or mask.dtype != torch.bool):
        raise ValueError(f"mask must be (B, T) bool, got {tuple(mask.shape)} {mask.dtype}")


# -- the PyTorch loop without per-step autograd (any device) ----------------------------------


def _torch_forget_mult(f, x, c0, mask, complement: bool) -> Tensor:
    return _ForgetMultTorch.apply(f, x, c0, mask, complement)


class _ForgetMultTorch(torch.autograd.Function):
    """The kernel's algorithm in PyTorch ops, one autograd node: a loop over time in the forward
    pass (one ``lerp`` per step for f/fo-pooling), the reversed loop in the backward pass
    (see the module docstring). Per-step tensors are small; only the stacked results are big."""

    @staticmethod
    def forward(ctx, f: Tensor, x: Tensor, c0: Tensor | None, mask: Tensor | None,
                complement: bool) -> Tensor:
        fs, xs = f.unbind(1), x.unbind(1)
        ms = None if mask is None else mask.unsqueeze(-1).unbind(1)
        prev = f.new_zeros(f.size(0), f.size(2)) if c0 is None else c0
        out = []
        for t in range(len(fs)):
            if complement:  # lerp(x, c, f) = x + f (c − x) = f c + (1 − f) x
                new = torch.lerp(xs[t], prev, fs[t])
            else:
                new = torch.addcmul(xs[t], fs[t], prev)
            prev = new if ms is None else torch.where(ms[t], new, prev)
            out.append(prev)
        c = torch.stack(out, dim=1) if out else f.new_zeros(f.shape)
        ctx.complement, ctx.has_c0 = complement, c0 is not None
        ctx.save_for_backward(f, x, c, c0, mask)
        return c

    @staticmethod
    def backward(ctx, grad: Tensor):
        f, x, c, c0, mask = ctx.saved_tensors
        B, T, H = c.shape
        fs, xs, cs, gs = f.unbind(1), x.unbind(1), c.unbind(1), grad.unbind(1)
        ms = None if mask is None else mask.unsqueeze(-1).unbind(1)
        first = c.new_zeros(B, H) if c0 is None else c0
        carry = c.new_zeros(B, H)  # f_{t+1} g_{t+1}
        grad_f, grad_x = [None] * T, [None] * T
        for t in range(T - 1, -1, -1):
            g = gs[t] + carry
            prev = cs[t - 1] if t > 0 else first
            carry = fs[t] * g
            if ms is not None:  # a padded step passes its gradient on and takes none
                carry = torch.where(ms[t], carry, g)
                g = g.masked_fill(~ms[t], 0.0)
            grad_f[t] = g * (prev - xs[t]) if ctx.complement else g * prev
            grad_x[t] = g - fs[t] * g if ctx.complement else g
        grad_c0 = carry if ctx.has_c0 else None
        if T == 0:
            return torch.zeros_like(f), torch.zeros_like(x), grad_c0, None, None
        return torch.stack(grad_f, 1), torch.stack(grad_x, 1), grad_c0, None, None


# -- the C++ CPU kernel ---------------------------------------------------------------------

# The kernel's source lives beside this module and is compiled on first use (nmt.modules.native).


def _declare(lib) -> None:
    i64, p = ctypes.c_int64, ctypes.c_void_p
    for name in ("f32", "f64"):
        getattr(lib, f"fm_forward_{name}").argtypes = [p] * 5 + [i64] * 7 + [ctypes.c_int] * 2
        getattr(lib, f"fm_backward_{name}").argtypes = [p] * 9 + [i64] * 7 + [ctypes.c_int] * 2


_KERNEL = NativeKernel(Path(__file__).with_name("forget_mult.cpp"), _declare, "forget-mult CPU kernel")


def cpu_kernel():
    """The compiled CPU kernel (a ctypes library), building it on the first call; None when it
    cannot be built (the reason is in the log, once)."""
    return _KERNEL.get()


def _rows(t: Tensor) -> Tensor:
    """``t`` with unit stride over its last dim (a view when it has one already)."""
    return t if t.stride(-1) == 1 else t.contiguous()


class _ForgetMultCPU(torch.autograd.Function):
    """The C++ kernel, forward and backward; f and x may be strided views (e.g. gate chunks)."""

    @staticmethod
    def forward(ctx, f: Tensor, x: Tensor, c0: Tensor | None, mask: Tensor | None,
                complement: bool) -> Tensor:
        if x.dtype != f.dtype or (c0 is not None and c0.dtype != f.dtype):
            raise TypeError("f, z (and c0) must have one dtype")
        f, x = _rows(f), _rows(x)
        c0 = None if c0 is None else c0.contiguous()
        m = None if mask is None else mask.contiguous().view(torch.uint8)
        B, T, H = f.shape
        c = f.new_empty(B, T, H)
        fn = getattr(cpu_kernel(), f"fm_forward_{_SUFFIX[f.dtype]}")
        fn(ptr(f), ptr(x), ptr(c0), ptr(m), ptr(c), B, T, H, f.stride(0), f.stride(1),
           x.stride(0), x.stride(1), int(complement), threads_for(c.numel()))
        ctx.complement = complement
        ctx.has_c0 = c0 is not None
        ctx.save_for_backward(f, x, c, c0, m)
        return c

    @staticmethod
    def backward(ctx, grad: Tensor):
        f, x, c, c0, m = ctx.saved_tensors
        grad = grad.contiguous()
        B, T, H = c.shape
        gf, gx = torch.empty_like(c), torch.empty_like(c)
        gc0 = c.new_empty(B, H) if ctx.has_c0 else None
        fn = getattr(cpu_kernel(), f"fm_backward_{_SUFFIX[f.dtype]}")
        fn(ptr(grad), ptr(f), ptr(x), ptr(c), ptr(c0), ptr(m), ptr(gf), ptr(gx),
           ptr(gc0), B, T, H, f.stride(0), f.stride(1), x.stride(0), x.stride(1),
           int(ctx.complement), threads_for(c.numel()))
        return gf, gx, gc0, None, None


_SUFFIX = {torch.float32: "f32", torch.float64: "f64"}
