"""Reordering the time steps of padded batches: reversing each row's real steps, gathering steps.

Used by encoders that read the source backwards (a bidirectional LSTM's backward direction, the
QRNN's and LSTM's ``reverse_source``, the Dilated RNN's backward sub-sequences) while keeping
padding where it is.
"""

from __future__ import annotations

import torch
from torch import Tensor


def prefix_mask(lens: Tensor, length: int) -> Tensor:
    """(B,) lengths -> (B, length) bool, True at the first ``lens[b]`` steps of row b."""
    return torch.arange(length, device=lens.device).unsqueeze(0) < lens.unsqueeze(1)


def reverse_real_steps(mask: Tensor) -> Tensor:
    """The index that reverses each row's real (contiguous) steps in place and leaves pads where
    they are: mask (B, S) bool, True at real steps -> (B, S) long. Its own inverse."""
    B, S = mask.shape
    pos = torch.arange(S, device=mask.device).expand(B, S)
    first = pos.masked_fill(~mask, S).amin(dim=1, keepdim=True)  # (B, 1)
    last = pos.masked_fill(~mask, -1).amax(dim=1, keepdim=True)  # (B, 1)
    return torch.where(mask, first + last - pos, pos)


def gather_steps(x: Tensor, index: Tensor) -> Tensor:
    """x (B, S, ...), index (B, S) -> out[b, i] = x[b, index[b, i]]."""
    return x.gather(1, index.view(*index.shape, *([1] * (x.dim() - 2))).expand_as(x))
