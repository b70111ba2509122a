"""Float32 products at inference with the weight kept in MKL's packed layout.

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

# weight -> (its version when seen, its packed copy; None when seen once, False: never packed)
_SEEN: WeakIdKeyDictionary = WeakIdKeyDictionary()


def applies(x: Tensor, weight: Tensor, bias: Tensor | None, rows: int) -> bool:
    """True where :func:`packed_linear` gives ``F.linear``'s result: a float32 CPU product of at
    least ``MIN_ROWS`` rows that needs no gradient, outside autocast; up to ``MAX_ROWS`` rows,
    where it is the faster of the two."""
    return (_AVAILABLE and MIN_ROWS <= rows <= MAX_ROWS and x.device.type == "cpu"
            and x.dtype == torch.float32 and weight.dtype == torch.float32
            and not torch.is_autocast_enabled("cpu")
            and not (torch.is_grad_enabled() and (x.requires_grad or weight.requires_grad
                                                  or (bias is not None and bias.requires_grad))))


def packed_linear(x: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor | None:
    """``F.linear(x, weight, bias)`` through ``weight``'s packed copy, x (N, in) -> (N, out);
    None the first time ``weight`` is seen (or seen changed), and for a weight whose packed
    product was not ``F.linear``'s (:func:`_same_bits`): the caller then takes ``F.linear``."""
    # tensors made under inference_mode (a cached derived weight) keep no version counter; they
    # are replaced, not changed, when their source changes
    version = -1 if weight.is_inference() else weight._version
    seen = _SEEN.get(weight)
    if seen is None or seen[0] != version:
        _SEEN[weight] = (version, None)
        return None
    packed = seen[1]
    if packed is None:  # no gradient is recorded here (see applies): the weight is passed as it is
        packed = torch.ops.mkl._mkl_reorder_linear_weight(weight, _PACK_ROWS)
        packed = packed if _same_bits(packed, weight, bias) else False
        _SEEN[weight] = (version, packed)
    if packed is False:
        return None
    return _product(x, packed, weight, bias)


def _product(x: Tensor, packed: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
    """x (N, in) times the packed weight, plus bias: (N, out)."""
    return torch.ops.mkl._mkl_linear(x, packed, weight, bias, x.size(0))


def _same_bits(packed: Tensor, weight: Tensor, bias: Tensor | None) -> bool:
    """Whether the packed product equals ``F.linear`` at ``MIN_ROWS`` and ``MAX_ROWS`` rows of
    random input. MKL picks its kernels by CPU and shape: where it multiplies such rows otherwise
    packed than unpacked (another host, another MKL), the two differ in the last bits on random
    input, and the weight is never packed."""
    generator = torch.Generator().manual_seed(0)
    for rows in (MIN_ROWS, MAX_ROWS):
        x = torch.randn(rows, weight.size(1), generator=generator)
        if not torch.equal(_product(x, packed, weight, bias), F.linear(x, weight, bias)):
            return False
    return True
