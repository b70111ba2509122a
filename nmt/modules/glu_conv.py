"""Convolution + gated linear unit, the building block of ConvS2S (Gehring et al. 2017, §3.2)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from nmt.modules.conv_taps import cached_tap_major, conv_product, taps_product
from nmt.modules.dropout import Dropout
from nmt.modules.glu import glu_over_input
from nmt.modules.weight_norm import wn_conv1d


class GLUConv1d(nn.Module):
    """Dropout, then a weight-normalised convolution to 2·C channels, then a GLU.

    For a window of ``k`` inputs X the layer computes ``[A B] = W·X + b_w`` with
    ``W ∈ R^{2C × k·C_in}`` and returns ``v([A B]) = A ⊗ σ(B)`` (paper §3.2): the first half
    of the channels is the value, the second half the gate.

    ``causal=False`` (encoder) pads the time axis around each output: ``(k−1)//2`` zeros on the
    left and ``k//2`` on the right, centred for odd ``k`` and one step right-heavy for even ``k``
    (fairseq's convention). ``causal=True`` (decoder) pads ``k−1`` zeros on the left only, so output
    ``t`` sees inputs ``t−k+1 … t``; :meth:`step` computes the same output one step at a time from a
    window of the last ``k−1`` inputs.

    Shapes are batch-first and channels-last, ``(B, T, C)``, like the rest of the model.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, *,
                 causal: bool, dropout: float = 0.0):
        super().__init__()
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size = kernel_size
        self.causal = causal
        self.dropout = Dropout(dropout)
        self.conv = wn_conv1d(in_channels, 2 * out_channels, kernel_size, dropout=dropout, glu=True)
        k = kernel_size
        self.padding = (k - 1, 0) if causal else ((k - 1) // 2, k // 2)

    def forward(self, x: Tensor) -> Tensor:
        """(B, T, C_in) -> (B, T, C_out). The convolution is one matrix product over its k taps
        (``[A B]_t = W [x_{t−k+1}; …; x_t] + b``, causal; centred likewise), which runs faster
        than oneDNN's convolution and its (B, C, T) transposes, in training and in the encoder
        at translation time (docs/results.md); :meth:`forward_reference` is the convolution
        itself (an imported fairseq model's 1,000 Multi30k test translations are byte-identical
        either way)."""
        out = conv_product(self, self.conv, self.dropout(x), self.padding, self.kernel_size)
        return glu_over_input(out)  # (B, T, 2·C_out) -> (B, T, C_out); nothing else reads out

    def forward_reference(self, x: Tensor) -> Tensor:
        """:meth:`forward` as a convolution over (B, C_in, T)."""
        x = self.dropout(x).transpose(1, 2)  # (B, C_in, T)
        x = self.conv(F.pad(x, self.padding))  # (B, 2·C_out, T)
        return F.glu(x, dim=1).transpose(1, 2)  # (B, T, C_out)

    def initial_window(self, batch_size: int, like: Tensor) -> Tensor:
        """The zero window before the first step: (B, k−1, C_in), the causal left padding."""
        return like.new_zeros(batch_size, self.kernel_size - 1, self.in_channels)

    def step(self, x: Tensor, window: Tensor) -> tuple[Tensor, Tensor]:
        """One causal step: x (B, 1, C_in), window (B, k−1, C_in) -> (B, 1, C_out), new window."""
        if not self.causal:
            raise RuntimeError("step() needs a causal convolution")
        full = torch.cat([window, self.dropout(x)], dim=1)  # (B, k, C_in)
        flat = full.reshape(full.size(0), 1, -1)  # (B, 1, k·C_in), tap-major like the weight below
        out = taps_product(self, self.conv, flat)  # (B, 1, 2·C_out)
        return F.glu(out, dim=-1), full[:, 1:]

    def linearized_weight(self) -> Tensor:
        """The conv weight as a matrix (2·C_out, k·C_in) over a flattened (k, C_in) window: one
        matrix product per step is several times faster than a length-1 convolution. Cached while
        the weight is a plain tensor that has not changed (weight norm folded for inference)."""
        return cached_tap_major(self, self.conv)
