"""Rule 3 of beam search, the candidate ranking, in one C++ pass over the log-probs.

:func:`nmt.search.beam.top_candidates` ranks in PyTorch: a pass over the log-probs for each
strided chunk's best (``amax``), then two ``topk`` and the gathers between them, about thirty
operations a step. ``candidates.cpp`` (built on first use by :mod:`nmt.modules.native`) reads each
row once and keeps each sentence's ``k`` best as it goes: a score enters only above the k-th so
far, so nearly every element costs one compare. Alone, at 80 / 640 rows of 9,808 log-probs, the
PyTorch ranking took 0.38 / 1.84 ms and its ``amax`` pass alone 0.07 / 0.65 ms
(docs/results.md). The two give the same candidates and scores (the scores are the same float32
sums); among equal scores the kernel puts the lower (row, token) first, where ``topk`` leaves the
order open (``tests/search/test_candidates_kernel.py``).
"""

from __future__ import annotations

import ctypes
from pathlib import Path

import torch
from torch import Tensor

from nmt.modules.native import NativeKernel, ptr, threads_for


def _declare(lib) -> None:
    i64, p = ctypes.c_int64, ctypes.c_void_p
    lib.top_candidates_f32.argtypes = [p, i64, i64, p, i64, i64, i64, p, p, p, ctypes.c_int]


_KERNEL = NativeKernel(Path(__file__).with_name("candidates.cpp"), _declare,
                       "candidate-ranking CPU kernel")


def ranked_in_one_pass(lp: Tensor, cum: Tensor | None, bsz: int, width: int,
                       k: int) -> tuple[Tensor, Tensor, Tensor] | None:
    """The ``k`` best (score, token, row) of each sentence, (bsz, k) each, best first, from lp
    (R, V) float32 with R = bsz·width rows and ``cum`` (R, 1) or None; None where the kernel does
    not apply (not float32 on the CPU with unit stride along V) or cannot be built."""
    if (lp.device.type != "cpu" or lp.dtype != torch.float32 or lp.stride(1) != 1
            or (cum is not None and cum.dtype != torch.float32)):
        return None
    lib = _KERNEL.get()
    if lib is None:
        return None
    last = None if cum is None else cum.reshape(-1).contiguous()  # (R,)
    scores = torch.empty(bsz, k)
    tokens = torch.empty(bsz, k, dtype=torch.long)
    rows = torch.empty(bsz, k, dtype=torch.long)
    lib.top_candidates_f32(ptr(lp), lp.size(1), lp.stride(0), ptr(last), bsz, width, k,
                           ptr(scores), ptr(tokens), ptr(rows), threads_for(lp.numel()))
    return scores, tokens, rows
