"""nmt.modules.log_softmax: the bf16 kernel against F.log_softmax of the same values in float32."""

import pytest
import torch
import torch.nn.functional as F

from nmt.modules import log_softmax as lsm
from nmt.modules.log_softmax import log_softmax_float32

needs_kernel = pytest.mark.skipif(lsm.cpu_kernel() is None, reason="no C++ compiler for the kernel")


@needs_kernel
@pytest.mark.parametrize("shape", [(1, 37), (5, 9808), (3, 4, 33), (600, 120)])
def test_bf16_rows_equal_the_float32_reference(shape):
    """V = 37 and 33: 16-lane blocks and a tail; 600 x 120 = 72,000 elements: two threads."""
    torch.manual_seed(sum(shape))
    logits = (torch.randn(shape) * 6).bfloat16()
    ours = log_softmax_float32(logits)
    reference = F.log_softmax(logits.float(), dim=-1)
    assert ours.dtype == torch.float32 and ours.shape == logits.shape
    assert torch.allclose(ours, reference, rtol=1e-6, atol=2e-5)


@needs_kernel
def test_a_strided_view_and_minus_infinity():
    wide = (torch.randn(4, 50) * 3).bfloat16()
    logits = wide[:, :40]  # row stride 50
    logits[1, 7] = float("-inf")  # e.g. a token a search forbids
    ours = log_softmax_float32(logits)
    reference = F.log_softmax(logits.float(), dim=-1)
    assert ours[1, 7] == float("-inf")
    finite = reference.isfinite()
    assert torch.allclose(ours[finite], reference[finite], rtol=1e-6, atol=2e-5)


def test_float32_and_gradients_take_pytorch():
    x = torch.randn(3, 11)
    assert torch.equal(log_softmax_float32(x), F.log_softmax(x, dim=-1))  # fairseq's numerics
    y = torch.randn(3, 11).bfloat16().requires_grad_()
    out = log_softmax_float32(y)
    out.sum().backward()
    assert y.grad is not None
    assert log_softmax_float32(torch.empty(0, 5).bfloat16()).shape == (0, 5)
