import math

import pytest
import torch

from nmt.modules.weight_norm import fold_weight_norm, is_weight_normed, wn_conv1d, wn_linear


def test_linear_init_and_weight_norm():
    torch.manual_seed(0)
    layer = wn_linear(400, 300, dropout=0.3)
    assert is_weight_normed(layer)
    assert layer.weight.std().item() == pytest.approx(math.sqrt(0.7 / 400), rel=0.02)
    assert layer.bias.abs().max().item() == 0.0
    g = layer.parametrizations.weight.original0
    v = layer.parametrizations.weight.original1
    assert g.shape == (300, 1)
    torch.testing.assert_close(layer.weight, g * v / v.norm(dim=1, keepdim=True))


def test_conv_weight_norm_is_per_output_channel():
    conv = wn_conv1d(5, 8, 3)
    g = conv.parametrizations.weight.original0
    assert g.shape == (8, 1, 1)
    with torch.no_grad():
        g.mul_(2.0)
    norms = conv.weight.norm(dim=(1, 2))
    torch.testing.assert_close(norms, g.flatten())


def test_fold_keeps_the_function():
    torch.manual_seed(0)
    model = torch.nn.Sequential(wn_linear(4, 6), torch.nn.ReLU(), wn_linear(6, 2))
    with torch.no_grad():
        for m in (model[0], model[2]):
            m.parametrizations.weight.original0.uniform_(0.5, 2)
            m.bias.normal_()
    x = torch.randn(3, 4)
    before = model(x)
    fold_weight_norm(model)
    assert not any(is_weight_normed(m) for m in model.modules())
    assert set(model.state_dict()) == {"0.weight", "0.bias", "2.weight", "2.bias"}
    torch.testing.assert_close(model(x), before)
