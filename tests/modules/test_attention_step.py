"""nmt.modules.attention_step: a step's float32 attention by the C++ kernel against PyTorch's ops."""

import pytest
import torch

from nmt.modules import attention_step
from nmt.modules.attention_step import attend, attend_reference


def _kernel():
    if attention_step.cpu_kernel() is None:
        pytest.skip("no C++ compiler for the attention kernel")


@pytest.mark.parametrize("queries_dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("keys_dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("dim, length", [(256, 17), (40, 1), (19, 6)])
def test_the_kernel_is_the_reference(queries_dtype, keys_dtype, dim, length):
    """Lanes of 16 and a tail (D = 40, 19), one source position, pads on either side."""
    _kernel()
    torch.manual_seed(0)
    batch, w = 9, 5
    projected, embedding = (torch.randn(batch, w, dim) * 3).to(queries_dtype), torch.randn(batch, w, dim)
    keys, values = torch.randn(batch, length, dim).to(keys_dtype), torch.randn(batch, length, dim)
    pad_mask = torch.zeros(batch, length, dtype=torch.bool)
    if length > 2:
        pad_mask[1, :2] = True  # left-padded source
        pad_mask[2, length - 2:] = True  # right-padded
    scale = torch.rand(batch, 1, 1) + 0.5
    attn, context = attend(projected, embedding, keys, values, pad_mask, scale)
    ref_attn, ref_context = attend_reference(projected, embedding, keys, values, pad_mask, scale)
    assert attn.dtype == context.dtype == torch.float32
    torch.testing.assert_close(attn, ref_attn, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(context, ref_context, rtol=1e-5, atol=1e-5)
    assert (attn[pad_mask.unsqueeze(1).expand_as(attn)] == 0).all()


def test_gradients_and_other_dtypes_take_the_reference(monkeypatch):
    _kernel()
    calls = []
    monkeypatch.setattr(attention_step, "attend_reference",
                        lambda *a: calls.append(a) or (None, None))
    d, g, kv = torch.randn(2, 3, 8), torch.randn(2, 3, 8), torch.randn(2, 4, 8)
    pad, scale = torch.zeros(2, 4, dtype=torch.bool), torch.ones(2, 1, 1)
    attend(d.requires_grad_(), g, kv, kv, pad, scale)  # a gradient is recorded
    attend(d.detach().double(), g.double(), kv.double(), kv.double(), pad, scale)
    attend(d.detach(), g.bfloat16(), kv, kv, pad, scale)  # bf16 embeddings: not in the kernel
    assert len(calls) == 3
    attend(d.detach(), g, kv, kv, pad, scale)
    assert len(calls) == 3
