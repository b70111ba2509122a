"""Target prefixes, ensembles, sampling and the lexical shortlist, on tiny models of every family."""

import dataclasses
import math

import pytest
import torch

from nmt import registry
from nmt.data.dictionary import PAD_ID
from nmt.search import Ensemble, SearchConfig, search
from nmt.search.sampling import candidates, draw, restrict
from nmt.search.shortlist import BoundShortlist, ShortlistedModel, to_narrowed
from tests.models.contract_helpers import random_batch, step_by_step
from tests.models.test_contract import PRESETS, V, tiny_model

pytestmark = pytest.mark.usefixtures("one_thread")

PREFIX = torch.tensor([[5, 6, 7], [8, PAD_ID, PAD_ID], [PAD_ID, PAD_ID, PAD_ID]])  # (B, P)
MODES = {"beam": SearchConfig(beam=4, max_len_b=9),
         "greedy": SearchConfig(beam=1, max_len_b=9),
         "sampling": SearchConfig(sampling=True, nbest=3, topp=0.9, max_len_b=9, seed=3)}


def narrowed(model, src, ids):
    """``model`` over the target ids ``ids`` for the batch ``src``."""
    through = ShortlistedModel(model)
    through.add(src, ids)
    return through


def tokens(nbest_lists):
    return [[h.tokens.tolist() for h in hyps] for hyps in nbest_lists]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("family", sorted(PRESETS))
def test_every_output_starts_with_its_prefix_scored_by_the_model(family, mode):
    model = tiny_model(family)
    src, lens, _ = random_batch(V)
    found = search(model, src, lens, MODES[mode], PREFIX)
    tgt_in = torch.cat([torch.full((3, 1), 2), PREFIX.masked_fill(PREFIX.eq(PAD_ID), 4)], dim=1)
    with torch.no_grad():
        lp, _ = step_by_step(model, src, lens, tgt_in)  # (B, P + 1, V)
    for b, hyps in enumerate(found):
        prefix = [t for t in PREFIX[b].tolist() if t != PAD_ID]
        assert hyps
        for h in hyps:
            assert h.tokens[: len(prefix)].tolist() == prefix
            want = lp[b, torch.arange(len(prefix)), torch.tensor(prefix, dtype=torch.long)]
            torch.testing.assert_close(h.positional_scores[: len(prefix)], want, atol=1e-4, rtol=1e-4)


def test_a_prefix_longer_than_max_len_is_kept_whole():
    model = tiny_model("lstm")
    src, lens, _ = random_batch(V)
    found = search(model, src, lens, SearchConfig(beam=3, max_len_b=1), PREFIX)
    assert found[0][0].tokens[:3].tolist() == [5, 6, 7]


@pytest.mark.parametrize("family", sorted(PRESETS))
def test_a_one_model_ensemble_is_the_model(family):
    model = tiny_model(family)
    src, lens, _ = random_batch(V)
    alone = search(model, src, lens, MODES["beam"])
    ensemble = search(Ensemble([model]), src, lens, MODES["beam"])
    assert tokens(alone) == tokens(ensemble)
    # equal to float rounding, not bit for bit: the search treats the ensemble as a model of its
    # own (a ConvS2S member no longer shares a sentence's encoder rows across its hypotheses), so
    # some matrix products get other shapes, and on some CPUs (seen on AMD EPYC, for the ConvS2S
    # and the Dilated RNN) oneDNN sums those in another order: scores differ in the 7th digit
    assert [h[0].score for h in alone] == pytest.approx([h[0].score for h in ensemble], rel=1e-5)


def test_an_ensemble_averages_probabilities_across_families():
    a, b = tiny_model("convs2s"), tiny_model("lstm", seed=1)
    ensemble = Ensemble([a, b]).eval()
    src, lens, tgt_in = random_batch(V)
    with torch.no_grad():
        lp, state = step_by_step(ensemble, src, lens, tgt_in)
        lp_a, _ = step_by_step(a, src, lens, tgt_in)
        lp_b, _ = step_by_step(b, src, lens, tgt_in)
        full = ensemble.log_probs(ensemble(src, lens, tgt_in))
    want = ((lp_a.exp() + lp_b.exp()) / 2).log()
    torch.testing.assert_close(lp, want, atol=1e-5, rtol=1e-5)
    real = tgt_in.ne(PAD_ID)
    torch.testing.assert_close(full[real], lp[real], atol=1e-5, rtol=1e-5)  # the contract holds
    assert state.attn is not None and state.attn.shape == (3, src.size(1))
    assert ensemble.max_positions() == tuple(map(min, zip(a.max_positions(), b.max_positions())))


def test_the_same_model_twice_decodes_as_the_model():
    model = tiny_model("qrnn")
    src, lens, _ = random_batch(V)
    assert tokens(search(Ensemble([model, model]), src, lens, MODES["beam"])) == \
        tokens(search(model, src, lens, MODES["beam"]))


def test_sampling_is_reproducible_with_a_seed_and_differs_across_seeds():
    model = tiny_model("convs2s")
    src, lens, _ = random_batch(V)
    cfg = SearchConfig(sampling=True, nbest=4, max_len_b=9, seed=1)
    first, again = search(model, src, lens, cfg), search(model, src, lens, cfg)
    other = search(model, src, lens, dataclasses.replace(cfg, seed=2))
    assert tokens(first) == tokens(again) != tokens(other)
    assert all(len(h) == 4 for h in first)
    assert all(h[0].score >= h[-1].score for h in first)  # best score first


@pytest.mark.parametrize("restriction", [{"topk": 1}, {"temperature": 1e-4}, {"topp": 1e-6}])
def test_sampling_from_the_best_token_only_is_greedy(restriction):
    model = tiny_model("tcn")
    src, lens, _ = random_batch(V)
    greedy = search(model, src, lens, MODES["greedy"])
    sampled = search(model, src, lens, SearchConfig(sampling=True, nbest=2, max_len_b=9, **restriction))
    assert [[h[0].tokens.tolist()] * 2 for h in greedy] == tokens(sampled)
    torch.testing.assert_close(torch.tensor([h[0].score for h in greedy]),
                               torch.tensor([h[0].score for h in sampled]))


def test_topk_and_topp_keep_the_right_tokens():
    logits = torch.tensor([[0.5, 0.25, 0.15, 0.1]]).log()
    assert restrict(logits, 2, 0.0).isfinite().tolist() == [[True, True, False, False]]
    assert restrict(logits, 0, 0.7).isfinite().tolist() == [[True, True, False, False]]
    assert restrict(logits, 0, 0.5).isfinite().tolist() == [[True, False, False, False]]
    assert restrict(logits, 0, 0.95).isfinite().tolist() == [[True, True, True, True]]


@pytest.mark.parametrize("topk, topp", [(0, 0.0), (5, 0.0), (0, 0.3), (0, 0.9), (0, 0.999), (40, 0.8)])
def test_the_draw_candidates_are_the_restricted_sets(topk, topp):
    torch.manual_seed(topk + int(topp * 100))
    logits = torch.randn(64, 3000) * torch.tensor([0.5, 3.0, 8.0, 20.0]).repeat(16).unsqueeze(1)
    logits[0, 100:] = -math.inf  # a row with few finite entries
    values, ids = candidates(logits, topk, topp)
    kept = restrict(logits, topk, topp).isfinite()  # (R, V) the reference's sets
    if ids is None:
        assert torch.equal(values.isfinite(), kept)
        return
    found = torch.zeros_like(kept).scatter_(1, ids, values.isfinite())
    assert torch.equal(values[values.isfinite()], logits.gather(1, ids)[values.isfinite()])
    # the sets may differ only by a token whose mass before it is topp up to float rounding
    ranked, order = torch.softmax(restrict(logits.double(), topk, 0.0), dim=1).sort(dim=1, descending=True)
    before = torch.empty_like(ranked).scatter_(1, order, ranked.cumsum(dim=1) - ranked)  # (R, V)
    rows, cols = (found != kept).nonzero(as_tuple=True)
    assert rows.numel() <= 2 and all(abs(float(before[r, c]) - topp) < 1e-5 for r, c in zip(rows, cols))


@pytest.mark.parametrize("topk, topp, temperature", [(0, 0.0, 1.0), (0, 0.0, 2.0), (2, 0.0, 1.0),
                                                     (0, 0.7, 1.0)])
def test_draws_follow_the_restricted_distribution(topk, topp, temperature):
    lp = torch.tensor([0.5, 0.25, 0.15, 0.1, 0.0]).log().repeat(40000, 1)  # (R, V)
    cfg = SearchConfig(sampling=True, topk=topk, topp=topp, temperature=temperature)
    _, tokens = draw(lp.clone(), cfg, torch.Generator().manual_seed(3))
    want = torch.softmax(restrict(lp[:1] / temperature, topk, topp), dim=1)[0]
    seen = torch.bincount(tokens, minlength=5) / tokens.numel()
    assert seen[4] == 0 and torch.allclose(seen, want, atol=0.01), (seen, want)


def test_bad_sampling_options_are_errors():
    from nmt.errors import NmtError

    for bad in ({"temperature": 0.0}, {"topk": -1}, {"topp": 1.5}, {"nbest": 0}):
        with pytest.raises(NmtError):
            SearchConfig(sampling=True, **bad).validate()


@pytest.mark.parametrize("family", sorted(PRESETS))
def test_a_shortlist_of_the_whole_vocabulary_changes_nothing(family):
    model = tiny_model(family)
    src, lens, _ = random_batch(V)
    layer = model.output_projections()[0]
    found = search(narrowed(model, src, torch.arange(V)), src, lens, MODES["beam"], PREFIX)
    assert getattr(*layer) is not None and type(getattr(*layer)).__name__ != "_RowsOutput"
    full = search(model, src, lens, MODES["beam"], PREFIX)
    assert tokens(found) == tokens(full)
    torch.testing.assert_close(torch.tensor([h[0].score for h in found]),
                               torch.tensor([h[0].score for h in full]))


@pytest.mark.parametrize("family", sorted(PRESETS))
def test_greedy_over_a_shortlist_holding_its_tokens_is_greedy(family):
    """Greedy picks the argmax, which a subset holding it keeps: the same tokens, if the narrowed
    model reads the full ids back at every step (renumbered ids fed back would differ)."""
    model = tiny_model(family)
    src, lens, _ = random_batch(V)
    full = search(model, src, lens, MODES["greedy"])
    used = {t for hyps in full for t in hyps[0].tokens.tolist()}
    ids = torch.tensor(sorted(used | {0, 1, 2, 3} | {V - 1}))  # a true subset, renumbered
    assert len(ids) < V
    found = search(narrowed(model, src, ids), src, lens, MODES["greedy"])
    assert [ids[h[0].tokens].tolist() for h in found] == [h[0].tokens.tolist() for h in full]


def test_a_narrowed_vocabulary_only_produces_its_candidates():
    model = tiny_model("lstm")
    src, lens, _ = random_batch(V)
    shortlist = BoundShortlist(torch.tensor([0, 1, 2, 3, 9]), {int(src[0, 0]): [12, 15]})
    ids = shortlist.candidates(src, PREFIX)
    assert ids[:4].tolist() == [0, 1, 2, 3] and ids.tolist() == sorted(set(ids.tolist()))
    assert {5, 6, 7, 8, 9, 12, 15} <= set(ids.tolist())
    found = search(narrowed(model, src, ids), src, lens, MODES["beam"], to_narrowed(ids, PREFIX))
    for hyps in found:
        assert set(ids[hyps[0].tokens].tolist()) <= set(ids.tolist())


def test_an_int8_output_layer_can_be_narrowed():
    from nmt.translation import quantize_int8

    model = quantize_int8(tiny_model("qrnn"))
    src, lens, _ = random_batch(V)
    found = search(narrowed(model, src, torch.arange(V)), src, lens, MODES["greedy"])
    assert tokens(found) == tokens(search(model, src, lens, MODES["greedy"]))


def test_an_output_layer_that_cannot_narrow_itself_is_a_clear_error():
    from torch import nn

    from nmt.errors import NmtError

    model = tiny_model("lstm")
    parent, name = model.output_projections()[0]
    plain = getattr(parent, name)
    setattr(parent, name, nn.Linear(plain.in_features, plain.out_features))
    src, lens, _ = random_batch(V)
    with pytest.raises(NmtError, match="narrows itself"):
        search(narrowed(model, src, torch.arange(V)), src, lens, MODES["greedy"])
    assert type(getattr(parent, name)) is nn.Linear  # the model's own layer is put back


def test_every_family_names_its_output_layer():
    for family, preset in PRESETS.items():
        cfg = dataclasses.replace(registry.preset(preset), src_vocab_size=V, tgt_vocab_size=V)
        model = registry.build_model(cfg)
        parent, name = model.output_projections()[0]
        assert getattr(parent, name).weight.shape[0] == V, family
