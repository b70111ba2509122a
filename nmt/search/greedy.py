"""Greedy decoding: the most probable token at every step, a whole batch at a time.

Its own fast path, without beam bookkeeping: one ``decode_step`` over the unfinished sentences and
one ``max`` over the vocabulary per step. It gives the tokens and scores of beam search with beam 1
(fairseq's beam 1 ends a sentence when its best token is eos and otherwise follows the best token).
A sentence leaves the batch at its eos, so finished sentences cost nothing further; at step
``max_len`` every remaining sentence is given eos. The step rules (pad, unkpen, min_len, n-gram
blocking, forced eos, target prefix) are those of :mod:`nmt.search.common`.

Sampling (:mod:`nmt.search.sampling`) is this loop with a different choice of token: ``_decode``
takes the rule that picks each row's token from its log-probs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from nmt.search.common import (
    EOS_ID,
    Hypothesis,
    SearchConfig,
    apply_step_rules,
    force_prefix,
    in_search_mode,
    max_length,
    row_best,
    searched_batches,
    source_mask,
    starts_now,
    step_attention,
    with_new_rows,
)


@dataclass
class _Outputs:
    """Everything decoded so far, one row per input sentence (M = max_len).

    tokens:  (B, M + 2) long, column 0 the leading eos, column t + 1 the token of step t
    lprobs:  (B, M + 1) float32, the log-prob of the token of step t
    lengths: (B,) long, tokens including eos, 0 while unfinished
    scores:  (B,) float32, the normalised score once finished
    attn:    (B, M + 1, S) float32 attention of each step, or None
    """

    tokens: Tensor
    lprobs: Tensor
    lengths: Tensor
    scores: Tensor
    attn: Tensor | None = None

    @classmethod
    def empty(cls, src: Tensor, max_len: int) -> _Outputs:
        bsz = src.size(0)
        tokens = src.new_full((bsz, max_len + 2), EOS_ID)
        lprobs = torch.zeros(bsz, max_len + 1, device=src.device)
        return cls(tokens, lprobs, src.new_zeros(bsz), torch.zeros(bsz, device=src.device))

    def record(self, rows: Tensor, step: int, tokens: Tensor, lprobs: Tensor,
               attn: Tensor | None) -> None:
        """Store step ``step`` of the active sentences ``rows`` (b,): tokens, lprobs (b,) and
        attn (b, S)."""
        self.tokens[rows, step + 1] = tokens
        self.lprobs[rows, step] = lprobs
        if attn is not None:
            if self.attn is None:
                shape = (self.tokens.size(0), self.lprobs.size(1), attn.size(1))
                self.attn = torch.zeros(shape, device=attn.device)
            self.attn[rows, step] = attn

    def hypotheses(self, mask: Tensor) -> list[list[Hypothesis]]:
        """One single-element n-best list per sentence; mask (B, S) marks real source tokens."""
        result = []
        for b, (n, score) in enumerate(zip(self.lengths.tolist(), self.scores.tolist())):
            attn = None if self.attn is None else self.attn[b, :n][:, mask[b]].clone()
            result.append([Hypothesis(self.tokens[b, 1:n + 1].clone(), score,
                                      self.lprobs[b, :n].clone(), attn)])
        return result


Choose = Callable[[Tensor], tuple[Tensor, Tensor]]  # lp (b, V) -> log-probs, tokens (b,)
Batch = tuple[Any, Tensor, Tensor, Tensor | None]  # (key, src (B, S), src_lens (B,), prefix or None)


def greedy_search(model, src: Tensor, src_lens: Tensor, cfg: SearchConfig | None = None,
                  prefix: Tensor | None = None) -> list[list[Hypothesis]]:
    """Greedy decoding of src (B, S), src_lens (B,): per sentence a one-element list of
    :class:`Hypothesis`; ``prefix`` (B, P), pad-padded, forces each output's first tokens.
    ``cfg.beam`` and ``cfg.nbest`` are ignored. Put the model in eval mode."""
    return next(greedy_batches(model, [(None, src, src_lens, prefix)], cfg or SearchConfig(beam=1)))[1]


def greedy_batches(model, batches: Iterable[Batch], cfg: SearchConfig
                   ) -> Iterator[tuple[Any, list[list[Hypothesis]]]]:
    """:func:`greedy_search` over many batches, each ``(key, src, src_lens, prefix)``, yielding
    ``(key, its hypotheses)`` as each batch finishes (see :func:`_decode` for the refill)."""
    cfg.validate()
    batches = yield from searched_batches(batches)
    if batches:
        for key, cohort in in_search_mode(batches[0][1].device, cfg,
                                          _decode(model, batches, cfg, row_best)):
            yield key, cohort.out.hypotheses(cohort.mask)  # cloned outside inference mode


@dataclass
class _Cohort:
    """One batch in the greedy loop: its outputs, its own step and limit, its target prefixes
    (B', P) or None, which of its rows still decode (``alive`` (b,)) with their cumulative
    log-probs (b,), and each row's real source tokens ``mask`` (B', S) for the hypotheses."""

    key: Any
    out: _Outputs
    mask: Tensor
    max_len: int
    prefix: Tensor | None
    alive: Tensor
    cum: Tensor
    source_width: int
    step: int = 0


def _decode(model, batches: Iterable[Batch], cfg: SearchConfig, choose: Choose,
            copies: int = 1) -> Iterator[tuple[Any, _Cohort]]:
    """The loop over steps, for the batches one after another or side by side; yields each
    batch's key and :class:`_Cohort` once all its rows have ended. Each sentence is decoded as
    ``copies`` rows (sampling's samples) from one encoder call.

    A batch's rows end at different steps, so its last steps carry few rows, and a sentence that
    never chooses eos runs on to ``max_len`` alone. Where the model ``supports_joining``, the next
    batch joins the running rows as soon as they fall below half of its own rows: the rows
    of two or three batches then share each decoder step, every batch at its own step (its
    position, step rules and limit as if it ran alone). Elsewhere a batch starts when the last
    one ends. Rows run side by side only in the model's products, so each sentence's tokens are
    those of a search of its batch alone, up to the products' rounding over other row counts."""
    pending = iter(batches)
    cohorts: list[_Cohort] = []
    state = enc = None
    nxt = next(pending, None)
    while cohorts or nxt is not None:
        if starts_now(model, sum(c.alive.numel() for c in cohorts), nxt, copies):
            cohort, c_state, c_enc = _start(model, nxt, cfg, copies)
            state, enc = with_new_rows(model, state, enc, c_state, c_enc)
            cohorts.append(cohort)
            nxt = next(pending, None)
            continue
        prev = torch.cat([c.out.tokens[c.alive, c.step] for c in cohorts])  # (R,)
        lp, state = model.decode_step(prev, state, enc)  # (R, V)
        spans = _spans(cohorts)
        for c, (a, b) in zip(cohorts, spans):  # the rules in place on each batch's rows
            history = c.out.tokens[c.alive, 1:c.step + 1] if cfg.no_repeat_ngram_size else None
            apply_step_rules(lp[a:b], c.step, c.max_len, cfg, history)
            force_prefix(lp[a:b], c.step, c.max_len, _rows(c.prefix, c.alive))
        best, tokens = choose(lp)  # (R,) each
        attn = step_attention(state, cfg)  # (R, S) or None
        keep = [_advance(c, best[a:b], tokens[a:b], None if attn is None else attn[a:b],
                         cfg.lenpen) for c, (a, b) in zip(cohorts, spans)]
        if not all(k is None for k in keep):
            kept = torch.cat([torch.arange(a, b, device=lp.device) if k is None else k + a
                              for k, (a, b) in zip(keep, spans)])  # (R',) rows that go on
            state, enc = model.reorder_state(state, kept), model.reorder_encoder_out(enc, kept)
        for c in [c for c in cohorts if c.alive.numel() == 0]:
            cohorts.remove(c)
            yield c.key, c
        if not cohorts:
            state = enc = None


def _start(model, batch: Batch, cfg: SearchConfig, copies: int):
    """A batch's cohort, its initial decoder state and encoder output (``copies`` rows each)."""
    key, src, src_lens, prefix = batch
    max_len = max_length(model, src, cfg, prefix)
    enc = model.encode(src, src_lens)
    if copies > 1:
        rows = torch.arange(src.size(0), device=src.device).repeat_interleave(copies)  # (B',)
        src, enc = src[rows], model.reorder_encoder_out(enc, rows)  # (B', S)
        prefix = None if prefix is None else prefix[rows]
    out = _Outputs.empty(src, max_len)
    n = src.size(0)
    cohort = _Cohort(key, out, source_mask(src), max_len, prefix,
                     torch.arange(n, device=src.device), torch.zeros(n, device=src.device),
                     src.size(1))
    return cohort, model.init_state(enc), enc


def _spans(cohorts: list[_Cohort]) -> list[tuple[int, int]]:
    """Each cohort's rows [a, b) in the step's rows, in order."""
    spans, a = [], 0
    for c in cohorts:
        spans.append((a, a + c.alive.numel()))
        a += c.alive.numel()
    return spans


def _advance(c: _Cohort, best: Tensor, tokens: Tensor, attn: Tensor | None,
             lenpen: float) -> Tensor | None:
    """Record cohort ``c``'s step (its rows' log-probs, tokens and attention (b, S)); returns the
    positions of its rows that go on (b',), or None when all do."""
    step = c.step
    if step >= c.max_len:
        tokens.fill_(EOS_ID)  # forced eos, even if the model gave eos −inf
    c.cum = c.cum + best
    c.out.record(c.alive, step, tokens, best, None if attn is None else attn[:, :c.source_width])
    c.step += 1
    ended = tokens.eq(EOS_ID)  # (b,)
    if not bool(ended.any()):
        return None
    done = c.alive[ended]
    c.out.lengths[done] = step + 1
    c.out.scores[done] = c.cum[ended] / (step + 1) ** lenpen
    keep = (~ended).nonzero().squeeze(1)  # (b',)
    c.alive, c.cum = c.alive[keep], c.cum[keep]
    return keep


def _rows(prefix: Tensor | None, alive: Tensor) -> Tensor | None:
    return None if prefix is None else prefix[alive]
