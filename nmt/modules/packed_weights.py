"""Products at inference with the weight kept packed: float32 in MKL's layout, bf16 in oneDNN's.

``F.linear`` in float32 on the CPU calls MKL's ``sgemm``, which copies the weight into its own
blocked layout (packs it) on every call: for a decoder step's few rows that copy is a large part
of the product. MKL can pack a matrix once (``cblas_sgemm_pack``) and multiply by the packed copy
(``cblas_sgemm_compute``); PyTorch exposes the pair as ``torch.ops.mkl._mkl_reorder_linear_weight``
and ``torch.ops.mkl._mkl_linear``. Measured on an Intel Xeon with AMX, 2 threads
(docs/results.md): the (60 × 256)·(256 × 9,808) output layer of a beam step 1.34 -> 1.03 ms, a
(60 × 768)·(768 × 512) convolution step 0.19 -> 0.16 ms.

Packing pays for small products, a search step's, up to ``MAX_ROWS`` rows: from 512 to 4,224 rows
(a big batch's encoder) the packed product took 0.97-1.18x the time of ``F.linear``. It gives the
same bits as ``F.linear`` from ``MIN_ROWS`` rows on; below that, MKL's ``sgemm`` takes another
kernel for small matrices, whose sums run in another order, so those products stay with
``F.linear`` (a test checks both sides of the boundary). On another CPU or MKL the boundary may lie
elsewhere, so each packed weight's product is compared with ``F.linear`` once, and a weight whose
bits differ is never packed. A weight is packed the second time it is seen unchanged (same tensor,
same version counter): parameters and cached derived weights are, a weight recomputed on every
call (weight norm while training) never is, and a weight changed in place is packed again. Only
products that need no gradient are packed.

Under CPU autocast to bf16, ``F.linear`` casts the weight (autocast keeps that copy) and calls
oneDNN's matrix product, which reorders the weight into its blocked layout on every call, and
``addmm`` first copies the bias into the whole output. oneDNN packs a weight once too
(``torch.ops.mkldnn._reorder_linear_weight``) and adds the bias inside the kernel
(``torch.ops.mkldnn._linear_pointwise``). On the Intel Xeon with AMX, 2 threads (docs/results.md):
the output layer (9,808 × 256) at 30 / 640 rows 0.34 -> 0.18 / 1.89 -> 1.19 ms, a convolution
step (512 × 768) at 80 rows 0.10 -> 0.05 ms, 1.5-2.2x from 1 to 1,280 rows. bf16 products are
packed from one row on, without an upper bound (3,000 rows: 1.0-2.0x). They are not always
autocast's bits: oneDNN picks its kernel by shape, and the convolution step at 256 or 320 rows
sums in another order packed than unpacked (a last-bit difference; at 1 and 16 rows, and for the
other weights, the same bits). So a packed bf16 weight is checked at 1, 16 and 256 rows to agree
with autocast's ``F.linear`` within one bf16 step of the largest output, not bit for bit.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.utils.weak import WeakIdKeyDictionary

MIN_ROWS = 16  # MKL's sgemm multiplies fewer rows with its small-matrix kernels
MAX_ROWS = 256  # beyond a few hundred rows the packed product was no faster, or slower
_PACK_ROWS = 64  # the row count MKL is told to pack for (any count then multiplies the same)
_AVAILABLE = torch.backends.mkl.is_available() and hasattr(torch.ops.mkl, "_mkl_linear")

BF16_CHECK_ROWS = (1, 16, 256)  # where a packed bf16 product is compared with F.linear's
_BF16_AVAILABLE = (torch.backends.mkldnn.is_available()
                   and hasattr(torch.ops.mkldnn, "_reorder_linear_weight")
                   and hasattr(torch.ops.mkldnn, "_linear_pointwise"))
_BF16_INPUTS = (torch.float32, torch.bfloat16)
FP32, BF16 = "fp32", "bf16"  # the two kinds of packed product

# per kind: weight -> (its version when seen, its packed copy; None when seen once, False: never
# packed)
_SEEN: dict[str, WeakIdKeyDictionary] = {FP32: WeakIdKeyDictionary(), BF16: WeakIdKeyDictionary()}


def applies(x: Tensor, weight: Tensor, bias: Tensor | None, rows: int) -> str | None:
    """The kind of packed product that gives ``F.linear``'s result here, or None. ``FP32``: a
    float32 CPU product of ``MIN_ROWS`` to ``MAX_ROWS`` rows outside autocast (where it is the
    faster of the two); ``BF16``: a CPU product under autocast to bf16, of float32 or bf16
    tensors. Either needs no gradient."""
    if x.device.type != "cpu" or rows < 1 or (torch.is_grad_enabled() and (
            x.requires_grad or weight.requires_grad or (bias is not None and bias.requires_grad))):
        return None
    if torch.is_autocast_enabled("cpu"):
        bf16 = (_BF16_AVAILABLE and torch.get_autocast_dtype("cpu") == torch.bfloat16
                and x.dtype in _BF16_INPUTS and weight.dtype in _BF16_INPUTS
                and (bias is None or bias.dtype in _BF16_INPUTS))
        return BF16 if bf16 else None
    fp32 = (_AVAILABLE and MIN_ROWS <= rows <= MAX_ROWS and x.dtype == torch.float32
            and weight.dtype == torch.float32)
    return FP32 if fp32 else None


def packed_linear(x: Tensor, weight: Tensor, bias: Tensor | None, kind: str = FP32) -> Tensor | None:
    """``F.linear(x, weight, bias)`` through ``weight``'s packed copy of ``kind``, x (N, in) ->
    (N, out); None the first time ``weight`` is seen (or seen changed), and for a weight whose
    packed product did not agree with ``F.linear`` (:func:`_agrees`): the caller then takes
    ``F.linear``."""
    # tensors made under inference_mode (a cached derived weight) keep no version counter; they
    # are replaced, not changed, when their source changes
    version = -1 if weight.is_inference() else weight._version
    seen = _SEEN[kind].get(weight)
    if seen is None or seen[0] != version:
        _SEEN[kind][weight] = (version, None)
        return None
    packed = seen[1]
    if packed is None:  # no gradient is recorded here (see applies): the weight is passed as it is
        try:
            packed = _pack(weight, bias, kind)
            packed = packed if _agrees(packed, weight, bias, kind) else False
        except RuntimeError:  # e.g. oneDNN's bf16 kernels need AVX-512 (BW, VL, DQ) or AVX-NE-CONVERT
            packed = False
        _SEEN[kind][weight] = (version, packed)
    if packed is False:
        return None
    return _product(x, packed, weight, bias, kind)


def _pack(weight: Tensor, bias: Tensor | None, kind: str):
    """The packed weight of ``kind`` (for ``BF16`` with the bias cast: (weight, bias))."""
    if kind == FP32:
        return torch.ops.mkl._mkl_reorder_linear_weight(weight, _PACK_ROWS)
    b16 = None if bias is None else bias.to(torch.bfloat16)
    return torch.ops.mkldnn._reorder_linear_weight(weight.to(torch.bfloat16), _PACK_ROWS), b16


def _product(x: Tensor, packed, weight: Tensor, bias: Tensor | None, kind: str = FP32) -> Tensor:
    """x (N, in) times the packed weight, plus bias: (N, out) (bf16 for ``BF16``)."""
    if kind == FP32:
        return torch.ops.mkl._mkl_linear(x, packed, weight, bias, x.size(0))
    w16, b16 = packed
    return torch.ops.mkldnn._linear_pointwise(x.to(torch.bfloat16), w16, b16, "none", [], "")


def _agrees(packed, weight: Tensor, bias: Tensor | None, kind: str = FP32) -> bool:
    """Whether the packed product is ``F.linear``'s on random input: in float32 bit for bit at
    ``MIN_ROWS`` and ``MAX_ROWS`` rows (MKL picks its kernels by CPU and shape: where it
    multiplies such rows otherwise packed than unpacked, on another host or MKL, the two differ in
    the last bits, and the weight is never packed); in bf16, at ``BF16_CHECK_ROWS`` under the
    caller's autocast, within one bf16 step (2⁻⁷ relative) of the largest output."""
    generator = torch.Generator().manual_seed(0)
    for rows in (MIN_ROWS, MAX_ROWS) if kind == FP32 else BF16_CHECK_ROWS:
        x = torch.randn(rows, weight.size(1), generator=generator)
        out, expected = _product(x, packed, weight, bias, kind), F.linear(x, weight, bias)
        if kind == FP32:
            if not torch.equal(out, expected):
                return False
        elif float((out.float() - expected.float()).abs().max()) > float(expected.abs().max()) * 2 ** -7:
            return False
    return True
