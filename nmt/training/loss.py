"""Label-smoothed cross-entropy (Szegedy et al. 2016), summed over non-pad target tokens.

With smoothing ε over a vocabulary of V symbols, the target distribution q puts 1 − ε on the gold
symbol and ε/(V − 1) on every other one (fairseq's ``label_smoothed_cross_entropy``):

    loss = (1 − ε − ε/(V−1)) · nll + ε/(V−1) · Σ_v −log p(v)      (= cross-entropy(q, p))

Two implementations with the same values and gradients (checked in tests):
:func:`label_smoothed_nll_reference` is the formula in plain PyTorch; :func:`label_smoothed_nll`
is the fast path used in training. It never materialises log-probabilities: the forward pass keeps
only a log-sum-exp per row, and the backward pass writes ``(softmax − q) · grad`` straight into a
gradient of the logits' own dtype, in row chunks, so a bf16 model moves bf16 logits only.

The caller divides by the number of target tokens (summed over all accumulated batches and ranks)
so that gradients are per-token means however the work is split.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from nmt.data.dictionary import PAD_ID

CHUNK_ROWS = 32  # rows of (rows, V) float32 temporaries at a time


def label_smoothed_nll_reference(logits: Tensor, target: Tensor, epsilon: float,
                                 pad_id: int = PAD_ID) -> tuple[Tensor, Tensor]:
    """logits (B, T, V), target (B, T) -> (smoothed loss sum, nll sum), float32 scalars."""
    acc = torch.promote_types(logits.dtype, torch.float32)
    lprobs = F.log_softmax(logits.to(acc), dim=-1).view(-1, logits.size(-1))  # (N, V)
    target = target.reshape(-1)  # (N,)
    keep = target.ne(pad_id).to(lprobs.dtype)  # (N,)
    nll = -(lprobs.gather(1, target.unsqueeze(1)).squeeze(1) * keep).sum()
    eps_i = epsilon / (lprobs.size(-1) - 1)
    smooth = -(lprobs.sum(-1) * keep).sum()
    return (1.0 - epsilon - eps_i) * nll + eps_i * smooth, nll.detach()


class _SmoothedCrossEntropy(torch.autograd.Function):
    @staticmethod
    def forward(ctx, logits: Tensor, target: Tensor, epsilon: float, pad_id: int):
        n, v = logits.shape  # (N, V)
        eps_i = epsilon / (v - 1)
        keep = target.ne(pad_id)  # (N,)
        acc = torch.promote_types(logits.dtype, torch.float32)  # float32, or float64 for float64
        lse = torch.empty(n, dtype=acc, device=logits.device)
        nll = torch.zeros((), dtype=acc, device=logits.device)
        smooth = torch.zeros_like(nll)
        for lo in range(0, n, CHUNK_ROWS):
            x = logits[lo : lo + CHUNK_ROWS]  # (n_c, V), the logits' dtype
            t, k = target[lo : lo + CHUNK_ROWS], keep[lo : lo + CHUNK_ROWS]
            lp = torch.log_softmax(x, dim=-1, dtype=acc)  # (n_c, V), fused upcast
            lp_gold = lp.gather(1, t.unsqueeze(1)).squeeze(1)  # (n_c,)
            lse[lo : lo + CHUNK_ROWS] = x[:, 0].to(acc) - lp[:, 0]
            nll -= (lp_gold * k).sum()
            smooth -= (lp.sum(-1) * k).sum()
        ctx.save_for_backward(logits, target, lse, keep)  # lse only fixes the dtype below
        ctx.eps, ctx.eps_i = epsilon, eps_i
        loss = (1.0 - epsilon - eps_i) * nll + eps_i * smooth
        ctx.mark_non_differentiable(nll)
        return loss, nll

    @staticmethod
    def backward(ctx, grad_loss: Tensor, _grad_nll: Tensor):
        logits, target, lse, keep = ctx.saved_tensors
        grad = torch.empty_like(logits)
        rows = torch.arange(min(CHUNK_ROWS, logits.size(0)), device=logits.device)
        for lo in range(0, logits.size(0), CHUNK_ROWS):
            x = logits[lo : lo + CHUNK_ROWS]  # (n_c, V)
            n_c = x.size(0)
            g = torch.softmax(x, dim=-1, dtype=lse.dtype).sub_(ctx.eps_i)  # softmax − ε/(V−1)
            g[rows[:n_c], target[lo : lo + n_c]] -= 1.0 - ctx.eps - ctx.eps_i  # − (q_gold − ε/(V−1))
            g.mul_((grad_loss * keep[lo : lo + n_c]).unsqueeze(1))
            grad[lo : lo + n_c] = g
        return grad, None, None, None


def label_smoothed_nll(logits: Tensor, target: Tensor, epsilon: float,
                       pad_id: int = PAD_ID) -> tuple[Tensor, Tensor]:
    """logits (B, T, V), target (B, T) -> (smoothed loss sum, nll sum), float32 scalars."""
    v = logits.size(-1)
    return _SmoothedCrossEntropy.apply(logits.reshape(-1, v), target.reshape(-1), float(epsilon), pad_id)


def perplexity(nll_per_token: float) -> float:
    """exp of the mean per-token NLL in nats (inf instead of an overflow)."""
    return float(torch.tensor(nll_per_token).exp()) if nll_per_token < 700 else float("inf")
