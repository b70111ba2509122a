"""Joining the rows of two batches whose sources differ in length (continuous batching,
:mod:`nmt.search.continuous`): each family's ``concat_encoder_out`` pads and stacks with this."""

from __future__ import annotations

import torch
from torch import Tensor


def cat_padded(tensors: list[Tensor], value: float | bool = 0, dim: int = 1) -> Tensor:
    """Tensors equal but for their batch dim 0 and source dim ``dim`` -> one tensor: each
    right-padded along ``dim`` to the longest with ``value``, then concatenated along dim 0."""
    width = max(t.size(dim) for t in tensors)
    padded = []
    for t in tensors:
        if t.size(dim) < width:
            shape = list(t.shape)
            shape[dim] = width - t.size(dim)
            t = torch.cat([t, t.new_full(shape, value)], dim=dim)
        padded.append(t)
    return torch.cat(padded, dim=0)
