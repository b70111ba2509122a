import math

import torch
from torch.utils._python_dispatch import TorchDispatchMode

from nmt.modules import attention_step
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


class BmmDtypes(TorchDispatchMode):
    """Records the input dtype of every aten.bmm call (below autocast, so after its casts)."""

    def __init__(self):
        super().__init__()
        self.dtypes = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if func.overloadpacket is torch.ops.aten.bmm:
            self.dtypes.append(args[0].dtype)
        return func(*args, **(kwargs or {}))


def test_a_beam_step_under_autocast_attends_in_float32_and_training_rows_in_bf16():
    """Few query rows per sentence (a beam step): the attention products run in float32 under
    CPU autocast (by the C++ kernel where it is built); whole sentences (training) in bf16. Both agree with the float32 module."""
    torch.manual_seed(0)
    att = MultiStepAttention(conv_channels=8, embed_dim=8).eval()
    b, w, s = 3, 5, 7
    z, ze = torch.randn(b, s, 8), torch.randn(b, s, 8)
    pad_mask = torch.tensor([[False] * s, [True] * 2 + [False] * 5, [False] * 6 + [True]])
    for rows_per_sentence, dtype in ((w, torch.float32), (20, torch.bfloat16)):
        h, g = torch.randn(b * rows_per_sentence, 1, 8), torch.randn(b * rows_per_sentence, 1, 8)
        with torch.no_grad():
            expected_out, expected_attn = att(h, g, z, ze, pad_mask)
            with torch.autocast("cpu", dtype=torch.bfloat16), BmmDtypes() as seen:
                out, attn = att(h, g, z, ze, pad_mask)
        if dtype == torch.float32 and attention_step.cpu_kernel() is not None:
            assert seen.dtypes == []  # float32, in the C++ kernel (attention_step.py)
        else:
            assert seen.dtypes == [dtype, dtype]
        torch.testing.assert_close(attn.float(), expected_attn, atol=2e-2, rtol=2e-2)
        torch.testing.assert_close(out.float(), expected_out, atol=5e-2, rtol=5e-2)
