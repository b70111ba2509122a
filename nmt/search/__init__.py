"""Greedy and beam search, written against the model contract only (:mod:`nmt.models.base`).

    from nmt.search import SearchConfig, search
    nbest_lists = search(model.eval(), src, src_lens, SearchConfig(beam=5, lenpen=1.0))
    best = nbest_lists[0][0]          # a Hypothesis: tokens, score, positional_scores, attention
    search(model, src, src_lens, cfg, prefix=prefix)   # prefix (B, P): forced first tokens
    search(Ensemble([m1, m2]), src, src_lens, cfg)     # log-probs averaged over the models
    search(model, src, src_lens, SearchConfig(sampling=True, nbest=4, topp=0.9, seed=1))

The rules are fairseq 0.12.2's (see :mod:`nmt.search.common` and :mod:`nmt.search.beam`), so an
imported fairseq model gives fairseq-generate's translations and scores.
"""

from __future__ import annotations

from torch import Tensor

from nmt.search.beam import beam_search
from nmt.search.common import Hypothesis, SearchConfig
from nmt.search.ensemble import Ensemble
from nmt.search.greedy import greedy_search
from nmt.search.sampling import sample_search

__all__ = ["Ensemble", "Hypothesis", "SearchConfig", "beam_search", "greedy_search",
           "sample_search", "search"]


def search(model, src: Tensor, src_lens: Tensor, cfg: SearchConfig | None = None,
           prefix: Tensor | None = None) -> list[list[Hypothesis]]:
    """Translate src (B, S) (padded with pad on either side), src_lens (B,): per sentence its
    ``cfg.nbest`` best hypotheses, best first. ``cfg.sampling`` draws ``nbest`` samples instead;
    ``beam == 1 and nbest == 1`` takes the greedy fast path (same result as beam 1); anything else
    is beam search. ``prefix`` (B, P), padded with pad, forces each output's first tokens."""
    cfg = cfg or SearchConfig()
    if cfg.sampling:
        return sample_search(model, src, src_lens, cfg, prefix)
    if cfg.greedy:
        return greedy_search(model, src, src_lens, cfg, prefix)
    return beam_search(model, src, src_lens, cfg, prefix)
