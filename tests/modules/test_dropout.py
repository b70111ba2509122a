"""nmt.modules.dropout against its references: torch.nn.functional.dropout for the kept share,
scale and gradient rule; keep_mask (PyTorch integer ops) for the C++ kernel's exact mask."""

import pytest
import torch
import torch.nn.functional as F

from nmt.modules import dropout as dropout_mod
from nmt.modules.dropout import Dropout, dropout, keep_mask

needs_kernel = pytest.mark.skipif(dropout_mod.cpu_kernel() is None, reason="no C++ compiler for the kernel")


@pytest.mark.parametrize("p", [0.1, 0.2, 0.5])
def test_the_kept_share_is_one_minus_p_like_the_reference(p):
    torch.manual_seed(0)
    n = 1_000_003  # not a multiple of the four lanes per word
    ours = keep_mask((n,), p, seed=12345).double().mean().item()
    through_dropout = dropout(torch.ones(n), p).ne(0).double().mean().item()
    reference = F.dropout(torch.ones(n, dtype=torch.float64), p).ne(0).double().mean().item()
    sd = (p * (1 - p) / n) ** 0.5
    for share in (ours, through_dropout, reference):
        assert abs(share - (1 - p)) < 5 * sd


def test_each_of_the_four_lanes_of_a_word_is_uniform_and_neighbours_are_independent():
    mask = keep_mask((400_000, 4), 0.5, seed=7).double()  # column j holds lane j of each word
    assert torch.allclose(mask.mean(0), torch.full((4,), 0.5, dtype=torch.float64), atol=0.004)
    both = (mask[:, 0] * mask[:, 1]).mean().item()  # lanes of one word
    across = (mask[:-1, 3] * mask[1:, 0]).mean().item()  # the last lane and the next word's first
    assert abs(both - 0.25) < 0.004 and abs(across - 0.25) < 0.004


@needs_kernel
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("n", [1, 3, 31, 32, 33, 100, 1001, 70_001])
def test_the_kernel_applies_exactly_the_reference_mask(dtype, n):
    """Sizes around the kernel's 32-element blocks and its threads (70,001 elements: two), and
    NaN where a dropped element must stay NaN (x · 0), as in x ⊙ m / (1 − p)."""
    torch.manual_seed(n)
    x = torch.randn(n).to(dtype)
    x[::7] = float("nan")
    seed = 0xDEADBEEFCAFEF00D  # above 2⁶³: the unsigned seed reaches both sides alike
    ours = dropout_mod._kernel_apply(x, 0.3, seed)
    reference = (x * keep_mask(x.shape, 0.3, seed)).mul_(1 / 0.7)
    assert ours.dtype == dtype
    assert torch.equal(ours.isnan(), reference.isnan())
    assert torch.equal(ours.nan_to_num(0.0), reference.nan_to_num(0.0))


@needs_kernel
@pytest.mark.parametrize("p", [1e-7, 0.999])
def test_the_kernel_agrees_at_the_ends_of_the_threshold_range(p):
    """p below 2⁻¹⁷ keeps every element (threshold 2¹⁵, outside int16); p near 1 drops nearly all."""
    x = torch.randn(1000)
    ours = dropout_mod._kernel_apply(x, p, 99)
    assert torch.equal(ours, (x * keep_mask(x.shape, p, 99)).mul_(1 / (1 - p)))
    if p < 1e-5:
        assert ours.ne(0).all()


@needs_kernel
def test_without_the_kernel_the_same_seed_gives_the_same_output(monkeypatch):
    x = torch.randn(5, 77, requires_grad=True)
    torch.manual_seed(4)
    with_kernel = dropout(x, 0.25)
    monkeypatch.setattr(dropout_mod, "cpu_kernel", lambda: None)
    torch.manual_seed(4)
    assert torch.equal(dropout(x, 0.25), with_kernel)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float64])
def test_kept_values_are_scaled_and_the_gradient_follows_the_mask(dtype):
    torch.manual_seed(2)
    x = torch.randn(8, 30, 64).to(dtype).requires_grad_()
    y = dropout(x, 0.25)
    kept = y.ne(0)
    assert y.dtype == dtype
    assert torch.equal(y[kept], x[kept] * (1 / 0.75))  # F.dropout scales by 1 / (1 - p) too
    y.sum().backward()
    assert torch.equal(x.grad, kept.to(dtype) * (1 / 0.75))


def test_a_strided_input_and_a_second_derivative():
    x = torch.randn(6, 40, dtype=torch.float32)[:, ::2].requires_grad_()  # not contiguous
    torch.manual_seed(5)
    y = dropout(x, 0.5)
    v = torch.ones_like(y, requires_grad=True)
    (g,) = torch.autograd.grad(y, x, grad_outputs=v, create_graph=True)
    assert torch.equal(g, y.ne(0).float() * 2)
    (gv,) = torch.autograd.grad(g.sum(), v)  # the backward is itself a dropout, differentiable
    assert torch.equal(gv, g)


def test_eval_p0_and_p1_behave_as_nn_dropout():
    x = torch.randn(5, 7)
    module = Dropout(0.3).eval()
    assert module(x) is x and dropout(x, 0.0) is x
    assert torch.equal(Dropout(1.0).train()(x), torch.zeros_like(x))
    with pytest.raises(ValueError):
        Dropout(1.5)
    assert repr(Dropout(0.3)) == "Dropout(p=0.3)"


def test_dropout_runs_under_the_profiler_recording_shapes():
    """The profiler records a Function's arguments through C++: the seed must fit an int64."""
    x = torch.randn(4, 70_000, requires_grad=True)
    with torch.profiler.profile(record_shapes=True):
        for _ in range(20):  # seeds of both signs
            dropout(x, 0.1).sum().backward()


def test_a_seed_gives_the_same_mask_and_the_next_call_another():
    x = torch.ones(3, 1001)
    torch.manual_seed(3)
    a = dropout(x, 0.2)
    torch.manual_seed(3)
    assert torch.equal(a, dropout(x, 0.2))
    assert not torch.equal(a, dropout(x, 0.2))
    assert not torch.equal(keep_mask((3, 1001), 0.2, 1), keep_mask((3, 1001), 0.2, 2))
