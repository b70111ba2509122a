"""The QRNN layer and stack: gates and pooling, masked convolution, zoneout, padding, steps."""

import pytest
import torch

from nmt.modules.forget_mult import forget_mult_reference
from nmt.modules.qrnn import QRNN, QRNNLayer, causal_windows


def layer(pooling="fo", k=2, D=4, H=5, seed=0, **kw):
    torch.manual_seed(seed)
    return QRNNLayer(D, H, k, pooling=pooling, **kw).eval()


def test_causal_windows_are_tap_major():
    x = torch.arange(6.0).view(1, 3, 2)  # steps (0,1), (2,3), (4,5)
    w = causal_windows(x, 2, 1, 0)
    assert w.tolist() == [[[0, 0, 0, 1], [0, 1, 2, 3], [2, 3, 4, 5]]]
    centred = causal_windows(x, 3, 1, 1)
    assert centred[0, 0].tolist() == [0, 0, 0, 1, 2, 3]
    assert causal_windows(x, 1, 0, 0) is x


@pytest.mark.parametrize("pooling", ["f", "fo", "ifo"])
def test_gates_and_pooling_as_in_the_paper(pooling):
    m = layer(pooling, k=3)
    x = torch.randn(2, 6, 4)
    bias = torch.randn(2, m.num_gates * 5)
    h, c = m(x, gate_bias=bias)
    # by hand: W ∗ X over the last three inputs, then the paper's equations 1-5
    xp = torch.cat([torch.zeros(2, 2, 4), x], dim=1)
    pre = torch.stack([m.conv(xp[:, t : t + 3].reshape(2, -1)) for t in range(6)], 1)
    pre = pre + bias[:, None]
    parts = pre.chunk(m.num_gates, dim=-1)
    z, f = parts[0].tanh(), parts[1].sigmoid()
    i = parts[3].sigmoid() if pooling == "ifo" else None
    want_c = forget_mult_reference(f, z, input_gate=i)
    want_h = want_c if pooling == "f" else parts[2].sigmoid() * want_c
    torch.testing.assert_close(c, want_c)
    torch.testing.assert_close(h, want_h)


@pytest.mark.parametrize("causal", [True, False])
def test_masked_convolution_sees_no_future(causal):
    m = layer(k=3, causal=causal)
    x = torch.randn(1, 8, 4)
    pre = m.conv(causal_windows(x, 3, *m.padding))
    y = x.clone()
    y[0, 5] += 1.0
    changed = (m.conv(causal_windows(y, 3, *m.padding)) - pre).abs().sum(-1)[0] > 0
    # causal: output t sees inputs t-2..t; centred: t-1..t+1
    expected = [5, 6, 7] if causal else [4, 5, 6]
    assert changed.nonzero().flatten().tolist() == expected


@pytest.mark.parametrize("pooling,k", [("f", 1), ("fo", 2), ("ifo", 3), ("fo", 4)])
def test_steps_equal_the_whole_sequence(pooling, k):
    m = layer(pooling, k=k, zoneout=0.3)  # eval: zoneout's expectation, the same in both paths
    x, bias = torch.randn(3, 7, 4), torch.randn(3, m.num_gates * 5)
    c0 = torch.randn(3, 5)
    h, c = m(x, c0=c0, gate_bias=bias)
    window, state = m.initial_window(3, x), c0
    assert window.shape == (3, k - 1, 4)
    for t in range(7):
        ht, state, window = m.step(x[:, t : t + 1], window, state, bias)
        torch.testing.assert_close(ht[:, 0], h[:, t], atol=1e-6, rtol=1e-5)
        torch.testing.assert_close(state, c[:, t], atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(window, x[:, 7 - (k - 1) :] if k > 1 else x[:, :0])
    with pytest.raises(RuntimeError, match="causal"):
        layer(causal=False).step(x[:, :1], window, state)


@pytest.mark.parametrize("causal", [True, False])
def test_padding_on_either_side_changes_nothing_real(causal):
    m = layer(k=3, causal=causal)
    x = torch.randn(2, 5, 4)
    alone = [m(x[b : b + 1, : n])[0][0] for b, n in enumerate((5, 3))]
    for left in (False, True):
        padded = torch.randn(2, 8, 4) * 100  # garbage at the pads
        mask = torch.zeros(2, 8, dtype=torch.bool)
        for b, n in enumerate((5, 3)):
            start = 8 - n if left else 0
            padded[b, start : start + n], mask[b, start : start + n] = x[b, :n], True
        h, c = m(padded, mask)
        for b, n in enumerate((5, 3)):
            start = 8 - n if left else 0
            torch.testing.assert_close(h[b, start : start + n], alone[b], atol=1e-6, rtol=1e-5)
            assert torch.all(h[b][~mask[b]] == 0)


def test_zoneout_sets_forget_gates_to_one_in_training_only():
    m = layer(zoneout=0.4)
    pre = torch.full((200, 3 * 5), -3.0)  # f = σ(-3) ≈ 0.047
    f_plain = torch.sigmoid(torch.tensor(-3.0))
    m.train()
    _, f, _, _ = m.gates(pre)
    ones = (f == 1).float().mean().item()
    assert 0.3 < ones < 0.5  # ≈ p of the gates zoned out
    torch.testing.assert_close(f[f != 1], f_plain.expand(int((f != 1).sum())))  # no rescaling
    m.eval()
    _, f, _, _ = m.gates(pre)
    torch.testing.assert_close(f, (1 - (1 - f_plain) * 0.6).expand_as(f))  # the expectation


def test_bad_layer_arguments():
    with pytest.raises(ValueError, match="pooling"):
        QRNNLayer(4, 5, pooling="fio")
    with pytest.raises(ValueError, match="zoneout"):
        QRNNLayer(4, 5, zoneout=1.0)


def stack(**kw):
    torch.manual_seed(0)
    return QRNN(4, 5, [3, 2, 2], **kw).eval()


def test_bidirectional_stack_directions_and_final_states():
    q = stack(bidirectional=True)
    x = torch.randn(1, 6, 4)
    out, finals = q(x)
    assert out.shape == (1, 6, 10) and [f.shape for f in finals] == [(1, 10)] * 3
    torch.testing.assert_close(finals[-1], torch.cat([out[0, -1, :5], out[0, 0, 5:]])[None])
    # in one layer, the forward half never looks ahead and the backward half never looks back
    torch.manual_seed(0)
    one = QRNN(4, 5, [3], bidirectional=True).eval()
    y = x.clone()
    y[0, 3] += 1.0
    changed = (one(y)[0] - one(x)[0]).abs()[0] > 0
    assert not changed[:3, :5].any() and changed[3:, :5].all(-1).any()
    assert not changed[4:, 5:].any() and changed[:4, 5:].any()


@pytest.mark.parametrize("dense", [False, True])
def test_bidirectional_stack_is_padding_invariant(dense):
    q = stack(bidirectional=True, dense=dense)
    x = torch.randn(2, 6, 4)
    lengths = (6, 2)
    alone = [q(x[b : b + 1, :n]) for b, n in enumerate(lengths)]
    for left in (False, True):
        padded, mask = torch.randn(2, 9, 4), torch.zeros(2, 9, dtype=torch.bool)
        for b, n in enumerate(lengths):
            s = 9 - n if left else 0
            padded[b, s : s + n], mask[b, s : s + n] = x[b, :n], True
        out, finals = q(padded, mask)
        for b, n in enumerate(lengths):
            s = 9 - n if left else 0
            torch.testing.assert_close(out[b, s : s + n], alone[b][0][0], atol=1e-6, rtol=1e-5)
            for got, want in zip(finals, alone[b][1]):
                torch.testing.assert_close(got[b], want[0], atol=1e-6, rtol=1e-5)


def test_dense_connections_concatenate_inputs():
    q = stack(dense=True, bidirectional=True)
    assert q.input_sizes == [4, 14, 24]
    assert [d[0].input_size for d in q.layers] == [4, 14, 24]
    assert stack().input_sizes == [4, 5, 5]
