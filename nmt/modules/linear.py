"""``y = x Wᵀ + b`` over many rows, with few distinct row counts for oneDNN's bf16 products.

On the CPU, PyTorch runs bf16 matrix products through oneDNN, which builds (JIT-compiles) a
kernel for every new shape and keeps a bounded number of them. A training batch's row count (its
tokens, padding included) changes from batch to batch. So every product paid for a new kernel:
on an AMX host the output layer's (≈4,000 × 256)·(256 × 9,808) gradient product took 31-36 ms
at a new row count against 18 ms at a repeated one (docs/results.md). Float32 goes through MKL,
which has no such cost.

:func:`linear` rounds the rows of such a product up to a multiple of ``ROW_BUCKET`` (zero rows
appended, the result cut back), so a training run sees a handful of row counts per weight. Only
large products are rounded (at least ``MIN_ROWS`` rows, at most 50% extra): a beam-search step's
few hundred rows recur from batch to batch anyway. The backward products see the same rounded
shapes. The padding rows only ever meet zeros, so the gradients are those of the plain product.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

ROW_BUCKET = 512
MIN_ROWS = 1024


def runs_in_onednn_bf16(x: Tensor) -> bool:
    """True where ``F.linear(x, ...)`` would be a oneDNN bf16 product: a CPU tensor in bf16, or
    under CPU autocast to bf16."""
    if x.device.type != "cpu":
        return False
    return x.dtype == torch.bfloat16 or (torch.is_autocast_enabled("cpu")
                                         and torch.get_autocast_dtype("cpu") == torch.bfloat16)


def bucketed_rows(rows: int) -> int:
    """``rows`` rounded up to a multiple of ``ROW_BUCKET``."""
    return -(-rows // ROW_BUCKET) * ROW_BUCKET


def linear(x: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """``F.linear(x, weight, bias)``: x (..., in) -> (..., out); a oneDNN bf16 product of at least
    ``MIN_ROWS`` rows runs over rows padded to a multiple of ``ROW_BUCKET``."""
    features = x.size(-1)
    rows = x.numel() // features if features else 0
    if rows < MIN_ROWS or not runs_in_onednn_bf16(x):
        return F.linear(x, weight, bias)
    padded = bucketed_rows(rows)
    if padded == rows:
        return F.linear(x, weight, bias)
    flat = x.reshape(rows, features)
    flat = torch.cat([flat, flat.new_zeros(padded - rows, features)])  # (P, in)
    return F.linear(flat, weight, bias)[:rows].view(*x.shape[:-1], -1)  # (P, out) -> (..., out)


class Linear(nn.Linear):
    """``nn.Linear`` whose product is :func:`linear` (same parameters, same state dict)."""

    def forward(self, x: Tensor) -> Tensor:
        return linear(x, self.weight, self.bias)
