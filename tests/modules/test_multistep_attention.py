import math

import torch

from nmt.modules.multistep_attention import MultiStepAttention, source_length_scale


def test_source_length_scale_is_n_over_sqrt_n():
    pad_mask = torch.tensor([[False] * 9, [True] * 5 + [False] * 4, [False] * 1 + [True] * 8])
    scale = source_length_scale(pad_mask)
    assert scale.shape == (3, 1, 1)
    torch.testing.assert_close(scale.flatten(), torch.tensor([3.0, 2.0, 1.0]))


def test_matches_the_paper_formula_with_padding():
    torch.manual_seed(0)
    att = MultiStepAttention(conv_channels=6, embed_dim=4).eval()
    b, t, s = 2, 3, 5
    h, g = torch.randn(b, t, 6), torch.randn(b, t, 4)
    z, ze = torch.randn(b, s, 4), torch.randn(b, s, 4)
    pad_mask = torch.tensor([[True, True, False, False, False], [False] * 5])
    out, attn = att(h, g, z, ze, pad_mask)

    half = math.sqrt(0.5)
    for i in range(b):
        real = ~pad_mask[i]
        n = real.sum().item()
        d = (att.in_projection(h[i]) + g[i]) * half  # (T, D)
        a = torch.softmax(d @ z[i][real].T, dim=-1)  # (T, n)
        c = (a @ ze[i][real]) * (n * math.sqrt(1 / n))
        expected = (att.out_projection(c) + h[i]) * half
        torch.testing.assert_close(out[i], expected, atol=1e-6, rtol=1e-5)
        torch.testing.assert_close(attn[i][:, real], a, atol=1e-6, rtol=1e-5)
        assert torch.all(attn[i][:, ~real] == 0)  # exactly 0 at source pads
    torch.testing.assert_close(attn.sum(-1), torch.ones(b, t))


def test_rows_of_a_sentence_share_its_encoder_row():
    """w consecutive decoder rows per sentence over one encoder row each (beam search's layout)
    give what the same rows give over the encoder output copied once per row."""
    torch.manual_seed(0)
    att = MultiStepAttention(conv_channels=6, embed_dim=4).eval()
    b, w, s = 3, 4, 5
    h, g = torch.randn(b * w, 1, 6), torch.randn(b * w, 1, 4)
    z, ze = torch.randn(b, s, 4), torch.randn(b, s, 4)
    pad_mask = torch.tensor([[True, False, False, False, False], [False] * 5, [False] * 3 + [True] * 2])
    out, attn = att(h, g, z, ze, pad_mask)
    rows = torch.arange(b).repeat_interleave(w)  # (b·w,) each row's sentence
    out_copied, attn_copied = att(h, g, z[rows], ze[rows], pad_mask[rows])
    assert out.shape == (b * w, 1, 6) and attn.shape == (b * w, 1, s)
    torch.testing.assert_close(out, out_copied, atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(attn, attn_copied, atol=1e-6, rtol=1e-5)
