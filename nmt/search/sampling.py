"""Sampling: ``nbest`` independent translations per sentence, each token drawn from the model.

What back-translation uses for synthetic sources (Edunov et al. 2018, *Understanding
Back-Translation at Scale*: sampling or restricted sampling gives better synthetic data than beam
search). The loop is greedy decoding's (:mod:`nmt.search.greedy`), over ``nbest`` copies of every
sentence (encoded once), with a sampled token in place of the best one:

    p_t(y) ∝ exp(log p(y | y_<t, x) / temperature),  restricted to the top-k and top-p sets

The step rules of :mod:`nmt.search.common` (pad, unkpen, min_len, n-gram blocking, forced eos,
target prefix) apply first, so a forced token is drawn with probability 1. The recorded log-prob
of a drawn token is the model's own (after the rules, before temperature), so sampled outputs are
scored like searched ones. One ``torch.Generator`` seeded with ``cfg.seed`` per call makes a run
reproducible: the same batch and options give the same samples.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import torch
from torch import Tensor

from nmt.search.common import (
    NEG_INF,
    Hypothesis,
    SearchConfig,
    in_search_mode,
    row_best,
    searched_batches,
)
from nmt.search.greedy import Batch, _decode


def sample_search(model, src: Tensor, src_lens: Tensor, cfg: SearchConfig,
                  prefix: Tensor | None = None) -> list[list[Hypothesis]]:
    """``cfg.nbest`` samples for each sentence of src (B, S), src_lens (B,), best score first;
    ``prefix`` (B, P) forces the first tokens as in beam search. Put the model in eval mode."""
    return next(sample_batches(model, [(None, src, src_lens, prefix)], cfg), (None, []))[1]


def sample_batches(model, batches: Iterable[Batch], cfg: SearchConfig
                   ) -> Iterator[tuple[Any, list[list[Hypothesis]]]]:
    """:func:`sample_search` over many batches, each ``(key, src, src_lens, prefix)``, yielding
    ``(key, its samples)`` as each batch finishes, the next batch joining the last rows of the
    running ones as in :func:`nmt.search.greedy._decode`. One generator seeded with ``cfg.seed``
    draws for the whole call."""
    cfg.validate()
    batches = yield from searched_batches(batches)
    if not batches:
        return
    device = batches[0][1].device
    generator = torch.Generator(device=device).manual_seed(cfg.seed)

    def choose(lp: Tensor) -> tuple[Tensor, Tensor]:
        return draw(lp, cfg, generator)

    n = cfg.nbest
    for key, cohort in in_search_mode(device, cfg, _decode(model, batches, cfg, choose, copies=n)):
        flat = cohort.out.hypotheses(cohort.mask)  # B·n one-element lists
        yield key, [sorted((flat[b * n + i][0] for i in range(n)), key=lambda h: -h.score)
                    for b in range(len(flat) // n)]


def draw(lp: Tensor, cfg: SearchConfig, generator: torch.Generator) -> tuple[Tensor, Tensor]:
    """One token per row of lp (R, V) from softmax(lp / temperature) within the top-k / top-p
    sets: (the rows' log-probs of the drawn tokens (R,), the tokens (R,)). A row with no finite
    entry (the model gave the forced eos −inf) takes its best entry, as greedy decoding would.

    The draw inverts each row's cumulative distribution at one uniform number (float64 sums), over
    the candidates of :func:`candidates`: a pass or two over the row, where ``torch.multinomial``
    took about 0.2 ms a row of 9,808 (docs/results.md)."""
    lp.masked_fill_(torch.isnan(lp), NEG_INF)
    logits, ids = candidates(lp / cfg.temperature, cfg.topk, cfg.topp)  # (R, n) each
    dead = torch.isinf(logits).all(dim=1)  # (R,)
    if bool(dead.any()):
        logits[dead] = 0.0  # any token: replaced by the best below
    cdf = torch.softmax(logits, dim=1).cumsum(dim=1, dtype=torch.float64)  # (R, n)
    u = torch.rand(cdf.size(0), 1, generator=generator, dtype=torch.float64) * cdf[:, -1:]
    pick = torch.searchsorted(cdf, u, right=True).clamp_(max=cdf.size(1) - 1)  # (R, 1)
    tokens = (pick if ids is None else ids.gather(1, pick)).squeeze(1)  # (R,)
    if bool(dead.any()):
        tokens[dead] = row_best(lp[dead])[1]
    return lp.gather(1, tokens.unsqueeze(1)).squeeze(1), tokens


def candidates(logits: Tensor, topk: int, topp: float) -> tuple[Tensor, Tensor | None]:
    """The tokens a draw chooses among: logits (R, n), best first and −inf where :func:`restrict`
    drops a token, with their ids (R, n); without a restriction logits itself and None. The sets
    are :func:`restrict`'s (up to ties), found with ``topk`` instead of a sort of the vocabulary:
    for top-p, the ``n`` best of each row, ``n`` growing 16-fold from 64 until every row's set ends
    within them (a peaked row holds its mass in a few tokens; a model trained with label smoothing
    spreads a tenth of it over the whole vocabulary, and its top-0.9 sets hold hundreds to
    thousands of tokens, so most steps end in a sort as in :func:`restrict`)."""
    vocab = logits.size(1)
    k = topk if 0 < topk < vocab else vocab
    if not 0 < topp < 1:
        return (logits, None) if k == vocab else logits.topk(k, dim=1)
    top = logits.topk(k, dim=1).values if k < vocab else logits
    norm = top.logsumexp(dim=1, keepdim=True)  # (R, 1) the top-k set's (or the row's) mass
    n = min(k, 64)
    while True:
        values, ids = logits.topk(n, dim=1)  # (R, n), best first
        mass = (values - norm).exp()
        before = mass.cumsum(dim=1) - mass  # the mass before each token
        ended = ~(before[:, -1] + mass[:, -1] < topp)  # (R,) the next token would be dropped
        if n == k or bool(ended.all()):
            return values.masked_fill(before >= topp, NEG_INF), ids
        n = min(k, 16 * n)


def restrict(logits: Tensor, topk: int, topp: float) -> Tensor:
    """logits (R, V) with −inf outside each row's ``topk`` largest (0: no limit) and outside the
    smallest set of largest entries whose probability reaches ``topp`` (0: no limit; the most
    probable token always stays)."""
    if topk and topk < logits.size(1):
        kth = logits.topk(topk, dim=1).values[:, -1:]  # (R, 1)
        logits = logits.masked_fill(logits < kth, NEG_INF)
    if 0 < topp < 1:
        sorted_logits, order = logits.sort(dim=1, descending=True)  # (R, V)
        before = sorted_logits.softmax(dim=1).cumsum(dim=1) - sorted_logits.softmax(dim=1)
        drop_sorted = before >= topp  # the mass before a token already reaches topp
        drop = drop_sorted.scatter(1, order, drop_sorted)  # back to vocabulary order
        logits = logits.masked_fill(drop, NEG_INF)
    return logits
