import math

import pytest
import torch

from nmt.modules.glu_conv import GLUConv1d
from nmt.modules.weight_norm import fold_weight_norm


def reference_conv_glu(x, weight, bias, left, right):
    """fairseq's formula: y[t, o] = b[o] + sum_k sum_c x_pad[t + k, c] W[k, c, o], then GLU.
    x (B, T, C_in); weight in fairseq layout (K, C_in, 2C)."""
    b, t, c = x.shape
    x_pad = torch.cat([x.new_zeros(b, left, c), x, x.new_zeros(b, right, c)], dim=1)
    k = weight.shape[0]
    y = bias.expand(b, t, -1).clone()
    for tap in range(k):
        y += x_pad[:, tap : tap + t] @ weight[tap]
    half = y.shape[-1] // 2
    return y[..., :half] * torch.sigmoid(y[..., half:])


@pytest.mark.parametrize("kernel", [1, 2, 3, 4, 5])
@pytest.mark.parametrize("causal", [False, True])
def test_padding_matches_reference(kernel, causal):
    torch.manual_seed(kernel)
    layer = GLUConv1d(6, 5, kernel, causal=causal).eval()
    with torch.no_grad():
        layer.conv.bias.normal_()
    x = torch.randn(2, 7, 6)
    weight = layer.conv.weight.detach().permute(2, 1, 0)  # (2C, C_in, K) -> (K, C_in, 2C)
    left, right = (kernel - 1, 0) if causal else ((kernel - 1) // 2, kernel // 2)
    expected = reference_conv_glu(x, weight, layer.conv.bias.detach(), left, right)
    torch.testing.assert_close(layer(x), expected, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("kernel", [1, 2, 3, 5])
def test_causal_steps_equal_full_sequence(kernel):
    torch.manual_seed(0)
    layer = GLUConv1d(4, 3, kernel, causal=True).eval()
    x = torch.randn(2, 6, 4)
    window = layer.initial_window(2, x)
    assert window.shape == (2, kernel - 1, 4)
    steps = []
    for t in range(6):
        out, window = layer.step(x[:, t : t + 1], window)
        steps.append(out)
    torch.testing.assert_close(torch.cat(steps, dim=1), layer(x), atol=1e-6, rtol=1e-6)


def test_causal_output_ignores_the_future():
    layer = GLUConv1d(4, 3, 3, causal=True).eval()
    x = torch.randn(1, 6, 4)
    y = x.clone()
    y[:, 4:] = torch.randn(1, 2, 4)
    torch.testing.assert_close(layer(x)[:, :4], layer(y)[:, :4])


def test_init_is_dropout_aware_for_a_glu():
    torch.manual_seed(0)
    layer = GLUConv1d(256, 256, 3, causal=False, dropout=0.2)
    expected = math.sqrt(4 * 0.8 / (3 * 256))
    assert layer.conv.weight.std().item() == pytest.approx(expected, rel=0.02)
    assert layer.conv.bias.abs().max().item() == 0.0
    # weight norm starts at g = ||v||, so the effective weight is the sampled one
    g = layer.conv.parametrizations.weight.original0
    v = layer.conv.parametrizations.weight.original1
    torch.testing.assert_close(g, v.norm(dim=(1, 2), keepdim=True))


@pytest.mark.parametrize("causal", [True, False])
@pytest.mark.parametrize("kernel", [1, 2, 3, 5])
def test_training_form_equals_the_convolution(kernel, causal):
    """forward is one matrix product over the taps; forward_reference (the convolution) gives
    the same values and gradients, in training and in evaluation."""
    torch.manual_seed(0)
    layer = GLUConv1d(6, 4, kernel, causal=causal).train()
    x = torch.randn(3, 9, 6, requires_grad=True)
    outputs = []
    for forward in (layer.forward, layer.forward_reference):
        y = forward(x)
        (y * torch.linspace(-1, 1, y.numel()).view_as(y)).sum().backward()
        outputs.append((y.detach(), [x.grad.clone()] + [p.grad.clone() for p in layer.parameters()]))
        x.grad = None
        layer.zero_grad()
    (y, grads), (y_ref, grads_ref) = outputs
    torch.testing.assert_close(y, y_ref, atol=1e-5, rtol=1e-5)
    for g, g_ref in zip(grads, grads_ref):
        torch.testing.assert_close(g, g_ref, atol=1e-5, rtol=1e-5)
    with torch.no_grad():
        torch.testing.assert_close(layer.eval()(x), layer.forward_reference(x), atol=1e-5, rtol=1e-5)


def test_autocast_keeps_one_bf16_tap_weight_and_a_float32_one_outside_it():
    """Under CPU autocast the tap-major weight is cached in bf16 (not cast on every call); outside
    it the float32 weight is used again, and both give the convolution."""
    torch.manual_seed(0)
    layer = fold_weight_norm(GLUConv1d(8, 6, 3, causal=True).eval())  # as for inference
    x = torch.randn(2, 5, 8)
    with torch.no_grad():
        expected = layer(x)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            first = layer(x)
            cached = layer._linear
            second = layer(x)
        assert cached.dtype == torch.bfloat16 and layer._linear is cached
        torch.testing.assert_close(first.float(), expected, atol=5e-2, rtol=5e-2)
        torch.testing.assert_close(second, first)
        assert layer(x).dtype == torch.float32 and layer._linear.dtype == torch.float32
        torch.testing.assert_close(layer(x), expected)
