"""Identity in the forward pass, gradient times a constant in the backward pass."""

from __future__ import annotations

import torch
from torch import Tensor


class GradMultiply(torch.autograd.Function):
    """``y = x``; ``∂L/∂x = scale · ∂L/∂y``.

    ConvS2S scales the gradient flowing into the encoder by 1/(2·#attention layers), since every
    attention layer of the decoder sends gradient into it (Gehring et al. 2017, §3.4).
    """

    @staticmethod
    def forward(ctx, x: Tensor, scale: float) -> Tensor:
        ctx.scale = scale
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad: Tensor):
        return grad * ctx.scale, None


def grad_multiply(x: Tensor, scale: float) -> Tensor:
    """Apply :class:`GradMultiply` (a no-op when ``scale == 1``)."""
    return x if scale == 1.0 else GradMultiply.apply(x, scale)
