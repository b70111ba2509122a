"""nmt.modules.conv_taps: the training taps product (taps written into the padded product's input)
against the unfused path (pad, concatenate, product), forward and backward."""

import pytest
import torch

from nmt.modules import conv_taps as ct
from nmt.modules.linear import MIN_ROWS
from nmt.modules.weight_norm import wn_conv1d

# (kernel, dilation, padding): centred, causal, even kernel, dilated causal, wide centred
CASES = [(3, 1, (1, 1)), (3, 1, (2, 0)), (4, 1, (1, 2)), (2, 4, (4, 0)), (3, 2, (4, 0)),
         (5, 1, (2, 2))]


@pytest.mark.parametrize("kernel, dilation, padding", CASES)
@pytest.mark.parametrize("input_dtype", [torch.float32, torch.bfloat16])
def test_the_taps_product_is_the_unfused_path(kernel, dilation, padding, input_dtype):
    """Same output and weight gradients bit for bit; the input's gradient summed in its own
    dtype in another order: equal in float32 to rounding, within a bf16 step in bf16."""
    torch.manual_seed(0)
    conv = wn_conv1d(32, 48, kernel, dropout=0.0, glu=True)
    x0 = torch.randn(MIN_ROWS // 17 + 1, 17, 32)  # just over MIN_ROWS rows
    results = []
    for fused in (False, True):
        x = x0.clone().requires_grad_()
        conv.zero_grad()
        owner = torch.nn.Module()
        with torch.autocast("cpu", dtype=torch.bfloat16):
            h = x.to(input_dtype) * 1
            if fused:
                y = ct.conv_product(owner, conv, h, padding, kernel, dilation)
            else:
                y = ct.taps_product(owner, conv, ct.conv_taps(h, padding, kernel, dilation))
        (y.float() ** 2).sum().backward()
        results.append((y.detach(), x.grad, *[p.grad.clone() for p in conv.parameters()]))
    (y_a, gx_a, *gw_a), (y_b, gx_b, *gw_b) = results
    assert torch.equal(y_a, y_b)
    assert all(torch.equal(a, b) for a, b in zip(gw_a, gw_b))
    tol = 1e-5 if input_dtype == torch.float32 else 2 ** -7
    torch.testing.assert_close(gx_b, gx_a, rtol=tol, atol=tol * float(gx_a.abs().max()))


def test_inference_and_small_products_take_the_unfused_path(monkeypatch):
    calls = []
    monkeypatch.setattr(ct._TapsProduct, "apply", lambda *a: calls.append(a) or None)
    conv = wn_conv1d(8, 16, 3, dropout=0.0, glu=True)
    big = torch.randn(MIN_ROWS // 8 + 1, 8, 8)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        with torch.no_grad():
            ct.conv_product(torch.nn.Module(), conv, big, (1, 1), 3)  # no gradients: inference
        ct.conv_product(torch.nn.Module(), conv, big[:4], (1, 1), 3)  # under MIN_ROWS
    ct.conv_product(torch.nn.Module(), conv, big, (1, 1), 3)  # float32
    assert not calls
    with torch.autocast("cpu", dtype=torch.bfloat16):
        ct.conv_product(torch.nn.Module(), conv, big, (1, 1), 3)
    assert len(calls) == 1
