"""A decoder step's multi-step attention in float32 in one C++ pass (bf16 search).

    d_i = (W_d h_i + b_d + g_i)·√½,   a_ij = softmax_j(d_i · z_j)  (−inf at source pads),
    c_i = n·sqrt(1/n) · Σ_j a_ij ze_j

In a bf16 beam search each sentence's few query rows (its hypotheses) attend in float32
(:data:`~nmt.modules.multistep_attention.FLOAT32_BELOW_ROWS`). As PyTorch ops that is a dozen
calls a layer and step (the query's sum and scale, the keys' cast, two batched products, the
mask, the softmax, the context's scale), each over a small tensor. ``attention_kernel.cpp`` (built
on first use by :mod:`nmt.modules.native`) does it per sentence in one pass from the projected
query W_d h_i + b_d and the target embedding g_i, reading bf16 inputs as they are.
:func:`attend_reference` is those PyTorch ops, the reference the kernel is tested against; a
float32 search keeps them, so that its products are MKL's and its output fairseq's to the last
bit.
"""

from __future__ import annotations

import ctypes
import itertools
import math
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor

from nmt.modules.native import KERNEL_DTYPES, NativeKernel, ptr, threads_for


def _declare(lib) -> None:
    p, i64 = ctypes.c_void_p, ctypes.c_int64
    for queries, keys in itertools.product(("f32", "bf16"), repeat=2):
        getattr(lib, f"attend_{queries}_{keys}").argtypes = [p, p, ctypes.c_float, p, p, p, p, p, p,
                                                             i64, i64, i64, i64, ctypes.c_int]


_KERNEL = NativeKernel(Path(__file__).with_name("attention_kernel.cpp"), _declare,
                       "attention CPU kernel")


def cpu_kernel():
    """The compiled attention kernel (a ctypes library), or None when it cannot be built."""
    return _KERNEL.get()


SQRT_HALF = math.sqrt(0.5)  # ConvS2S's residual and attention scale (√½)


def attend_reference(projected: Tensor, embedding: Tensor, keys: Tensor, values: Tensor,
                     pad_mask: Tensor, scale: Tensor) -> tuple[Tensor, Tensor]:
    """projected W_d h + b_d (B, w, D), embedding g (B, w, D), keys (B, S, D), values (B, S, D),
    pad_mask (B, S), scale (B, 1, 1) -> (attention (B, w, S), context (B, w, D)), float32, as
    PyTorch ops."""
    with torch.autocast(projected.device.type, enabled=False):
        d = ((projected + embedding) * SQRT_HALF).float()  # (B, w, D)
        scores = torch.bmm(d, keys.float().transpose(1, 2))  # (B, w, S)
        attn = F.softmax(scores.masked_fill(pad_mask.unsqueeze(1), float("-inf")), dim=-1)
        return attn, torch.bmm(attn, values.float()) * scale.float()


def applies(projected: Tensor, embedding: Tensor, keys: Tensor, values: Tensor) -> bool:
    """True where :func:`attend` runs the kernel: CPU tensors, float32 or bf16 projected queries
    and keys, float32 embeddings and values, no gradient recorded."""
    tensors = (projected, embedding, keys, values)
    return (projected.device.type == "cpu" and projected.dtype in KERNEL_DTYPES
            and keys.dtype in KERNEL_DTYPES and embedding.dtype == values.dtype == torch.float32
            and not (torch.is_grad_enabled() and any(t.requires_grad for t in tensors))
            and cpu_kernel() is not None)


def attend(projected: Tensor, embedding: Tensor, keys: Tensor, values: Tensor, pad_mask: Tensor,
           scale: Tensor) -> tuple[Tensor, Tensor]:
    """:func:`attend_reference` by the C++ kernel where :func:`applies`."""
    if not applies(projected, embedding, keys, values):
        return attend_reference(projected, embedding, keys, values, pad_mask, scale)
    batch, w, dim = projected.shape
    length = keys.size(1)
    projected, embedding = projected.contiguous(), embedding.contiguous()
    keys, values = keys.contiguous(), values.contiguous()
    pads = pad_mask.contiguous().view(torch.uint8)  # (B, S) bytes
    factors = scale.reshape(batch).float().contiguous()  # (B,)
    attn = torch.empty(batch, w, length, dtype=torch.float32)
    context = torch.empty(batch, w, dim, dtype=torch.float32)
    kernel = getattr(cpu_kernel(), f"attend_{KERNEL_DTYPES[projected.dtype]}_{KERNEL_DTYPES[keys.dtype]}")
    kernel(ptr(projected), ptr(embedding), SQRT_HALF, ptr(keys), ptr(values), ptr(pads), ptr(factors),
           ptr(attn), ptr(context), batch, w, length, dim, threads_for(batch * w * length * dim))
    return attn, context
