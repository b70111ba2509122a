"""Greedy and beam search, written against the model contract only (:mod:`nmt.models.base`).

    from nmt.search import SearchConfig, search
    nbest_lists = search(model.eval(), src, src_lens, SearchConfig(beam=5, lenpen=1.0))
    best = nbest_lists[0][0]          # a Hypothesis: tokens, score, positional_scores, attention

The rules are fairseq 0.12.2's (see :mod:`nmt.search.common` and :mod:`nmt.search.beam`), so an
imported fairseq model gives fairseq-generate's translations and scores.
"""

from __future__ import annotations

from torch import Tensor

from nmt.search.beam import beam_search
from nmt.search.common import Hypothesis, SearchConfig
from nmt.search.greedy import greedy_search

__all__ = ["Hypothesis", "SearchConfig", "beam_search", "greedy_search", "search"]


def search(model, src: Tensor, src_lens: Tensor,
           cfg: SearchConfig | None = None) -> list[list[Hypothesis]]:
    """Translate src (B, S) (padded with pad on either side), src_lens (B,): per sentence its
    ``cfg.nbest`` best hypotheses, best first. ``beam == 1 and nbest == 1`` takes the greedy fast
    path (same result as beam 1); anything else is beam search."""
    cfg = cfg or SearchConfig()
    if cfg.greedy:
        return greedy_search(model, src, src_lens, cfg)
    return beam_search(model, src, src_lens, cfg)
