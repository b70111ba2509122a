"""Log-softmax over the vocabulary in float32, with a C++ kernel for bf16 logits on the CPU.

    log p(v) = x_v − (m + log Σ_u exp(x_u − m)),   m = max_u x_u

A bf16 search's output layer makes bf16 logits. ``F.log_softmax(logits.float())`` would first
write a float32 copy of them and then make three passes over it. ``log_softmax_bf16`` in
``log_softmax.cpp`` (built on first use by :mod:`nmt.modules.native`) reads the bf16 row twice
and writes the float32 result once. Float32 logits keep ``F.log_softmax``: a float32 search must
give fairseq's output to the last bit. The kernel's result equals ``F.log_softmax`` of the float32
values to float rounding (tests/modules/test_log_softmax.py).
"""

from __future__ import annotations

import ctypes
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor

from nmt.modules.native import NativeKernel, ptr, threads_for


def _declare(lib) -> None:
    i64 = ctypes.c_int64
    lib.log_softmax_bf16.argtypes = [ctypes.c_void_p, i64, i64, i64, ctypes.c_void_p, ctypes.c_int]


_KERNEL = NativeKernel(Path(__file__).with_name("log_softmax.cpp"), _declare, "log-softmax CPU kernel")


def cpu_kernel():
    """The compiled kernel (a ctypes library), or None when it cannot be built."""
    return _KERNEL.get()


def log_softmax_float32(logits: Tensor) -> Tensor:
    """Normalised log-probabilities over the last dim, float32, whatever the logits' dtype."""
    if (logits.dtype != torch.bfloat16 or logits.device.type != "cpu" or logits.requires_grad
            or logits.numel() == 0 or cpu_kernel() is None):
        return F.log_softmax(logits.float(), dim=-1)
    v = logits.size(-1)
    rows = logits.reshape(-1, v)  # (N, V), a view where it can be
    if rows.stride(-1) != 1:
        rows = rows.contiguous()
    out = torch.empty(rows.shape, dtype=torch.float32)
    cpu_kernel().log_softmax_bf16(ptr(rows), rows.size(0), v, rows.stride(0), ptr(out),
                                  threads_for(rows.numel()))
    return out.view(logits.shape)
