"""Quasi-recurrent layers (Bradbury et al. 2017, §2): masked convolutions, then recurrent pooling.

A QRNN layer turns its input ``X`` (B, T, D) into candidate, forget, output (and input) gates with
one convolution over time of width ``k`` — one ``Linear`` over each window of ``k`` inputs producing
``G·H`` channels, laid out ``[Z | F | O | I]``::

    Z = tanh(W_z ∗ X),  F = σ(W_f ∗ X),  O = σ(W_o ∗ X),  I = σ(W_i ∗ X)        (paper eq. 1–2)

and pools them along time with :func:`nmt.modules.forget_mult.forget_mult`:

    f-pooling (G = 2):    h_t = c_t = f_t ⊙ c_{t−1} + (1 − f_t) ⊙ z_t                 (eq. 3)
    fo-pooling (G = 3):   c_t = f_t ⊙ c_{t−1} + (1 − f_t) ⊙ z_t,  h_t = o_t ⊙ c_t     (eq. 4)
    ifo-pooling (G = 4):  c_t = f_t ⊙ c_{t−1} + i_t ⊙ z_t,        h_t = o_t ⊙ c_t     (eq. 5)

The convolution is *masked* (causal, ``causal=True``): output ``t`` sees inputs ``t−k+1 … t``
(``k−1`` zeros on the left), so :meth:`QRNNLayer.step` can run it one step at a time from a
window of the last ``k−1`` inputs and ``c``. ``causal=False`` centres the window like ConvS2S
(``(k−1)//2`` inputs before, ``k//2`` after), the paper's "encoder convolutions were not masked".

Zoneout (§2.1) on the forget gate during training: ``F = 1 − dropout(1 − σ(W_f ∗ X))`` without the
usual 1/(1−p) rescaling, i.e. each ``f`` is set to 1 (the channel keeps its state) with
probability ``p``; in evaluation ``1 − f`` is scaled by ``1 − p``, its expectation (as the
Salesforce implementation does).

Padding: with a ``mask`` (B, T) bool (True at real steps) the layer zeroes padded inputs (so a
window reaching into the padding sees what it would see at the sequence edge), keeps the state
across padded steps and outputs zeros there; so padding never changes real outputs, on either
side of the sequence. A reversed direction runs the same layer on the time-flipped sequence.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from nmt.modules.dropout import Dropout
from nmt.modules.forget_mult import forget_mult
from nmt.modules.linear import Linear

POOLINGS = {"f": 2, "fo": 3, "ifo": 4}  # pooling -> number of gates G


def causal_windows(x: Tensor, k: int, left: int, right: int) -> Tensor:
    """Every window of ``k`` inputs as one vector: x (B, T, D) -> (B, T, k·D), tap-major (the
    oldest input first), with ``left`` zeros before the sequence and ``right`` after it."""
    if k == 1:
        return x
    x = F.pad(x, (0, 0, left, right))  # (B, left + T + right, D)
    T = x.size(1) - k + 1
    return torch.cat([x[:, j : j + T] for j in range(k)], dim=-1)


class QRNNLayer(nn.Module):
    """One QRNN layer; see the module docstring. ``gate_bias`` (B, G·H) is added to the
    convolution output at every step (the decoder's projection of the encoder's final state)."""

    def __init__(self, input_size: int, hidden_size: int, kernel_size: int = 2, *,
                 pooling: str = "fo", zoneout: float = 0.0, causal: bool = True):
        super().__init__()
        if pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {sorted(POOLINGS)}, got {pooling!r}")
        if kernel_size < 1 or not 0.0 <= zoneout < 1.0:
            raise ValueError("need kernel_size >= 1 and 0 <= zoneout < 1")
        self.input_size, self.hidden_size, self.kernel_size = input_size, hidden_size, kernel_size
        self.pooling, self.zoneout, self.causal = pooling, zoneout, causal
        self.num_gates = POOLINGS[pooling]
        self.conv = Linear(kernel_size * input_size, self.num_gates * hidden_size)
        k = kernel_size
        self.padding = (k - 1, 0) if causal else ((k - 1) // 2, k // 2)

    def extra_repr(self) -> str:
        return (f"{self.input_size}, {self.hidden_size}, kernel_size={self.kernel_size}, "
                f"pooling={self.pooling!r}, zoneout={self.zoneout}, causal={self.causal}")

    def gates(self, pre: Tensor) -> tuple[Tensor, Tensor, Tensor | None, Tensor | None]:
        """Pre-activations (…, G·H) -> z, f (zoneout applied), o or None, i or None (views of one
        sigmoid over ``[F | O | I]``: few ops, which is what a decoding step is bound by)."""
        H = self.hidden_size
        z_pre, gate_pre = pre.split([H, (self.num_gates - 1) * H], dim=-1)  # split: its backward is one cat
        z = torch.tanh(z_pre)
        f, *rest = torch.sigmoid(gate_pre).split(H, dim=-1)  # [F | O | I]
        o = rest[0] if self.num_gates > 2 else None
        i = rest[1] if self.num_gates > 3 else None
        if self.zoneout > 0:
            if self.training:
                keep = torch.empty_like(f).bernoulli_(1.0 - self.zoneout)
                f = 1 - (1 - f) * keep
            else:  # 1 − (1 − f)(1 − p)
                f = f.mul(1.0 - self.zoneout).add_(self.zoneout)
        return z, f, o, i

    def cells(self, x: Tensor, mask: Tensor | None = None, c0: Tensor | None = None,
              gate_bias: Tensor | None = None) -> tuple[Tensor, Tensor | None]:
        """x (B, T, D) -> the cell states c (B, T, H) and the output gate o (B, T, H) or None."""
        if mask is not None:
            x = x.masked_fill(~mask.unsqueeze(-1), 0.0)
        pre = self.conv(causal_windows(x, self.kernel_size, *self.padding))  # (B, T, G·H)
        if gate_bias is not None:
            pre = pre + gate_bias.unsqueeze(1)
        z, f, o, i = self.gates(pre)
        return forget_mult(f, z, c0, mask, input_gate=i), o

    def forward(self, x: Tensor, mask: Tensor | None = None, c0: Tensor | None = None,
                gate_bias: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """x (B, T, D) -> the outputs h (B, T, H), 0 at pads, and the cell states c (B, T, H)."""
        c, o = self.cells(x, mask, c0, gate_bias)
        h = c if o is None else o * c
        return (h if mask is None else h.masked_fill(~mask.unsqueeze(-1), 0.0)), c

    # -- incremental (causal layers only) -----------------------------------------------------

    def initial_window(self, batch_size: int, like: Tensor) -> Tensor:
        """The zero window before the first step: (B, k−1, D), the causal left padding."""
        return like.new_zeros(batch_size, self.kernel_size - 1, self.input_size)

    def step_cells(self, x: Tensor, window: Tensor, c: Tensor, gate_bias: Tensor | None = None
                   ) -> tuple[Tensor, Tensor | None, Tensor]:
        """One causal step: x (B, 1, D), window (B, k−1, D) of the previous inputs, c (B, H) ->
        the new c (B, H), o (B, H) or None, and the new window."""
        if not self.causal:
            raise RuntimeError("step() needs a causal (masked) convolution")
        full = torch.cat([window, x], dim=1)  # (B, k, D), oldest first like causal_windows
        pre = self.conv(full.reshape(full.size(0), -1))  # (B, G·H)
        if gate_bias is not None:
            pre = pre + gate_bias
        z, f, o, i = self.gates(pre)
        c = torch.lerp(z, c, f) if i is None else f * c + i * z  # lerp(z, c, f) = f c + (1 − f) z
        return c, o, full[:, 1:]

    def step(self, x: Tensor, window: Tensor, c: Tensor, gate_bias: Tensor | None = None
             ) -> tuple[Tensor, Tensor, Tensor]:
        """One causal step: -> h (B, 1, H), the new c (B, H) and the new window."""
        c, o, window = self.step_cells(x, window, c, gate_bias)
        h = c if o is None else o * c
        return h.unsqueeze(1), c, window


def flip_time(x: Tensor | None) -> Tensor | None:
    return None if x is None else x.flip(1)


def last_real_step(mask: Tensor | None, length: int, batch_size: int, device) -> Tensor:
    """Index of the last real step of each row (B,) long (the last step without a mask)."""
    if mask is None:
        return torch.full((batch_size,), length - 1, dtype=torch.long, device=device)
    steps = torch.arange(length, device=device).expand_as(mask)
    return steps.masked_fill(~mask, -1).amax(dim=1).clamp_min(0)


def at_steps(x: Tensor, index: Tensor) -> Tensor:
    """x (B, T, H), index (B,) -> x[b, index[b]] (B, H)."""
    return x.gather(1, index.view(-1, 1, 1).expand(-1, 1, x.size(-1))).squeeze(1)


class QRNN(nn.Module):
    """A stack of QRNN layers, optionally bidirectional and densely connected.

    ``bidirectional``: each layer has a forward and a backward direction of ``hidden_size`` units
    each (separate weights); the backward one runs on the time-flipped sequence, its causal
    convolution then looking at the following inputs; outputs are concatenated, ``2H`` wide.
    ``dense`` (DenseNet-style, paper §2.1 / §3.1): layer ``l`` reads the concatenation of the stack
    input and the outputs of all layers before it. ``dropout`` applies to each layer's output
    before the next layer reads it. ``kernel_sizes`` has one width per layer.

    :meth:`forward` returns the last layer's outputs (B, T, dirs·H) (0 at pads) and, per layer,
    its final hidden state (B, dirs·H): the forward direction's ``h`` at the last real step and
    the backward direction's at the first.
    """

    def __init__(self, input_size: int, hidden_size: int, kernel_sizes: list[int], *,
                 pooling: str = "fo", zoneout: float = 0.0, dropout: float = 0.0,
                 dense: bool = False, bidirectional: bool = False, causal: bool = True):
        super().__init__()
        self.directions = 2 if bidirectional else 1
        self.dense = dense
        self.dropout = Dropout(dropout)
        self.input_sizes = input_sizes(input_size, hidden_size * self.directions,
                                       len(kernel_sizes), dense)
        self.layers = nn.ModuleList(
            nn.ModuleList(QRNNLayer(d, hidden_size, k, pooling=pooling, zoneout=zoneout,
                                    causal=causal) for _ in range(self.directions))
            for d, k in zip(self.input_sizes, kernel_sizes))
        self.output_size = hidden_size * self.directions

    def forward(self, x: Tensor, mask: Tensor | None = None) -> tuple[Tensor, list[Tensor]]:
        """x (B, T, D), mask (B, T) bool True at real steps -> (B, T, dirs·H), finals."""
        B, T, _ = x.shape
        last = last_real_step(mask, T, B, x.device)
        first = None if self.directions == 1 else (T - 1 - last_real_step(flip_time(mask), T, B,
                                                                           x.device))
        finals: list[Tensor] = []
        for n, directions in enumerate(self.layers):
            h, _ = directions[0](x, mask)
            outs, fins = [h], [at_steps(h, last)]
            if self.directions == 2:
                hb = directions[1](flip_time(x), flip_time(mask))[0].flip(1)
                outs.append(hb)
                fins.append(at_steps(hb, first))
            h = torch.cat(outs, dim=-1) if len(outs) > 1 else h
            finals.append(torch.cat(fins, dim=-1) if len(fins) > 1 else fins[0])
            if n < len(self.layers) - 1:
                h = self.dropout(h)
                x = torch.cat([x, h], dim=-1) if self.dense else h
            else:
                x = h
        return x, finals


def input_sizes(input_size: int, output_size: int, num_layers: int, dense: bool) -> list[int]:
    """The input width of each layer of a stack whose layers output ``output_size`` each."""
    if dense:
        return [input_size + n * output_size for n in range(num_layers)]
    return [input_size] + [output_size] * (num_layers - 1)
