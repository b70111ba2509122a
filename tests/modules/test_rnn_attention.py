"""Luong global attention against the paper's formulas written out naively."""

import pytest
import torch

from nmt.errors import NmtError
from nmt.modules.rnn_attention import GlobalAttention, attention_bias

B, T, S, HQ, HS = 3, 4, 6, 5, 7


def naive(att: GlobalAttention, query, source, pad_mask):
    """score -> masked softmax -> c_t -> tanh(W_c [c_t; h_t]), one (b, t) at a time."""
    out = torch.zeros(B, T, HQ, dtype=torch.float64)
    attn = torch.zeros(B, T, S, dtype=torch.float64)
    for b in range(B):
        for t in range(T):
            h = query[b, t]
            scores = []
            for s in range(S):
                hs = source[b, s]
                if att.score == "dot":
                    scores.append(h @ hs)
                elif att.score == "general":
                    scores.append(h @ (att.input_proj.weight.double().t() @ hs))
                else:
                    hidden = torch.tanh(att.query_proj.weight.double() @ h
                                        + att.query_proj.bias.double()
                                        + att.key_proj.weight.double() @ hs)
                    scores.append(att.v.weight.double()[0] @ hidden)
            scores = torch.stack(scores).masked_fill(pad_mask[b], float("-inf"))
            a = torch.softmax(scores, dim=0)
            c = (a.unsqueeze(1) * source[b]).sum(0)
            out[b, t] = torch.tanh(att.output_proj.weight.double() @ torch.cat([c, h]))
            attn[b, t] = a
    return out, attn


@pytest.mark.parametrize("score", ["dot", "general", "concat"])
def test_matches_the_formulas(score):
    torch.manual_seed(0)
    source_dim = HQ if score == "dot" else HS
    att = GlobalAttention(HQ, source_dim, score=score, attention_dim=3)
    query = torch.randn(B, T, HQ)
    source = torch.randn(B, S, source_dim)
    pad_mask = torch.zeros(B, S, dtype=torch.bool)
    pad_mask[1, 4:] = True
    pad_mask[2, 1:] = True
    keys, values = att.prepare(source)
    assert keys.is_contiguous() and keys.size(2) == S
    out, attn = att(query, keys, values, attention_bias(pad_mask))
    ref_out, ref_attn = naive(att, query.double(), source.double(), pad_mask)
    torch.testing.assert_close(out.double(), ref_out, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(attn.double(), ref_attn, atol=1e-6, rtol=1e-5)
    assert attn[1, :, 4:].eq(0).all() and attn[2, :, 1:].eq(0).all()
    torch.testing.assert_close(attn.sum(-1), torch.ones(B, T))


def test_steps_equal_all_at_once():
    torch.manual_seed(1)
    att = GlobalAttention(HQ, HS)
    query, source = torch.randn(B, T, HQ), torch.randn(B, S, HS)
    bias = attention_bias(torch.zeros(B, S, dtype=torch.bool))
    keys, values = att.prepare(source)
    full, attn = att(query, keys, values, bias)
    for t in range(T):
        step, step_attn = att(query[:, t : t + 1], keys, values, bias)
        torch.testing.assert_close(step, full[:, t : t + 1], atol=1e-6, rtol=0)
        torch.testing.assert_close(step_attn, attn[:, t : t + 1], atol=1e-6, rtol=0)


def test_bias_and_errors():
    mask = torch.tensor([[False, True], [False, False]])
    bias = attention_bias(mask)
    assert bias.shape == (2, 1, 2) and bias.dtype == torch.float32
    assert bias[0, 0, 1] == float("-inf") and bias[0, 0, 0] == 0 and bias[1].eq(0).all()
    with pytest.raises(NmtError, match="dot"):
        GlobalAttention(4, 8, score="dot")
    with pytest.raises(NmtError, match="unknown attention score"):
        GlobalAttention(4, 4, score="mlp")


@pytest.mark.parametrize("score", ["dot", "general", "concat"])
def test_rows_of_a_sentence_share_its_source(score):
    """w consecutive query rows per sentence over one copy of each source (beam search's layout)
    give what the same rows give over the source copied once per row."""
    torch.manual_seed(2)
    source_dim = HQ if score == "dot" else HS
    att = GlobalAttention(HQ, source_dim, score=score, attention_dim=3)
    w = 4
    query, source = torch.randn(B * w, 1, HQ), torch.randn(B, S, source_dim)
    pad_mask = torch.zeros(B, S, dtype=torch.bool)
    pad_mask[1, 3:] = True
    keys, values = att.prepare(source)
    out, attn = att(query, keys, values, attention_bias(pad_mask))
    rows = torch.arange(B).repeat_interleave(w)  # (B·w,) each row's sentence
    out_copied, attn_copied = att(query, keys[rows], values[rows], attention_bias(pad_mask[rows]))
    assert out.shape == (B * w, 1, HQ) and attn.shape == (B * w, 1, S)
    torch.testing.assert_close(out, out_copied, atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(attn, attn_copied, atol=1e-6, rtol=1e-5)
