"""The attention of ConvS2S, computed anew in every decoder layer (Gehring et al. 2017, §3.3)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from nmt.modules.attention_step import SQRT_HALF, attend
from nmt.modules.weight_norm import wn_linear

# Under autocast on the CPU, a sentence's attention products with fewer query rows than this run in
# float32: a beam step's (5 × 256)·(256 × S) per sentence took oneDNN's bf16 batched product 2-3x
# MKL's float32 time on an AMX host (docs/results.md). Training's rows (whole sentences) stay bf16.
FLOAT32_BELOW_ROWS = 16


@dataclass
class AttentionSource:
    """What multi-step attention reads from the source (an encoder's output).

    z:        (B, S, D) encoder outputs, 0 at source pads (the attention keys)
    ze:       (B, S, D) (z + e)·√½ with e the source embeddings (the attention values)
    pad_mask: (B, S) bool, True at source pads
    scale:    (B, 1, 1) :func:`source_length_scale` of pad_mask, made once here rather than in
              every decoder step (rows selected or joined carry theirs along)
    """

    z: Tensor
    ze: Tensor
    pad_mask: Tensor
    scale: Tensor | None = None

    def __post_init__(self):
        if self.scale is None:
            self.scale = source_length_scale(self.pad_mask)


def source_length_scale(pad_mask: Tensor) -> Tensor:
    """``n · rsqrt(n)`` (≈ √n) per sentence, n = its number of non-pad source tokens: (B, 1, 1).

    The conditional input is a sum over ``n`` vectors; scaling by ``n·sqrt(1/n)`` instead of
    averaging counteracts the change in variance (paper §3.4). Written as fairseq writes it.
    """
    n = (~pad_mask).sum(dim=1, keepdim=True).to(torch.float32).unsqueeze(-1)  # (B, 1, 1)
    return n * n.rsqrt()


class MultiStepAttention(nn.Module):
    """Dot-product attention from one decoder layer's state over the encoder outputs.

    With ``h_i`` the layer's GLU output at target step i, ``g_i`` the target embedding,
    ``z_j`` the encoder outputs and ``e_j`` the source embeddings (paper §3.3):

        d_i  = (W_d h_i + b_d + g_i) · √½
        a_ij = softmax_j(d_i · z_j)                 (−inf at source pads)
        c_i  = (Σ_j a_ij (z_j + e_j)) · n·sqrt(1/n)  (n non-pad source tokens; ``ze`` is (z+e)·√½)
        out  = (W_o c_i + b_o + h_i) · √½

    Both projections are weight-normalised Linears initialised with N(0, sqrt(1/n_in)).
    """

    def __init__(self, conv_channels: int, embed_dim: int):
        super().__init__()
        self.in_projection = wn_linear(conv_channels, embed_dim)
        self.out_projection = wn_linear(embed_dim, conv_channels)

    def forward(self, x: Tensor, target_embedding: Tensor, keys: Tensor, values: Tensor,
                pad_mask: Tensor, scale: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """x (R, T, C), target_embedding (R, T, D), keys z (B, S, D), values ze (B, S, D),
        pad_mask (B, S) True at pads, scale (B, 1, 1) from :func:`source_length_scale`.

        The R = B·w rows of x are w consecutive rows per sentence (a beam search's hypotheses,
        w = 1 in training): the rows of a sentence attend over its one copy of the source, so
        the encoder output is never copied per hypothesis.

        Returns the layer output (R, T, C) and the attention probabilities (R, T, S).
        """
        if scale is None:
            scale = source_length_scale(pad_mask)
        R, T, _ = x.shape
        B, S, D = keys.shape
        projected = self.in_projection(x)  # (R, T, D)
        in_float32 = (x.device.type == "cpu" and R * T // B < FLOAT32_BELOW_ROWS
                      and torch.is_autocast_enabled("cpu"))
        if in_float32:  # one C++ pass where it applies (attention_step.py); (B, w·T, S), (B, w·T, D)
            attn, context = attend(projected.reshape(B, -1, D), target_embedding.reshape(B, -1, D),
                                   keys, values, pad_mask, scale)
        else:
            d = ((projected + target_embedding) * SQRT_HALF).reshape(B, -1, D)  # (B, w·T, D)
            scores = torch.bmm(d, keys.transpose(1, 2))  # (B, w·T, S)
            scores = scores.float().masked_fill(pad_mask.unsqueeze(1), float("-inf"))
            attn = F.softmax(scores, dim=-1).to(d.dtype)  # (B, w·T, S)
            context = torch.bmm(attn, values) * scale.to(attn.dtype)  # (B, w·T, D)
        out = self.out_projection(context.reshape(R, T, D))  # (R, T, C)
        return (out + x) * SQRT_HALF, attn.reshape(R, T, S)
