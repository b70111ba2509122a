"""Search over many batches (:func:`nmt.search.search_batches`): where the family can join a
running search, the next batch joins the last rows of the one before, and each batch still gets
its own greedy or beam result, over its own shortlist too; a family that cannot join runs the
batches one after another; sampling is reproducible with its seed."""

from dataclasses import replace

import pytest
import torch

from nmt.search import SearchConfig, search, search_batches, shortlist
from nmt.search.shortlist import ShortlistedModel
from tests.search.search_fakes import (
    A,
    B,
    C,
    D,
    E,
    F,
    JoiningRandomModel,
    RandomModel,
    source_batch,
)
from tests.search.test_continuous_search import model as joining  # noqa: F401  (fixture)
from tests.search.test_continuous_search import trim
from tests.search.test_convs2s_search import V, sources
from tests.search.test_convs2s_search import model as convs2s  # noqa: F401  (fixture)

CONFIGS = [SearchConfig(beam=1, max_len_b=15, min_len=0),
           SearchConfig(beam=1, lenpen=0.0, min_len=3, unkpen=0.5),
           SearchConfig(beam=1, max_len_a=1.0, max_len_b=2, min_len=0, no_repeat_ngram_size=2),
           SearchConfig(beam=1, max_len_b=12, min_len=0, attention=False),
           SearchConfig(beam=4, max_len_b=12), SearchConfig(beam=3, nbest=3, lenpen=0.0, min_len=2),
           SearchConfig(beam=5, nbest=2, max_len_a=1.0, max_len_b=1, no_repeat_ngram_size=2),
           SearchConfig(beam=4, nbest=2, early_stop=True, attention=False)]


def _batches(groups):
    """(key, src, lens, None) per group of source rows, each cut to its own longest."""
    src, lens = sources(left_pad=False)
    return [(key, trim(src[rows], int(lens[rows].max())), lens[rows], None)
            for key, rows in enumerate(groups)]


def _same(found, want):
    assert [h.tokens.tolist() for h in found] == [h.tokens.tolist() for h in want]
    assert [h.score for h in found] == pytest.approx([h.score for h in want], rel=1e-6, abs=1e-5)
    for h, w in zip(found, want):
        torch.testing.assert_close(h.positional_scores, w.positional_scores, rtol=1e-6, atol=1e-5)
        assert (h.attention is None) == (w.attention is None)
        if h.attention is not None:
            assert h.attention.shape == w.attention.shape
            torch.testing.assert_close(h.attention, w.attention, rtol=1e-6, atol=1e-6)


def _each_as_alone(model, batches, cfg):
    """search_batches' results, checked against each batch searched alone."""
    found = dict(search_batches(model, batches, cfg))
    assert sorted(found) == [key for key, *_ in batches]
    for key, src, lens, prefix in batches:
        want = search(model, src, lens, cfg, prefix)
        assert len(found[key]) == len(want)
        for hyps, w in zip(found[key], want):
            _same(hyps, w)
    return found


def _decoder_calls(model, batches, cfg) -> tuple[list[int], list[int]]:
    """The rows of each decoder call of a fake model: the batches searched one by one, then
    together by search_batches."""
    model.rows_seen.clear()
    for _, src, lens, prefix in batches:
        search(model, src, lens, cfg, prefix)
    alone = list(model.rows_seen)
    model.rows_seen.clear()
    dict(search_batches(model, batches, cfg))
    return alone, list(model.rows_seen)


@pytest.mark.parametrize("cfg", CONFIGS)
def test_each_batch_gets_its_own_result(joining, cfg):  # noqa: F811
    """The families that join (ConvS2S, LSTMs, Dilated RNN), on real decoder states."""
    _each_as_alone(joining, _batches([[0, 1, 2, 3], [4], [1, 3]]), cfg)


@pytest.mark.parametrize("cfg", CONFIGS)
def _shortlisted(model, batches, vocabularies) -> ShortlistedModel:
    through = ShortlistedModel(model)
    for (_, src, *_), ids in zip(batches, vocabularies):
        through.add(src, ids)
    return through


@pytest.mark.parametrize("cfg", CONFIGS)
def test_batches_over_their_own_shortlists_each_get_their_own_result(joining, cfg, monkeypatch):  # noqa: F811
    """Batches side by side, each over its own vocabulary (steps that carry rows of two
    batches pad the narrower one's logits with −inf), give each batch its result alone."""
    batches_per_step = []
    runs = shortlist._runs
    monkeypatch.setattr(shortlist, "_runs", lambda group: batches_per_step.append(
        len(found := runs(group))) or found)
    batches = _batches([[4], [0, 1, 2, 3], [1, 3]])  # the second joins the first at once
    g = torch.Generator().manual_seed(5)
    vocabularies = [torch.cat([torch.arange(4), 4 + torch.randperm(V - 4, generator=g)[:n].sort()[0]])
                    for n in (12, 30, 21)]  # specials first, then sorted target ids
    through = _shortlisted(joining, batches, vocabularies)
    found = dict(search_batches(through, batches, cfg))
    assert not through._groups  # every batch was encoded
    assert max(batches_per_step) == 2  # steps shared by two batches
    for batch, ids in zip(batches, vocabularies):
        want = search(_shortlisted(joining, [batch], [ids]), batch[1], batch[2], cfg)
        for hyps, w in zip(found[batch[0]], want):
            _same(hyps, w)
            assert all(int(t) < len(ids) for h in hyps for t in h.tokens)
    assert getattr(*joining.output_projections()[0]).__class__.__name__ != "_RowsOutput"


@pytest.mark.parametrize("cfg", CONFIGS)
def test_the_next_batch_joins_the_last_rows_of_the_one_before(cfg):
    model = JoiningRandomModel()
    keys = [[A, B, C, D, E], [F, A], [C, B, E]]
    batches = [(i, *source_batch(k, [3 + j % 4 for j in range(len(k))], left_pad=False), None)
               for i, k in enumerate(keys)]
    _each_as_alone(model, batches, cfg)
    alone, together = _decoder_calls(model, batches, cfg)
    assert together[0] == 5
    if cfg.max_len_a == 0:  # (with max_len = S + 1 a batch's sentences may all end at once)
        assert len(together) < len(alone)  # steps shared
    if cfg.beam > 1:  # a joining batch takes its first step alone, on one row per sentence
        assert 2 in together and 3 in together


def test_a_family_that_cannot_join_runs_the_batches_in_turn():
    model = RandomModel()
    cfg = SearchConfig(beam=1, max_len_b=10)
    keys = [[A, B, C, D], [E]]
    batches = [(i, *source_batch(k, [4] * len(k), left_pad=False), None) for i, k in enumerate(keys)]
    _each_as_alone(model, batches, cfg)
    alone, together = _decoder_calls(model, batches, cfg)
    assert together == alone  # the same decoder calls, batch after batch


def test_sampling_over_batches_is_reproducible_and_top1_is_greedy(convs2s):  # noqa: F811
    batches = _batches([[0, 1], [2, 3, 4]])
    cfg = SearchConfig(sampling=True, nbest=3, max_len_b=12, seed=7)
    first = dict(search_batches(convs2s, batches, cfg))
    again = dict(search_batches(convs2s, batches, cfg))
    other = dict(search_batches(convs2s, batches, replace(cfg, seed=8)))

    def tokens(found):
        return [[h.tokens.tolist() for h in hyps] for key in sorted(found) for hyps in found[key]]

    assert tokens(first) == tokens(again) and tokens(first) != tokens(other)
    assert all(len(hyps) == 3 for key in first for hyps in first[key])
    top1 = dict(search_batches(convs2s, batches, replace(cfg, topk=1)))
    greedy = dict(search_batches(convs2s, batches, SearchConfig(beam=1, max_len_b=12)))
    for key in greedy:
        for samples, (best,) in zip(top1[key], greedy[key]):
            assert all(s.tokens.tolist() == best.tokens.tolist() for s in samples)


@pytest.mark.parametrize("cfg", [SearchConfig(beam=1), SearchConfig(beam=3),
                                 SearchConfig(sampling=True, nbest=2)])
def test_a_batch_of_no_sentence_gets_an_empty_list(convs2s, cfg):  # noqa: F811
    src, lens = sources(left_pad=False)
    batches = [("empty", src[:0], lens[:0], None), ("two", src[:2], lens[:2], None)]
    found = dict(search_batches(convs2s, batches, cfg))
    assert found["empty"] == [] and len(found["two"]) == 2


@pytest.mark.parametrize("cfg", [SearchConfig(beam=1), SearchConfig(beam=3),
                                 SearchConfig(sampling=True, nbest=2)])
def test_each_batch_is_handed_over_outside_the_search_mode(convs2s, cfg):  # noqa: F811
    """Batches come one by one as they end (a progress bar moves), and the caller's code between
    them runs in its own grad mode with ordinary tensors."""
    src, lens = sources(left_pad=False)
    batches = [(0, src[:3], lens[:3], None), (1, src[3:], lens[3:], None)]
    for _, nbest_lists in search_batches(convs2s, batches, cfg):
        assert not torch.is_inference_mode_enabled() and torch.is_grad_enabled()
        assert not any(h.tokens.is_inference() for hyps in nbest_lists for h in hyps)
