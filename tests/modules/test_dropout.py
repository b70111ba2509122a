"""nmt.modules.dropout against its reference, torch.nn.functional.dropout: the same kept share and
scale, the same gradient rule, identity in eval, reproducible under a seed."""

import pytest
import torch
import torch.nn.functional as F

from nmt.modules.dropout import Dropout, dropout, keep_mask


@pytest.mark.parametrize("p", [0.1, 0.2, 0.5])
def test_the_kept_share_is_one_minus_p_like_the_reference(p):
    torch.manual_seed(0)
    n = 1_000_003  # not a multiple of the four lanes per draw
    ours = keep_mask((n,), p).double().mean().item()
    reference = F.dropout(torch.ones(n, dtype=torch.float64), p).ne(0).double().mean().item()
    sd = (p * (1 - p) / n) ** 0.5
    assert abs(ours - (1 - p)) < 5 * sd and abs(reference - (1 - p)) < 5 * sd


def test_each_of_the_four_lanes_of_a_draw_is_uniform():
    torch.manual_seed(1)
    mask = keep_mask((400_000, 4), 0.5).double()  # column j holds lane j of each draw
    assert torch.allclose(mask.mean(0), torch.full((4,), 0.5, dtype=torch.float64), atol=0.004)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_kept_values_are_scaled_and_the_gradient_follows_the_mask(dtype):
    torch.manual_seed(2)
    x = torch.randn(8, 30, 64).to(dtype).requires_grad_()
    y = dropout(x, 0.25)
    kept = y.ne(0)
    assert y.dtype == dtype
    assert torch.equal(y[kept], x[kept] * (1 / 0.75))  # F.dropout scales by 1 / (1 - p) too
    y.sum().backward()
    assert torch.equal(x.grad, kept.to(dtype) * (1 / 0.75))


def test_eval_p0_and_p1_behave_as_nn_dropout():
    x = torch.randn(5, 7)
    module = Dropout(0.3).eval()
    assert module(x) is x and dropout(x, 0.0) is x
    assert torch.equal(Dropout(1.0).train()(x), torch.zeros_like(x))
    with pytest.raises(ValueError):
        Dropout(1.5)
    assert repr(Dropout(0.3)) == "Dropout(p=0.3)"


def test_a_seed_gives_the_same_mask():
    torch.manual_seed(3)
    a = keep_mask((3, 1001), 0.2)
    torch.manual_seed(3)
    assert torch.equal(a, keep_mask((3, 1001), 0.2))
    assert not torch.equal(a, keep_mask((3, 1001), 0.2))
