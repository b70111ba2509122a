import torch

from nmt.modules.grad_multiply import GradMultiply, grad_multiply


def test_identity_forward_scaled_backward():
    x = torch.randn(3, 4, requires_grad=True)
    y = GradMultiply.apply(x, 0.25)
    torch.testing.assert_close(y, x)
    weights = torch.randn(3, 4)
    (y * weights).sum().backward()
    torch.testing.assert_close(x.grad, 0.25 * weights)


def test_scale_one_is_a_no_op():
    x = torch.randn(2)
    assert grad_multiply(x, 1.0) is x


def test_gradcheck_double():
    x = torch.randn(2, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: GradMultiply.apply(t, 1.0) * 2, (x,))
