"""A decoder step's multi-step attention in float32 in one C++ pass (bf16 search).

    a_ij = softmax_j(d_i · z_j)  (−inf at source pads),   c_i = n·sqrt(1/n) · Σ_j a_ij ze_j

In a bf16 beam search each sentence's few query rows (its hypotheses) attend in float32
(:data:`~nmt.modules.multistep_attention.FLOAT32_BELOW_ROWS`). As PyTorch ops that is a dozen
calls a layer and step (the keys' cast, two batched products, the mask, the softmax, the scale),
each over a small tensor. ``attention_kernel.cpp`` (built on first use by
:mod:`nmt.modules.native`) does it per sentence in one pass, reading bf16 keys as they are.
:func:`attend_reference` is those PyTorch ops, the reference the kernel is tested against; a
float32 search keeps them, so that its products are MKL's and its output fairseq's to the last
bit.
"""

from __future__ import annotations

import ctypes
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor

from nmt.modules.native import KERNEL_DTYPES, NativeKernel, ptr, threads_for


def _declare(lib) -> None:
    p, i64 = ctypes.c_void_p, ctypes.c_int64
    for name in ("f32", "bf16"):
        getattr(lib, f"attend_{name}").argtypes = [p, p, p, p, p, p, p, i64, i64, i64, i64, ctypes.c_int]


_KERNEL = NativeKernel(Path(__file__).with_name("attention_kernel.cpp"), _declare,
                       "attention CPU kernel")


def cpu_kernel():
    """The compiled attention kernel (a ctypes library), or None when it cannot be built."""
    return _KERNEL.get()


def attend_reference(d: Tensor, keys: Tensor, values: Tensor, pad_mask: Tensor,
                     scale: Tensor) -> tuple[Tensor, Tensor]:
    """d (B, w, D), keys (B, S, D), values (B, S, D), pad_mask (B, S), scale (B, 1, 1) ->
    (attention (B, w, S), context (B, w, D)), float32, as PyTorch ops."""
    with torch.autocast(d.device.type, enabled=False):
        scores = torch.bmm(d.float(), keys.float().transpose(1, 2))  # (B, w, S)
        attn = F.softmax(scores.masked_fill(pad_mask.unsqueeze(1), float("-inf")), dim=-1)
        return attn, torch.bmm(attn, values.float()) * scale.float()


def applies(d: Tensor, keys: Tensor, values: Tensor) -> bool:
    """True where :func:`attend` runs the kernel: CPU tensors, float32 queries and values,
    float32 or bf16 keys, no gradient recorded."""
    return (d.device.type == "cpu" and d.dtype == torch.float32 and values.dtype == torch.float32
            and keys.dtype in KERNEL_DTYPES and not (torch.is_grad_enabled() and (
                d.requires_grad or keys.requires_grad or values.requires_grad))
            and cpu_kernel() is not None)


def attend(d: Tensor, keys: Tensor, values: Tensor, pad_mask: Tensor,
           scale: Tensor) -> tuple[Tensor, Tensor]:
    """:func:`attend_reference` by the C++ kernel where :func:`applies`."""
    if not applies(d, keys, values):
        return attend_reference(d, keys, values, pad_mask, scale)
    batch, w, dim = d.shape
    length = keys.size(1)
    d, keys, values = d.contiguous(), keys.contiguous(), values.contiguous()
    pads = pad_mask.contiguous().view(torch.uint8)  # (B, S) bytes
    factors = scale.reshape(batch).float().contiguous()  # (B,)
    attn = torch.empty(batch, w, length, dtype=torch.float32)
    context = torch.empty(batch, w, dim, dtype=torch.float32)
    getattr(cpu_kernel(), f"attend_{KERNEL_DTYPES[keys.dtype]}")(
        ptr(d), ptr(keys), ptr(values), ptr(pads), ptr(factors), ptr(attn), ptr(context),
        batch, w, length, dim, threads_for(batch * w * length * dim))
    return attn, context
