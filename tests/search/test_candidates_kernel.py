"""The candidate ranking's C++ pass (nmt.search.candidates) against its PyTorch reference
(nmt.search.beam.ranked_in_chunks): the same candidates and scores, bit for bit."""

import math

import pytest
import torch

from nmt.search import candidates
from nmt.search.beam import ranked_in_chunks, top_candidates

pytestmark = pytest.mark.skipif(candidates._KERNEL.get() is None,
                                reason="no C++ compiler: the PyTorch ranking is used")


def log_probs(rows: int, vocab: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.log_softmax(3 * torch.randn(rows, vocab, generator=g), dim=-1)


def both(lp, cum, bsz, width, k):
    fast = candidates.ranked_in_one_pass(lp, cum, bsz, width, k)
    assert fast is not None
    return fast, ranked_in_chunks(lp.clone(), cum, bsz, width, k)


@pytest.mark.parametrize("bsz, width, vocab", [(1, 1, 50), (3, 1, 9808), (4, 5, 9808),
                                               (16, 5, 9808), (2, 3, 40000), (5, 4, 17)])
@pytest.mark.parametrize("with_cum", [False, True])
def test_the_one_pass_ranking_is_the_reference(bsz, width, vocab, with_cum):
    k = min(10, width * vocab - 1)
    lp = log_probs(bsz * width, vocab, seed=bsz * vocab + width)
    cum = -10 * torch.rand(bsz * width, 1) if with_cum else None
    (scores, tokens, rows), ref = both(lp, cum, bsz, width, k)
    assert torch.equal(scores, ref.scores)
    assert torch.equal(tokens, ref.tokens) and torch.equal(rows, ref.rows)


def test_rules_nan_and_too_few_finite_scores():
    bsz, width, vocab, k = 2, 3, 64, 10
    lp = log_probs(bsz * width, vocab, seed=7)
    lp[:, 1] = -math.inf  # pad, as the step rules set it
    lp[0, 5] = math.nan  # counts as −inf
    lp[3:, :] = -math.inf  # the second sentence: only row 2 of 3 ...
    lp[5, :4] = torch.tensor([-0.5, -1.0, -2.0, -3.0])  # ... has 4 finite scores
    cum = torch.tensor([[-1.0], [-2.0], [-3.0], [-1.0], [-1.0], [-1.0]])
    (scores, tokens, rows), ref = both(lp, cum, bsz, width, k)
    assert torch.equal(scores[0], ref.scores[0]) and torch.equal(tokens[0], ref.tokens[0])
    assert not (tokens[0] == 5).logical_and(rows[0] == 0).any()  # the NaN never ranks
    assert scores[1, :4].tolist() == [-1.5, -2.0, -3.0, -4.0]
    assert tokens[1, :4].tolist() == [0, 1, 2, 3] and rows[1, :4].tolist() == [5, 5, 5, 5]
    assert scores[1, 4:].eq(-math.inf).all()  # −inf fills the rest, as in the reference
    assert ref.scores[1, 4:].eq(-math.inf).all()


def test_bf16_log_probs_full_of_ties_get_the_same_scores():
    """bf16 logits put many equal log-probs in a row: the two rankings may take different
    (row, token) among equal scores, never different scores."""
    bsz, width, vocab, k = 8, 5, 9808, 10
    logits = (3 * torch.randn(bsz * width, vocab, generator=torch.Generator().manual_seed(1)))
    lp = torch.log_softmax(logits.bfloat16().float(), dim=-1)
    cum = (-5 * torch.rand(bsz * width, 1)).bfloat16().float()
    (scores, tokens, rows), ref = both(lp, cum, bsz, width, k)
    assert torch.equal(scores, ref.scores)
    picked = lp[rows, tokens] + cum[rows].squeeze(-1)  # each candidate's own score
    assert torch.equal(picked, scores)


def test_equal_scores_rank_in_row_and_token_order():
    lp = torch.full((2, 8), -2.0)
    lp[1, 3] = lp[0, 6] = -1.0
    scores, tokens, rows = candidates.ranked_in_one_pass(lp, None, 1, 2, 4)
    assert scores.tolist() == [[-1.0, -1.0, -2.0, -2.0]]
    assert rows.tolist() == [[0, 1, 0, 0]] and tokens.tolist() == [[6, 3, 0, 1]]


def test_top_candidates_takes_the_pass_for_float32_on_the_cpu_only():
    lp = log_probs(10, 300, seed=3)
    cand = top_candidates(lp, None, 2, 5, 5)
    ref = ranked_in_chunks(lp.clone(), None, 2, 5, 10)
    assert torch.equal(cand.scores, ref.scores) and torch.equal(cand.tokens, ref.tokens)
    assert candidates.ranked_in_one_pass(lp.double(), None, 2, 5, 10) is None
    assert candidates.ranked_in_one_pass(lp.t().contiguous().t(), None, 2, 5, 10) is None


def test_greedy_row_best_is_max_with_nan_as_minus_inf_and_the_first_of_ties():
    """Greedy's pick (nmt.search.common.row_best) runs on the kernel; ``max`` over the rows with
    NaN taken as −inf is its reference: the same values, and among equal values the first id."""
    from nmt.search.common import row_best

    lp = log_probs(6, 9808, seed=3)
    lp[:, 1] = -math.inf
    lp[0, 17] = math.nan  # never chosen
    lp[1, [40, 9000]] = 0.5  # a tie at the top: the first wins
    lp[2, :] = -math.inf  # nothing allowed: −inf at id 0, as max gives
    lp[3, 0] = math.nan
    lp[4, :] = math.nan
    values, ids = row_best(lp.clone())
    ref_values, ref_ids = lp.nan_to_num(nan=-math.inf, neginf=-math.inf).max(dim=1)
    assert torch.equal(values, ref_values) and torch.equal(ids, ref_ids)
    assert ids[1] == 40 and ids[2] == 0 and ids[4] == 0
