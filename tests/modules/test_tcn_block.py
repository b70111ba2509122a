"""TCN blocks: padding, dilation, history by perturbation, incremental steps, spatial dropout."""

import pytest
import torch
import torch.nn.functional as F

from nmt.modules.tcn_block import (
    DilatedConv1d,
    SpatialDropout,
    TemporalBlock,
    TemporalConvNet,
    conv_padding,
    tcn_dilations,
)
from nmt.modules.weight_norm import fold_weight_norm, is_weight_normed


def randomise_biases(module):
    with torch.no_grad():
        for name, p in module.named_parameters():
            if name.endswith("bias"):
                p.normal_(0, 0.1)
    return module


def randomise(module):
    """Every parameter ~ N(0, 0.5): the paper's small init attenuates a perturbation that crosses
    many layers below float32 resolution, which would hide a dependence."""
    with torch.no_grad():
        for p in module.parameters():
            p.normal_(0, 0.5)
    return module.double()


def test_dilations_and_padding():
    assert tcn_dilations(5) == [1, 2, 4, 8, 16]
    assert tcn_dilations(5, cycle=2) == [1, 2, 1, 2, 1]
    assert conv_padding(3, 4, causal=True) == (8, 0)
    assert conv_padding(3, 4, causal=False) == (4, 4)
    assert conv_padding(2, 1, causal=False) == (0, 1)  # odd span: the extra one on the right
    assert conv_padding(4, 2, causal=False) == (3, 3)


@pytest.mark.parametrize("causal", [True, False])
@pytest.mark.parametrize("k,d", [(3, 1), (3, 4), (2, 3), (1, 8)])
def test_dilated_conv_matches_direct_sum(causal, k, d):
    torch.manual_seed(0)
    conv = randomise_biases(DilatedConv1d(3, 5, k, d, causal=causal))
    x = torch.randn(2, 11, 3)
    y = conv(x)
    assert y.shape == (2, 11, 5)
    w, b = conv.conv.weight, conv.conv.bias  # (5, 3, k)
    left = conv.padding[0]
    for t in range(11):
        expect = b.clone()
        for j in range(k):
            src = t - left + j * d
            if 0 <= src < 11:
                expect = expect + w[:, :, j] @ x[1, src]
        torch.testing.assert_close(y[1, t], expect, atol=1e-5, rtol=1e-5)
    assert conv.history == (k - 1) * d


def test_weight_norm_and_init():
    torch.manual_seed(0)
    block = TemporalBlock(64, 96, 3, 2, causal=True)
    assert is_weight_normed(block.conv1.conv) and is_weight_normed(block.conv2.conv)
    assert not is_weight_normed(block.downsample)  # as the reference code: a plain 1x1 conv
    assert abs(block.downsample.weight.std().item() - 0.01) < 0.002
    assert abs(block.conv2.conv.weight.std().item() - 0.01) < 0.002  # the paper's N(0, 0.01)
    assert torch.all(block.conv1.conv.bias == 0)
    assert TemporalBlock(8, 8, 3, 1, causal=True).downsample is None  # 1x1 only when widths differ


def test_block_formula():
    torch.manual_seed(0)
    block = randomise_biases(TemporalBlock(4, 6, 2, 2, causal=True)).eval()
    x = torch.randn(2, 9, 4)
    h = F.relu(block.conv1(x))
    h = F.relu(block.conv2(h))
    torch.testing.assert_close(block(x), F.relu(h + block.downsample(x)))


def perturb_outputs(net, x, t, positions):
    """For each position p: did changing x[:, p] change output t?"""
    base = net(x)[:, t]
    changed = []
    for p in positions:
        x2 = x.clone()
        x2[:, p] += torch.randn_like(x2[:, p]) * 3
        changed.append(not torch.equal(net(x2)[:, t], base))
    return changed


def test_causal_stack_history_by_perturbation():
    torch.manual_seed(0)
    net = randomise(TemporalConvNet(3, [5, 5, 4], [3, 2, 3], causal=True)).eval()
    H = 2 * (2 * 1 + 1 * 2 + 2 * 4)  # Σ 2·(k−1)·d = 24
    assert net.history == H and net.receptive_field == H + 1 and net.context == (H, 0)
    with torch.no_grad():
        x, t = torch.randn(1, 40, 3, dtype=torch.float64), 30
        assert perturb_outputs(net, x, t, [t - H, t - H - 1, t + 1]) == [True, False, False]
        assert perturb_outputs(net, x, t, [t]) == [True]


def test_centred_stack_context_by_perturbation():
    torch.manual_seed(0)
    net = randomise(TemporalConvNet(3, [5, 5, 4], [3, 2, 3], causal=False,
                                    dilations=[1, 1, 4])).eval()
    left, right = net.context
    assert (left, right) == (2 * (1 + 0 + 4), 2 * (1 + 1 + 4))  # spans 2, 1, 8: floor / ceil
    assert left + right == net.history == 22
    with torch.no_grad():
        x, t = torch.randn(1, 50, 3, dtype=torch.float64), 20
        got = perturb_outputs(net, x, t, [t - left, t - left - 1, t + right, t + right + 1])
        assert got == [True, False, True, False]


def test_mask_makes_padding_invisible():
    torch.manual_seed(0)
    net = randomise_biases(TemporalConvNet(3, [5, 4], 3, causal=False)).eval()
    with torch.no_grad():
        x = torch.randn(1, 6, 3)
        alone = net(x)
        for left, right in ((0, 4), (3, 0), (2, 5)):
            padded = F.pad(x, (0, 0, left, right), value=7.0)  # garbage in the padding
            mask = torch.zeros(1, left + 6 + right, dtype=torch.bool)
            mask[:, left : left + 6] = True
            out = net(padded, mask)[:, left : left + 6]
            torch.testing.assert_close(out, alone, atol=1e-6, rtol=1e-6)


@pytest.mark.parametrize("fold", [False, True])
def test_steps_equal_full_forward(fold):
    torch.manual_seed(0)
    net = randomise_biases(TemporalConvNet(3, [5, 5, 6], [3, 1, 2], causal=True,
                                           dilations=[1, 4, 2])).eval()
    if fold:
        fold_weight_norm(net)
    x = torch.randn(2, 13, 3)
    with torch.no_grad():
        full = net(x)
        windows = net.initial_windows(2, x)
        assert [w.shape[1] for w in windows] == [2, 2, 0, 0, 2, 2]  # (k−1)·d inputs per conv
        steps = []
        for t in range(13):
            y, new = net.step(x[:, t : t + 1], windows)
            assert all(a is not b for a, b in zip(new, windows, strict=True))
            windows = new
            steps.append(y)
    torch.testing.assert_close(torch.cat(steps, dim=1), full, atol=1e-5, rtol=1e-5)


def test_step_needs_causal():
    conv = DilatedConv1d(3, 3, 3, 2, causal=False)
    with pytest.raises(RuntimeError, match="causal"):
        conv.step(torch.zeros(1, 1, 3), torch.zeros(1, 4, 3))


def test_spatial_dropout_drops_whole_channels():
    torch.manual_seed(0)
    drop = SpatialDropout(0.5).train()
    y = drop(torch.ones(4, 10, 32))
    dropped = y == 0  # (B, T, C)
    assert dropped.any() and not dropped.all()
    assert torch.equal(dropped, dropped[:, :1].expand_as(dropped))  # same channels at every step
    assert set(y.unique().tolist()) <= {0.0, 2.0}
    assert torch.equal(drop.eval()(y), y)


@pytest.mark.parametrize("causal", [True, False])
@pytest.mark.parametrize("k, d", [(3, 1), (3, 4), (2, 8), (1, 1)])
def test_the_matrix_product_form_equals_the_convolution(causal, k, d):
    """forward (one matrix product over the taps) against forward_reference (nn.Conv1d), values
    and gradients, with a padding mask, in fp32 and under bf16 autocast."""
    from nmt.modules.tcn_block import DilatedConv1d

    torch.manual_seed(0)
    conv = DilatedConv1d(6, 5, k, d, causal=causal)
    x = torch.randn(3, 11, 6, requires_grad=True)
    mask = torch.ones(3, 11, dtype=torch.bool)
    mask[1, 8:] = False
    outputs = []
    for forward in (conv.forward, conv.forward_reference):
        y = forward(x, mask)
        (y * torch.linspace(-1, 1, y.numel()).view_as(y)).sum().backward()
        grads = [x.grad.clone()] + [p.grad.clone() for p in conv.parameters()]
        x.grad = None
        conv.zero_grad()
        outputs.append((y.detach(), grads))
    (y, grads), (y_ref, grads_ref) = outputs
    torch.testing.assert_close(y, y_ref, atol=1e-5, rtol=1e-5)
    for g, g_ref in zip(grads, grads_ref):
        torch.testing.assert_close(g, g_ref, atol=1e-5, rtol=1e-5)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        torch.testing.assert_close(conv(x, mask).float(), conv.forward_reference(x, mask).float(),
                                   atol=0.05, rtol=0.05)
