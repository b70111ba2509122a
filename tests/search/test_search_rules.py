"""Greedy and beam search on fake models with hand-set probabilities (see search_fakes.py)."""

import math

import pytest
import torch
from search_fakes import A, B, C, D, E, RandomModel, TableModel, attention_position, source_batch

from nmt.data.dictionary import EOS_ID, PAD_ID, UNK_ID
from nmt.errors import NmtError
from nmt.search import SearchConfig, beam_search, greedy_search, search
from nmt.search.common import NEG_INF, force_prefix

ONE_SRC = source_batch([A], [4])


def run(model, cfg, src=ONE_SRC):
    return search(model, *src, cfg)


def best_tokens(result):
    return [h[0].tokens.tolist() for h in result]


def ngrams(tokens, n):
    return [tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1)]


# --- known winners -------------------------------------------------------------------------

def test_beam_finds_the_sequence_greedy_misses():
    table = {(): {A: 0.6, B: 0.4},
             (A,): {C: 0.34, D: 0.33, E: 0.33}, (A, C): {EOS_ID: 1.0},
             (B,): {C: 0.9}, (B, C): {EOS_ID: 1.0}}
    model = TableModel(table)
    greedy = run(model, SearchConfig(beam=1))[0][0]
    beam = run(model, SearchConfig(beam=2))[0][0]
    assert greedy.tokens.tolist() == [A, C, EOS_ID]
    assert beam.tokens.tolist() == [B, C, EOS_ID]
    assert beam.score == pytest.approx(math.log(0.4 * 0.9) / 3, abs=1e-6)
    assert greedy.score == pytest.approx(math.log(0.6 * 0.34) / 3, abs=1e-6)


LENGTH_TABLE = {(): {A: 0.55, B: 0.45}, (A,): {EOS_ID: 0.9},
                (B,): {C: 0.95}, (B, C): {D: 0.95}, (B, C, D): {EOS_ID: 0.95}}
SHORT, LONG = [A, EOS_ID], [B, C, D, EOS_ID]
SHORT_LOGP, LONG_LOGP = math.log(0.55 * 0.9), math.log(0.45 * 0.95**3)


@pytest.mark.parametrize("lenpen, winner", [(0.0, SHORT), (1.0, LONG)])
def test_length_penalty_changes_the_winner(lenpen, winner):
    # the short hypothesis finishes first; with lenpen 1 the one finished later must still win
    result = run(TableModel(LENGTH_TABLE), SearchConfig(beam=2, lenpen=lenpen))
    assert best_tokens(result) == [winner]


@pytest.mark.parametrize("lenpen", [0.0, 0.5, 1.0, 2.0])
def test_nbest_is_sorted_by_normalised_score(lenpen):
    result = run(TableModel(LENGTH_TABLE), SearchConfig(beam=2, nbest=2, lenpen=lenpen))[0]
    expected = sorted([(SHORT_LOGP / 2**lenpen, SHORT), (LONG_LOGP / 4**lenpen, LONG)],
                      reverse=True)
    assert [h.tokens.tolist() for h in result] == [t for _, t in expected]
    assert [h.score for h in result] == pytest.approx([s for s, _ in expected], abs=1e-6)
    for h in result:  # positional scores sum to the unnormalised score
        assert float(h.positional_scores.sum()) / len(h.tokens) ** lenpen == pytest.approx(
            h.score, abs=1e-6)


def test_nbest_top_equals_one_best():
    model = RandomModel()
    src = source_batch([A, B, C, D], [5, 3, 7, 2])
    for lenpen in (0.0, 1.0):
        one = run(model, SearchConfig(beam=4, nbest=1, lenpen=lenpen), src)
        four = run(model, SearchConfig(beam=4, nbest=4, lenpen=lenpen), src)
        assert best_tokens(one) == best_tokens(four)
        assert [h[0].score for h in one] == [h[0].score for h in four]
        assert all(len(h) == 4 for h in four)
        assert all(h[0].score >= h[1].score >= h[2].score >= h[3].score for h in four)


def test_best_finished_wins_not_the_first():
    table = {(): {A: 0.5, B: 0.45}, (A,): {EOS_ID: 0.1},
             (B,): {C: 0.9}, (B, C): {EOS_ID: 0.9}}
    result = run(TableModel(table), SearchConfig(beam=2, nbest=2, lenpen=0.0))[0]
    # [A, eos] finishes at step 1, [B, C, eos] at step 2 and is better even unnormalised
    assert [h.tokens.tolist() for h in result] == [[B, C, EOS_ID], [A, EOS_ID]]


def test_sentence_stops_after_beam_finished_as_fairseq():
    """fairseq's rule: once ``beam`` hypotheses have finished, the sentence is done, even if a
    live one could still end better (here [B, C, D, eos] with lenpen 1)."""
    table = {(): {A: 0.5, B: 0.4}, (A,): {EOS_ID: 0.6}, (B,): {EOS_ID: 0.6, C: 0.4},
             (B, C): {D: 1.0}, (B, C, D): {EOS_ID: 1.0}}
    result = run(TableModel(table), SearchConfig(beam=2, nbest=2))[0]
    assert [h.tokens.tolist() for h in result] == [[A, EOS_ID], [B, EOS_ID]]
    assert math.log(0.16) / 4 > result[0].score  # the better one that was never reached


# --- length limits -----------------------------------------------------------------------

@pytest.mark.parametrize("beam", [1, 3])
def test_min_len_blocks_early_eos(beam):
    model = TableModel({}, default={EOS_ID: 0.9, A: 0.05})
    assert best_tokens(run(model, SearchConfig(beam=beam)))[0] == [A, EOS_ID]
    result = run(model, SearchConfig(beam=beam, min_len=3))[0][0]
    assert result.tokens.tolist() == [A, A, A, EOS_ID]
    assert result.positional_scores[-1] == pytest.approx(math.log(0.9), abs=1e-5)


@pytest.mark.parametrize("beam", [1, 3])
def test_max_len_forces_eos(beam):
    model = TableModel({}, default={A: 0.9, EOS_ID: 1e-4})
    src = source_batch([A, B], [6, 3])  # padded width 6
    result = run(model, SearchConfig(beam=beam, max_len_b=3), src)
    assert best_tokens(result) == [[A, A, A, EOS_ID]] * 2
    assert result[0][0].positional_scores[-1] == pytest.approx(math.log(1e-4), abs=1e-5)
    # max_len_a uses the padded width of the batch, so both sentences get int(0.5·6 + 1) = 4
    result = run(model, SearchConfig(beam=beam, max_len_a=0.5, max_len_b=1), src)
    assert best_tokens(result) == [[A] * 4 + [EOS_ID]] * 2
    # and the model's target positions cap it: max_len = 3 − 1
    capped = TableModel({}, default={A: 0.9, EOS_ID: 1e-4}, max_target=3)
    assert best_tokens(run(capped, SearchConfig(beam=beam), src)) == [[A, A, EOS_ID]] * 2


def test_max_len_zero_gives_eos_only():
    model = TableModel({}, default={A: 0.9})
    for beam in (1, 2):
        assert best_tokens(run(model, SearchConfig(beam=beam, max_len_b=0))) == [[EOS_ID]]


# --- penalties and blocking --------------------------------------------------------------

@pytest.mark.parametrize("beam", [1, 3])
@pytest.mark.parametrize("n", [1, 2, 3])
def test_no_repeat_ngram_blocks_repeats(beam, n):
    decreasing = {tok: 0.5 ** (tok - 3) for tok in range(A, A + 12)}  # A .5, B .25, …
    decreasing[EOS_ID] = 1e-6
    model = TableModel({}, default=decreasing)
    plain = best_tokens(run(model, SearchConfig(beam=beam, max_len_b=10)))[0]
    assert plain == [A] * 10 + [EOS_ID]
    blocked = best_tokens(run(model, SearchConfig(beam=beam, max_len_b=10,
                                                  no_repeat_ngram_size=n)))[0]
    grams = ngrams(blocked[:-1], n)
    assert len(grams) == len(set(grams)), blocked
    assert len(blocked) == 11
    if beam == 1:
        assert blocked[:n] == [A] * n  # (beam search may return an equal-scoring permutation)


def test_no_repeat_ngram_example():
    decreasing = {tok: 0.5 ** (tok - 3) for tok in range(A, A + 12)}
    decreasing[EOS_ID] = 1e-6
    model = TableModel({}, default=decreasing)
    result = run(model, SearchConfig(beam=1, max_len_b=7, no_repeat_ngram_size=2))
    assert best_tokens(result) == [[A, A, B, A, C, A, D, EOS_ID]]


@pytest.mark.parametrize("beam", [1, 2])
def test_unkpen(beam):
    model = TableModel({(): {UNK_ID: 0.5, A: 0.4}, (UNK_ID,): {EOS_ID: 1.0},
                        (A,): {EOS_ID: 1.0}})
    plain = run(model, SearchConfig(beam=beam))[0][0]
    assert plain.tokens.tolist() == [UNK_ID, EOS_ID]
    assert plain.positional_scores[0] == pytest.approx(math.log(0.5), abs=1e-5)
    penalised = run(model, SearchConfig(beam=beam, unkpen=1.0))[0][0]
    assert penalised.tokens.tolist() == [A, EOS_ID]
    small = run(model, SearchConfig(beam=beam, unkpen=0.1))[0][0]  # log .5 − .1 > log .4
    assert small.tokens.tolist() == [UNK_ID, EOS_ID]
    assert small.positional_scores[0] == pytest.approx(math.log(0.5) - 0.1, abs=1e-5)


class NanModel(RandomModel):
    """RandomModel with NaN at token A (and at eos in every third sentence)."""

    def decode_step(self, prev_tokens, state, enc):
        lp, state = super().decode_step(prev_tokens, state, enc)
        lp[:, A] = math.nan
        lp[enc.src[:, -2] % 3 == 0, EOS_ID] = math.nan
        return lp, state


class MinusInfModel(RandomModel):
    def decode_step(self, prev_tokens, state, enc):
        lp, state = super().decode_step(prev_tokens, state, enc)
        lp[:, A] = -math.inf
        lp[enc.src[:, -2] % 3 == 0, EOS_ID] = -math.inf
        return lp, state


@pytest.mark.parametrize("beam", [1, 3])
def test_nan_counts_as_minus_inf(beam):
    cfg = SearchConfig(beam=beam, max_len_b=8)
    nan = run(NanModel(), cfg, RANDOM_SRC)
    assert best_tokens(nan) == best_tokens(run(MinusInfModel(), cfg, RANDOM_SRC))
    assert all(A not in tokens for tokens in best_tokens(nan))


# --- beam 1 = greedy, batches, stopping ----------------------------------------------------

RANDOM_SRC = source_batch([A, B, C, D, E, A + 6], [5, 3, 7, 2, 4, 6])


@pytest.mark.parametrize("options", [{}, {"lenpen": 0.0}, {"min_len": 3, "unkpen": 0.5},
                                     {"no_repeat_ngram_size": 2, "max_len_b": 6}])
def test_beam_one_equals_greedy(options):
    model = RandomModel()
    greedy = greedy_search(model, *RANDOM_SRC, SearchConfig(beam=1, **options))
    beam = beam_search(model, *RANDOM_SRC, SearchConfig(beam=1, **options))
    assert best_tokens(greedy) == best_tokens(beam)
    for g, b in zip(greedy, beam):
        assert g[0].score == pytest.approx(b[0].score, abs=1e-6)
        torch.testing.assert_close(g[0].positional_scores, b[0].positional_scores,
                                   atol=1e-5, rtol=0)
        torch.testing.assert_close(g[0].attention, b[0].attention)


@pytest.mark.parametrize("beam", [1, 3])
def test_batch_equals_one_sentence_at_a_time(beam):
    model = RandomModel()
    cfg = SearchConfig(beam=beam, nbest=beam)
    batch = run(model, cfg, RANDOM_SRC)
    src, lens = RANDOM_SRC
    for row in range(src.size(0)):
        single = run(model, cfg, (src[row:row + 1, -int(lens[row]):], lens[row:row + 1]))[0]
        assert [h.tokens.tolist() for h in single] == [h.tokens.tolist() for h in batch[row]]
        assert [h.score for h in single] == pytest.approx([h.score for h in batch[row]], abs=1e-6)
    right = run(model, cfg, source_batch([A, B, C, D, E, A + 6], [5, 3, 7, 2, 4, 6], False))
    assert best_tokens(right) == best_tokens(batch)


@pytest.mark.parametrize("beam", [1, 3])
def test_finished_sentences_leave_the_batch(beam):
    class Keyed(TableModel):  # sentence A ends at step 1 (all its beams), the others at max_len
        def probs(self, src_key, prefix):
            return self.table.get(prefix, {EOS_ID: 0.99}) if src_key == A else self.default

    model = Keyed({(): {A: 0.9}}, default={B: 0.9, EOS_ID: 1e-3})
    result = run(model, SearchConfig(beam=beam, nbest=1, max_len_b=6),
                 source_batch([A, B, C], [3, 3, 3]))
    assert best_tokens(result) == [[A, EOS_ID], [B] * 6 + [EOS_ID], [B] * 6 + [EOS_ID]]
    width = beam
    assert model.rows_seen[0] == 3  # step 0: one row per sentence
    assert model.rows_seen[1] == 3 * width
    assert set(model.rows_seen[-3:]) == {2 * width}  # sentence 0 is gone


@pytest.mark.parametrize("lenpen", [0.0, 0.3, 1.0, -0.5])
def test_early_stop_returns_the_same_nbest(lenpen):
    model = RandomModel()
    results, steps = [], []
    for early in (False, True):
        model.rows_seen = []
        cfg = SearchConfig(beam=4, nbest=2, lenpen=lenpen, early_stop=early, max_len_b=15)
        results.append(run(model, cfg, RANDOM_SRC))
        steps.append(sum(model.rows_seen))
    assert [[h.tokens.tolist() for h in n] for n in results[0]] == \
        [[h.tokens.tolist() for h in n] for n in results[1]]
    assert steps[1] <= steps[0]
    if lenpen == 0.0:
        assert steps[1] < steps[0]


def test_early_stop_needs_nonnegative_unkpen():
    with pytest.raises(NmtError, match="unkpen"):
        run(RandomModel(), SearchConfig(beam=2, early_stop=True, unkpen=-1.0))


# --- results ------------------------------------------------------------------------------

@pytest.mark.parametrize("beam", [1, 3])
def test_attention_follows_each_hypothesis(beam):
    src = RANDOM_SRC
    result = run(RandomModel(), SearchConfig(beam=beam, nbest=beam), src)
    for row, nbest in enumerate(result):
        n_real = int(src[1][row])
        for h in nbest:
            tokens = h.tokens.tolist()
            assert h.attention.shape == (len(tokens), n_real)
            expected = [attention_position(tuple(tokens[:i]), n_real) for i in range(len(tokens))]
            assert h.attention.argmax(dim=1).tolist() == expected


def test_no_attention_when_the_state_has_none():
    model = RandomModel(with_attention=False)
    for beam in (1, 2):
        assert all(h[0].attention is None for h in run(model, SearchConfig(beam=beam), RANDOM_SRC))


@pytest.mark.parametrize("beam", [1, 3])
def test_a_search_without_attention_finds_the_same_hypotheses(beam):
    model = RandomModel()
    kept = run(model, SearchConfig(beam=beam, nbest=beam), RANDOM_SRC)
    left_out = run(model, SearchConfig(beam=beam, nbest=beam, attention=False), RANDOM_SRC)
    assert all(h.attention is not None for nbest in kept for h in nbest)
    assert all(h.attention is None for nbest in left_out for h in nbest)
    for a, b in zip(kept, left_out):
        assert [h.tokens.tolist() for h in a] == [h.tokens.tolist() for h in b]
        assert [h.score for h in a] == [h.score for h in b]
        assert all(torch.equal(x.positional_scores, y.positional_scores) for x, y in zip(a, b))


def test_hypotheses_are_ordinary_tensors():
    for beam in (1, 2):
        h = run(RandomModel(), SearchConfig(beam=beam))[0][0]
        for t in (h.tokens, h.positional_scores, h.attention):
            assert not t.is_inference()
        assert h.tokens.dtype == torch.long and h.tokens[-1] == EOS_ID


def test_empty_batch():
    src = torch.zeros(0, 3, dtype=torch.long)
    for beam in (1, 2):
        assert run(RandomModel(), SearchConfig(beam=beam), (src, torch.zeros(0))) == []


@pytest.mark.parametrize("bad, message", [({"beam": 0}, "beam"), ({"beam": 2, "nbest": 3}, "nbest"),
                                          ({"min_len": -1}, "min_len"),
                                          ({"autocast_dtype": "int8"}, "autocast_dtype")])
def test_bad_config(bad, message):
    with pytest.raises(NmtError, match=message):
        run(RandomModel(), SearchConfig(**bad))


def test_beam_too_large_for_vocabulary():
    with pytest.raises(NmtError, match="too large"):
        run(RandomModel(), SearchConfig(beam=30))


def test_a_forced_prefix_token_keeps_its_own_log_prob_even_minus_inf():
    """The prefix rule keeps the wanted token's log-prob as it is: -inf (a token the other rules
    forbid) stays -inf and NaN becomes -inf; neither turns into a finite score."""
    lp = torch.log_softmax(torch.randn(3, 8), dim=-1)
    lp[0, 5] = NEG_INF
    lp[1, 6] = float("nan")
    expected = lp[2, 7].item()
    prefix = torch.tensor([[5], [6], [7]])
    force_prefix(lp, 0, 10, prefix)
    assert lp[0].max().item() == NEG_INF and lp[1].max().item() == NEG_INF
    assert lp[2, 7].item() == expected and torch.isinf(lp[2, :7]).all()
    untouched = torch.log_softmax(torch.randn(1, 8), dim=-1)
    assert torch.equal(force_prefix(untouched.clone(), 0, 10, torch.tensor([[PAD_ID]])), untouched)
