"""The chunked top-k of beam search against one plain ``topk`` over (width × V)."""

import math

import pytest
import torch

from nmt.search.beam import _Live, _top_candidates


def live_rows(bsz, width, cum):
    tokens = torch.zeros(bsz * width, 1, dtype=torch.long)
    return _Live(sents=torch.arange(bsz), tokens=tokens, cum=cum, attn=None, width=width)


@pytest.mark.parametrize("vocab", [7, 1024, 3000, 9808])
@pytest.mark.parametrize("width, beam", [(1, 4), (4, 4), (5, 5)])
def test_chunked_top_k_equals_plain_top_k(vocab, width, beam):
    torch.manual_seed(vocab + width)
    bsz = 6
    lp = torch.log_softmax(torch.randn(bsz * width, vocab) * 3, dim=1)
    lp[0, : vocab // 2] = -math.inf  # whole chunks of −inf
    cum = torch.randn(bsz * width, 1) * 5 if width > 1 else torch.zeros(bsz, 0)
    k = min(2 * beam, width * vocab - 1)
    scores = lp + (cum if width > 1 else 0)
    top, index = scores.view(bsz, -1).topk(k, dim=1)
    cand = _top_candidates(lp.clone(), live_rows(bsz, width, cum), beam)
    torch.testing.assert_close(cand.scores, top, atol=0, rtol=0)
    finite = top.isfinite()  # which −inf entries come up among equals is arbitrary
    assert torch.equal(cand.tokens[finite], (index % vocab)[finite])
    rows = index // vocab + torch.arange(bsz).unsqueeze(1) * width
    assert torch.equal(cand.rows[finite], rows[finite])
    assert 0 <= int(cand.tokens.min()) and int(cand.tokens.max()) < vocab


def test_nan_is_minus_inf():
    torch.manual_seed(0)
    lp = torch.log_softmax(torch.randn(8, 5000), dim=1)
    best = lp.argmax(dim=1)
    nan_lp = lp.clone()
    nan_lp[torch.arange(8), best] = math.nan
    cand = _top_candidates(nan_lp, live_rows(2, 4, torch.zeros(8, 1)), beam=4)
    clean = lp.clone()
    clean[torch.arange(8), best] = -math.inf
    expected = _top_candidates(clean, live_rows(2, 4, torch.zeros(8, 1)), beam=4)
    assert torch.equal(cand.tokens, expected.tokens) and torch.equal(cand.rows, expected.rows)
    assert not torch.isnan(cand.scores).any()
