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

The bias of such a product rides in the product itself (:class:`_BiasColumnProduct`): a column of
ones appended to the input and the bias appended to the weight as a column. ``addmm`` would write
the bias into the whole (rows × out) result before the product and sum the whole gradient over
its rows after it: two extra passes over the largest tensor of a training step (the output
layer's logits, 80 MB in bf16), for a product 1/256 larger.

The backward pass needs the output's gradient over the same padded rows. Where that gradient
arrives in the product's own memory (the training loss writes it over the logits:
:mod:`nmt.training.loss`), the backward takes the product's padded buffer as it is; otherwise it
copies the gradient into a new one.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.weak import WeakIdKeyDictionary

from nmt.modules import packed_weights

ROW_BUCKET = 512
MIN_ROWS = 1024
K_ALIGN = 32  # bf16 AMX tiles take the inner dimension 32 at a time

_PRODUCTS: WeakIdKeyDictionary = WeakIdKeyDictionary()  # padded (P, out) product -> its N rows


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
    ``MIN_ROWS`` rows runs in bf16 over rows padded to a multiple of ``ROW_BUCKET``, and a product
    without gradients through a packed copy of the weight (:mod:`.packed_weights`: MKL's in
    float32, oneDNN's under autocast to bf16)."""
    features = x.size(-1)
    rows = x.numel() // features if features else 0
    kind = packed_weights.applies(x, weight, bias, rows)
    if kind is not None:
        flat = x if x.dim() == 2 else x.reshape(rows, features)  # (N, in)
        out = packed_weights.packed_linear(flat, weight, bias, kind)  # (N, out)
        if out is None:
            return F.linear(x, weight, bias)
        return out if x.dim() == 2 else out.view(*x.shape[:-1], -1)
    if rows < MIN_ROWS or not runs_in_onednn_bf16(x):
        return F.linear(x, weight, bias)
    flat = x.reshape(rows, features)  # (N, in)
    out = _BiasColumnProduct.apply(flat, weight, bias, bucketed_rows(rows))  # (N, out)
    return out.view(*x.shape[:-1], -1)


def _in_product(grad: Tensor, padded: int) -> Tensor | None:
    """The padded (P, out) product whose first N rows are ``grad``'s own memory (N, out), or None
    when the gradient lies elsewhere."""
    base = grad._base
    if (base is None or _PRODUCTS.get(base) != grad.size(0) or base.size(0) != padded
            or base.dtype != torch.bfloat16 or grad.dtype != base.dtype
            or grad.data_ptr() != base.data_ptr() or not grad.is_contiguous()):
        return None
    return base


def padded_input(rows: int, padded: int, d: int, bias: bool) -> Tensor:
    """The bf16 input of a padded product, (P, k), with all but its first N rows' first d columns
    written: ``[· 1 0]`` on the first N rows (the bias column and zeros up to k, with a bias),
    zero rows after N. The caller writes the (N, d) block."""
    k = d if not bias else -(-(d + 1) // K_ALIGN) * K_ALIGN
    xa = torch.empty(padded, k, dtype=torch.bfloat16)  # (P, k)
    if bias:
        xa[:rows, d] = 1
        xa[:rows, d + 1:] = 0
    xa[rows:] = 0
    return xa


def _as_matrix(m: Tensor) -> Tensor:
    return m


def padded_product(ctx, xa: Tensor, weight: Tensor, bias: Tensor | None, rows: int, d: int,
                   layout: Callable[[Tensor], Tensor] = _as_matrix) -> Tensor:
    """``xa [W b 0]ᵀ`` over the P rows of xa (:func:`padded_input`), saving on ``ctx`` what
    :func:`padded_product_backward` needs; the result's first N rows, (N, out) bf16.

    W (out, d) is ``weight`` as the matrix; ``layout`` gives a view of such a matrix in
    ``weight``'s own shape (a convolution weight's taps: :mod:`.conv_taps`), through which the
    weight is cast into W, and W's gradient back into the weight's shape, one copy each."""
    wa = torch.empty(weight.size(0), xa.size(1), dtype=torch.bfloat16)  # (out, k): [W b 0]
    layout(wa[:, :d]).copy_(weight)
    if bias is not None:
        wa[:, d] = bias
    wa[:, d + (bias is not None):] = 0
    ctx.save_for_backward(xa, wa)
    ctx.product_dtypes = weight.dtype, None if bias is None else bias.dtype
    ctx.width, ctx.layout = d, layout
    product = torch.mm(xa, wa.t())  # (P, out)
    _PRODUCTS[product] = rows
    return product[:rows]  # (N, out)


def padded_product_backward(ctx, grad: Tensor, input_grad: bool, weight_grad: bool):
    """From the output's gradient (N, out): ``∂xa = (G W)[:N]`` (N, d) bf16, ``[∂W ∂b] = Gᵀ xa``
    in the weight's and bias's dtypes, with G the gradient padded with zero rows; None for each
    gradient not asked for."""
    xa, wa = ctx.saved_tensors
    w_dtype, b_dtype = ctx.product_dtypes
    rows, d = grad.size(0), ctx.width
    g = _in_product(grad, xa.size(0))  # (P, out)
    if g is None:
        g = grad.new_empty(xa.size(0), grad.size(1), dtype=xa.dtype)
        g[:rows] = grad
    g[rows:] = 0  # the gradient of the padding rows
    grad_xa = grad_w = grad_b = None
    if input_grad:
        grad_xa = torch.mm(g, wa[:, :d])[:rows]  # (N, d)
    if weight_grad:
        grad_wa = torch.mm(g.t(), xa)  # (out, k): [∂W ∂b 0]
        grad_w = ctx.layout(grad_wa[:, :d]).to(w_dtype, memory_format=torch.contiguous_format)
        grad_b = None if b_dtype is None else grad_wa[:, d].to(b_dtype)
    return grad_xa, grad_w, grad_b


class _BiasColumnProduct(torch.autograd.Function):
    """``x Wᵀ + b = [x 1] [W b]ᵀ`` in bf16, over ``padded`` rows (zero rows after x's N).

    Forward: x (N, d), weight (out, d), bias (out,) or None -> (N, out) bf16, a view of the
    (padded, out) product. With a bias the inner dimension is d + 1 rounded up to ``K_ALIGN``
    (zeros beyond the bias column), without one it is d. Backward, with G the gradient padded
    with zero rows: ``∂x = (G W)[:N]``, ``[∂W ∂b] = Gᵀ [x 1]``; each in its input's dtype (the
    float32 master weights under autocast, as autocast's own casts give them).
    """

    @staticmethod
    def forward(ctx, x: Tensor, weight: Tensor, bias: Tensor | None, padded: int) -> Tensor:
        rows, d = x.shape
        xa = padded_input(rows, padded, d, bias is not None)  # (P, k): [x 1 0], zero rows after N
        xa[:rows, :d] = x
        ctx.x_dtype = x.dtype
        return padded_product(ctx, xa, weight, bias, rows, d)

    @staticmethod
    def backward(ctx, grad: Tensor):
        grad_x, grad_w, grad_b = padded_product_backward(
            ctx, grad, ctx.needs_input_grad[0], ctx.needs_input_grad[1] or ctx.needs_input_grad[2])
        return None if grad_x is None else grad_x.to(ctx.x_dtype), grad_w, grad_b, None


class Linear(nn.Linear):
    """``nn.Linear`` whose product is :func:`linear` (same parameters, same state dict)."""

    def forward(self, x: Tensor) -> Tensor:
        return linear(x, self.weight, self.bias)

    def rows(self, ids: Tensor) -> Linear:
        """The layer restricted to the output rows ``ids`` (a lexical shortlist's output layer), a
        weight of its own that needs no gradient; its outputs are this layer's at those rows."""
        narrowed = Linear(self.in_features, len(ids), bias=False, device="meta")  # no initialisation
        narrowed.weight = nn.Parameter(self.weight.detach().index_select(0, ids), requires_grad=False)
        narrowed.bias = None if self.bias is None else nn.Parameter(
            self.bias.detach().index_select(0, ids), requires_grad=False)
        return narrowed
