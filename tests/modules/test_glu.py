"""nmt.modules.glu: the GLU whose backward pass writes the input's gradient over the input."""

import pytest
import torch
import torch.nn.functional as F

from nmt.modules import glu as glu_mod
from nmt.modules.glu import glu_backward_reference, glu_over_input


def _kernel():
    if glu_mod.cpu_kernel() is None:
        pytest.skip("no C++ compiler for the GLU kernel")


def _input_and_grad(dtype):
    """C = 41: two blocks of 16 lanes and a tail of 9; gates at 0, −0, ±90 (σ saturated)."""
    torch.manual_seed(0)
    x = torch.randn(37, 82, dtype=torch.float64) * 6
    x[0, 41:45] = torch.tensor([0.0, -90.0, 90.0, -0.0], dtype=torch.float64)
    g = torch.randn(37, 41, dtype=torch.float64)
    return x.to(dtype), g.to(dtype)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_the_kernel_gradient_equals_the_formula(dtype):
    _kernel()
    x, g = _input_and_grad(dtype)
    exact = glu_backward_reference(g.double(), x.double())  # float64
    leaf = x.clone().requires_grad_()
    y = leaf * 1  # a non-leaf, as a convolution's output is
    glu_over_input(y).backward(g)
    assert y._version > 0  # written over
    if dtype == torch.float32:
        torch.testing.assert_close(leaf.grad.double(), exact, rtol=1e-6, atol=1e-6)
    else:  # computed in float32 and rounded once: within one bf16 step of the exact value
        step = exact.abs().clamp_min(2 ** -126).log2().floor().exp2() * 2 ** -7
        # (where σ saturates, exp's argument is clamped at −87: gradients below 1e-37, not 0)
        assert ((leaf.grad.double() - exact).abs() <= step + 1e-37).all()


def test_without_gradients_and_for_other_layouts_it_is_torch_glu():
    _kernel()
    x, g = _input_and_grad(torch.float32)
    with torch.no_grad():
        assert torch.equal(glu_over_input(x), F.glu(x, dim=-1))
    wide = torch.randn(37, 90).requires_grad_()
    y = wide[:, :82]  # rows not contiguous: PyTorch's backward, nothing written over
    glu_over_input(y).backward(g)
    assert torch.equal(wide.grad[:, :82], glu_backward_reference(g, y.detach()))
    assert y._version == 0


def test_an_input_written_over_is_not_read_again():
    _kernel()
    x = torch.randn(8, 10, requires_grad=True)
    y = x * 2
    out = glu_over_input(y)
    other = (y * y).sum()  # saves y for its backward
    out.sum().backward()
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        other.backward()


def test_a_glu_convolution_passes_its_gradient_to_the_padded_product_without_a_copy():
    """GLUConv1d in bf16 training: the GLU's gradient lies in the product's own buffer."""
    _kernel()
    from nmt.modules.glu_conv import GLUConv1d
    from nmt.modules.linear import MIN_ROWS
    from tests.modules.test_linear import OpNames

    torch.manual_seed(1)
    layer = GLUConv1d(16, 24, 3, causal=True, dropout=0.0)
    x = torch.randn(MIN_ROWS // 8 + 5, 8, 16, requires_grad=True)  # over MIN_ROWS rows
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y = layer(x)
    with OpNames() as seen:
        y.float().square().sum().backward()
    rows = x.size(0) * x.size(1)
    assert ("copy_", (rows, 48)) not in seen.ops
    assert x.grad is not None and torch.isfinite(x.grad).all()
