"""Temporal convolutional network blocks (Bai, Kolter & Koltun 2018, *An Empirical Evaluation of
Generic Convolutional and Recurrent Networks for Sequence Modeling*, §3 and Figure 1).

The generic residual block at level ``i`` of a stack, with kernel ``k`` and dilation ``d = 2^i``::

    h = Dropout(ReLU(WN-DilatedConv_{k,d}(x)))           spatial dropout: whole channels
    h = Dropout(ReLU(WN-DilatedConv_{k,d}(h)))
    o = ReLU(h + x)                                       x through a 1x1 conv if widths differ

A dilated convolution with kernel ``k`` and dilation ``d`` reads the inputs ``t − (k−1)·d, …,
t − d, t`` (causal, the paper's decoder-style layer) or the same span centred on ``t`` (``causal``
False, for encoders: ``⌊(k−1)·d/2⌋`` inputs before ``t`` and ``⌈(k−1)·d/2⌉`` after, the extra one
on the right for an odd span, as :class:`nmt.modules.glu_conv.GLUConv1d` does for ``d = 1``).

**History and receptive field.** One convolution looks ``(k−1)·d`` positions back (causal), a block
two convolutions, so a block's *history* is ``2·(k−1)·d`` and a causal stack's is
``H = Σ_blocks 2·(k_i−1)·d_i``: output ``t`` depends on inputs ``t−H … t`` and on no earlier one.
We call ``H + 1`` (the number of positions read) the *receptive field*. The paper's
``(k−1)·d`` is the history of one convolution; the factor 2 counts the two per block. For a
centred stack the same ``H`` is split into a left part ``Σ 2·⌊(k_i−1)·d_i/2⌋`` and a right part.

**Incremental decoding.** A causal convolution's :meth:`DilatedConv1d.step` keeps a window of
exactly its last ``(k−1)·d`` inputs (the zeros of the left padding before the first step) and
computes one output as a matrix product over the ``k`` taps ``0, d, …, (k−1)·d`` of
``[window; x_t]``; a block keeps one window per convolution.

**Padding.** With a ``mask`` (B, T) bool (True at real positions), every convolution zeroes its
input at padded positions first, so a real position whose window reaches into the padding sees
what it would see at the edge of an unpadded sequence: padding on either side never changes the
real outputs of a centred stack. (Causal stacks over right-padded targets need no mask.)

**Initialisation**, as the authors' reference code (locuslab/TCN) writes it: convolution and 1x1
weights ~ N(0, 0.01), biases 0; weight normalisation (of the two dilated convolutions, not of the
1x1 one, as there) then starts from ``g = ‖v‖``, so the effective weight is the sampled one. (In
the reference code the old ``weight_norm`` hook overwrites that init of the dilated convolutions
with PyTorch's default; we apply it as written.) The small weights make each residual branch start
close to zero, each block close to ReLU(x). Dropout is the paper's spatial dropout (§3), where
the reference code uses element-wise dropout.

Shapes are batch-first and channels-last, ``(B, T, C)``, like the rest of the toolkit.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.parametrizations import weight_norm

from nmt.modules.conv_taps import cached_tap_major, conv_product, taps_product
from nmt.modules.linear import Linear

INIT_STD = 0.01  # the paper's N(0, 0.01) for convolution weights


def tcn_dilations(num_levels: int, cycle: int = 0) -> list[int]:
    """Dilation ``2^i`` at level ``i`` (``2^(i mod cycle)`` with a ``cycle``, WaveNet-style)."""
    return [2 ** (i % cycle if cycle else i) for i in range(num_levels)]


def conv_padding(kernel_size: int, dilation: int, causal: bool) -> tuple[int, int]:
    """Zeros (left, right) of the time axis that keep the length: the span is ``(k−1)·d``."""
    span = (kernel_size - 1) * dilation
    return (span, 0) if causal else (span // 2, span - span // 2)


class SpatialDropout(nn.Module):
    """Dropout of whole channels (the same channels at every time step of a sequence), the
    paper's "spatial dropout": :class:`torch.nn.Dropout1d` over (B, C, T), on (B, T, C) input."""

    def __init__(self, p: float = 0.0):
        super().__init__()
        self.dropout = nn.Dropout1d(p)

    def forward(self, x: Tensor) -> Tensor:
        if not self.training or self.dropout.p == 0:
            return x
        return self.dropout(x.transpose(1, 2)).transpose(1, 2)


class DilatedConv1d(nn.Module):
    """A weight-normalised dilated convolution, causal or centred, on (B, T, C) input."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, dilation: int = 1,
                 *, causal: bool):
        super().__init__()
        if kernel_size < 1 or dilation < 1:
            raise ValueError(f"need kernel_size >= 1 and dilation >= 1, got {kernel_size}, {dilation}")
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size, self.dilation, self.causal = kernel_size, dilation, causal
        self.padding = conv_padding(kernel_size, dilation, causal)
        conv = nn.Conv1d(in_channels, out_channels, kernel_size, dilation=dilation)
        nn.init.normal_(conv.weight, 0.0, INIT_STD)
        nn.init.zeros_(conv.bias)
        self.conv = weight_norm(conv, dim=0)

    @property
    def history(self) -> int:
        """How many positions before ``t`` output ``t`` reads (for causal convs): ``(k−1)·d``."""
        return (self.kernel_size - 1) * self.dilation

    def forward(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        """x (B, T, C_in), mask (B, T) True at real positions -> (B, T, C_out).

        The convolution as one matrix product over its taps, as :meth:`step` does:
        ``y_t = W [x_{t−(k−1)d}; …; x_{t−d}; x_t] + b`` (causal; centred: the same span around t).
        oneDNN's dilated bf16 convolution took three times its forward time in backward, and its
        (B, C, T) layout a transpose each way; :meth:`forward_reference` is the convolution."""
        if mask is not None:
            x = x.masked_fill(~mask.unsqueeze(-1), 0.0)
        return conv_product(self, self.conv, x, self.padding, self.kernel_size, self.dilation)

    def forward_reference(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        """:meth:`forward` as PyTorch's dilated convolution over (B, C_in, T)."""
        if mask is not None:
            x = x.masked_fill(~mask.unsqueeze(-1), 0.0)
        y = self.conv(F.pad(x.transpose(1, 2), self.padding))  # (B, C_out, T)
        return y.transpose(1, 2)

    def initial_window(self, batch_size: int, like: Tensor) -> Tensor:
        """The zero window before the first step: (B, (k−1)·d, C_in), the causal left padding."""
        return like.new_zeros(batch_size, self.history, self.in_channels)

    def step(self, x: Tensor, window: Tensor) -> tuple[Tensor, Tensor]:
        """One causal step: x (B, 1, C_in), window (B, (k−1)·d, C_in) of the previous inputs ->
        (B, 1, C_out) and the new window (the last (k−1)·d inputs, x included)."""
        if not self.causal:
            raise RuntimeError("step() needs a causal convolution")
        full = torch.cat([window, x], dim=1)  # (B, (k−1)·d + 1, C_in)
        taps = full[:, :: self.dilation]  # (B, k, C_in): t − (k−1)·d, …, t − d, t
        flat = taps.reshape(taps.size(0), 1, -1)  # (B, 1, k·C_in), tap-major
        out = taps_product(self, self.conv, flat)
        return out, full[:, 1:]

    def linearized_weight(self) -> Tensor:
        """The weight as a matrix (C_out, k·C_in) over a flattened (k, C_in) window; cached while
        the weight is a plain tensor that has not changed (weight norm folded for inference)."""
        return cached_tap_major(self, self.conv)


class TemporalBlock(nn.Module):
    """The generic TCN residual block (see the module docstring): two dilated convolutions with
    weight norm, ReLU and spatial dropout, and a residual through a 1x1 ``downsample`` convolution
    (a Linear over channels) when ``in_channels != out_channels``."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, dilation: int, *,
                 causal: bool, dropout: float = 0.0):
        super().__init__()
        self.conv1 = DilatedConv1d(in_channels, out_channels, kernel_size, dilation, causal=causal)
        self.conv2 = DilatedConv1d(out_channels, out_channels, kernel_size, dilation, causal=causal)
        self.dropout = SpatialDropout(dropout)
        self.downsample = None
        if in_channels != out_channels:
            self.downsample = Linear(in_channels, out_channels)
            nn.init.normal_(self.downsample.weight, 0.0, INIT_STD)
            nn.init.zeros_(self.downsample.bias)

    @property
    def history(self) -> int:
        """Positions before ``t`` that output ``t`` reads through both convolutions."""
        return self.conv1.history + self.conv2.history

    def forward(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        """x (B, T, C_in) -> (B, T, C_out); ``mask`` (B, T) True at real positions."""
        h = self.dropout(F.relu(self.conv1(x, mask)))
        h = self.dropout(F.relu(self.conv2(h, mask)))
        return F.relu(h + self._residual(x))

    def _residual(self, x: Tensor) -> Tensor:
        return x if self.downsample is None else self.downsample(x)

    def initial_windows(self, batch_size: int, like: Tensor) -> list[Tensor]:
        """[conv1's window (B, (k−1)·d, C_in), conv2's window (B, (k−1)·d, C_out)]."""
        return [self.conv1.initial_window(batch_size, like),
                self.conv2.initial_window(batch_size, like)]

    def step(self, x: Tensor, windows: list[Tensor]) -> tuple[Tensor, list[Tensor]]:
        """One causal step: x (B, 1, C_in), the two windows -> (B, 1, C_out), new windows."""
        h, w1 = self.conv1.step(x, windows[0])
        h, w2 = self.conv2.step(self.dropout(F.relu(h)), windows[1])
        return F.relu(self.dropout(F.relu(h)) + self._residual(x)), [w1, w2]


class TemporalConvNet(nn.Module):
    """A stack of :class:`TemporalBlock` s, block ``i`` of width ``channels[i]`` and dilation
    ``dilations[i]`` (default ``2^i``), as the paper's generic TCN."""

    def __init__(self, input_size: int, channels: list[int], kernel_sizes: list[int] | int, *,
                 causal: bool, dropout: float = 0.0, dilations: list[int] | None = None):
        super().__init__()
        n = len(channels)
        kernels = [kernel_sizes] * n if isinstance(kernel_sizes, int) else list(kernel_sizes)
        dilations = tcn_dilations(n) if dilations is None else list(dilations)
        if len(kernels) != n or len(dilations) != n:
            raise ValueError("need one kernel size and one dilation per block")
        widths = [input_size, *channels]
        self.blocks = nn.ModuleList(
            TemporalBlock(widths[i], widths[i + 1], kernels[i], dilations[i], causal=causal,
                          dropout=dropout) for i in range(n))
        self.causal = causal

    @property
    def history(self) -> int:
        """``Σ_blocks 2·(k_i−1)·d_i``: a causal output ``t`` reads inputs ``t − history … t``."""
        return sum(block.history for block in self.blocks)

    @property
    def receptive_field(self) -> int:
        """The number of input positions one output reads: ``history + 1``."""
        return self.history + 1

    @property
    def context(self) -> tuple[int, int]:
        """(positions before, positions after) ``t`` that output ``t`` reads."""
        convs = [c for b in self.blocks for c in (b.conv1, b.conv2)]
        return sum(c.padding[0] for c in convs), sum(c.padding[1] for c in convs)

    def forward(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        """x (B, T, C_in) -> (B, T, channels[-1]); ``mask`` (B, T) True at real positions."""
        for block in self.blocks:
            x = block(x, mask)
        return x

    def initial_windows(self, batch_size: int, like: Tensor) -> list[Tensor]:
        """Two windows per block, in order (see :meth:`TemporalBlock.initial_windows`)."""
        return [w for block in self.blocks for w in block.initial_windows(batch_size, like)]

    def step(self, x: Tensor, windows: list[Tensor]) -> tuple[Tensor, list[Tensor]]:
        """One causal step through every block: x (B, 1, C_in) -> (B, 1, C_out), new windows."""
        new: list[Tensor] = []
        for i, block in enumerate(self.blocks):
            x, ws = block.step(x, windows[2 * i : 2 * i + 2])
            new.extend(ws)
        return x, new
