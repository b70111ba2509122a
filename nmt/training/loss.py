"""Label-smoothed cross-entropy (Szegedy et al. 2016), summed over non-pad target tokens.

With smoothing ε over a vocabulary of V symbols, the target distribution puts 1 − ε on the gold
symbol and ε / (V − 1) on every other one (fairseq's ``label_smoothed_cross_entropy``):

    loss = (1 − ε − ε/(V−1)) · nll + ε/(V−1) · Σ_v −log p(v)

The caller divides by the number of target tokens (summed over all accumulated batches and ranks)
so that gradients are per-token means however the work is split.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from nmt.data.dictionary import PAD_ID


def label_smoothed_nll(logits: Tensor, target: Tensor, epsilon: float,
                       pad_id: int = PAD_ID) -> tuple[Tensor, Tensor]:
    """logits (B, T, V), target (B, T) -> (smoothed loss sum, nll sum), float32 scalars."""
    lprobs = F.log_softmax(logits.float(), dim=-1).view(-1, logits.size(-1))  # (B*T, V)
    target = target.reshape(-1)  # (B*T,)
    keep = target != pad_id
    lprobs, target = lprobs[keep], target[keep]
    nll = -lprobs.gather(1, target.unsqueeze(1)).sum()
    if epsilon == 0.0:
        return nll, nll.detach()
    eps_i = epsilon / (lprobs.size(-1) - 1)
    smooth = -lprobs.sum()
    loss = (1.0 - epsilon - eps_i) * nll + eps_i * smooth
    return loss, nll.detach()


def perplexity(nll_per_token: float) -> float:
    """exp of the mean per-token NLL in nats (inf instead of an overflow)."""
    return float(torch.tensor(nll_per_token).exp()) if nll_per_token < 700 else float("inf")
