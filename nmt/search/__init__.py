"""Greedy and beam search, written against the model contract only (:mod:`nmt.models.base`).

    from nmt.search import SearchConfig, search
    nbest_lists = search(model.eval(), src, src_lens, SearchConfig(beam=5, lenpen=1.0))
    best = nbest_lists[0][0]          # a Hypothesis: tokens, score, positional_scores, attention
    search(model, src, src_lens, cfg, prefix=prefix)   # prefix (B, P): forced first tokens
    search(Ensemble([m1, m2]), src, src_lens, cfg)     # log-probs averaged over the models
    search(model, src, src_lens, SearchConfig(sampling=True, nbest=4, topp=0.9, seed=1))
    for key, nbest_lists in search_batches(model, [(key, src, src_lens, None), ...], cfg): ...

The rules are fairseq 0.12.2's (see :mod:`nmt.search.common` and :mod:`nmt.search.beam`), so an
imported fairseq model gives fairseq-generate's translations and scores.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from torch import Tensor

from nmt.search.beam import beam_batches, beam_search
from nmt.search.common import Hypothesis, SearchConfig
from nmt.search.ensemble import Ensemble
from nmt.search.greedy import Batch, greedy_batches, greedy_search
from nmt.search.sampling import sample_batches, sample_search

__all__ = ["Ensemble", "Hypothesis", "SearchConfig", "beam_search", "greedy_search",
           "sample_search", "search", "search_batches"]


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


def search_batches(model, batches: Iterable[Batch], cfg: SearchConfig | None = None
                   ) -> Iterator[tuple[Any, list[list[Hypothesis]]]]:
    """:func:`search` over many batches, each ``(key, src, src_lens, prefix or None)``: yields
    ``(key, n-best lists)`` per batch, as each finishes. Where the model can join a running
    search, the next batch joins the last rows of the one before (:func:`nmt.search.greedy._decode`,
    :func:`nmt.search.beam._search`), so the decoder's rows stay filled; each batch still gets
    what it would get alone."""
    cfg = cfg or SearchConfig()
    if cfg.sampling:
        yield from sample_batches(model, batches, cfg)
    elif cfg.greedy:
        yield from greedy_batches(model, batches, cfg)
    else:
        yield from beam_batches(model, batches, cfg)
