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

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from nmt.search.common import (
    EOS_ID,
    Hypothesis,
    SearchConfig,
    apply_step_rules,
    check_inputs,
    check_prefix,
    force_prefix,
    max_length,
    row_best,
    search_mode,
    source_mask,
    step_attention,
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


def greedy_search(model, src: Tensor, src_lens: Tensor, cfg: SearchConfig | None = None,
                  prefix: Tensor | None = None) -> list[list[Hypothesis]]:
    """Greedy decoding of src (B, S), src_lens (B,): per sentence a one-element list of
    :class:`Hypothesis`; ``prefix`` (B, P), pad-padded, forces each output's first tokens.
    ``cfg.beam`` and ``cfg.nbest`` are ignored. Put the model in eval mode."""
    cfg = cfg or SearchConfig(beam=1)
    cfg.validate()
    check_inputs(src, src_lens)
    if src.size(0) == 0:
        return []
    prefix = check_prefix(prefix, src)
    with search_mode(src.device, cfg):
        outputs = _decode(model, src, src_lens, cfg, prefix, row_best)
    return outputs.hypotheses(source_mask(src))  # cloned outside inference mode: normal tensors


def _decode(model, src: Tensor, src_lens: Tensor, cfg: SearchConfig, prefix: Tensor | None,
            choose: Choose, copies: Tensor | None = None) -> _Outputs:
    """The loop over steps; with ``copies`` (B',) each row b decodes sentence ``copies[b]`` of
    src, whose encoder output is computed once and then copied (``prefix`` is per row)."""
    max_len = max_length(model, src, cfg, prefix)
    enc = model.encode(src, src_lens)
    if copies is not None:
        src, enc = src[copies], model.reorder_encoder_out(enc, copies)  # (B', S)
    out = _Outputs.empty(src, max_len)
    state = model.init_state(enc)
    alive = torch.arange(src.size(0), device=src.device)  # (b,) sentence of each active row
    cum = torch.zeros(src.size(0), device=src.device)  # (b,) cumulative log-prob
    for step in range(max_len + 1):
        if alive.numel() == 0:
            break
        history = out.tokens[alive, 1:step + 1] if cfg.no_repeat_ngram_size else None
        lp, state = model.decode_step(out.tokens[alive, step], state, enc)  # (b, V)
        apply_step_rules(lp, step, max_len, cfg, history)
        best, tokens = choose(force_prefix(lp, step, max_len, _rows(prefix, alive)))  # (b,)
        if step >= max_len:
            tokens.fill_(EOS_ID)  # forced eos, even if the model gave eos −inf
        cum = cum + best
        out.record(alive, step, tokens, best, step_attention(state, cfg))
        ended = tokens.eq(EOS_ID)  # (b,)
        if ended.any():
            done = alive[ended]
            out.lengths[done] = step + 1
            out.scores[done] = cum[ended] / (step + 1) ** cfg.lenpen
            keep = (~ended).nonzero().squeeze(1)  # (b',)
            if keep.numel() == 0:
                break
            alive, cum = alive[keep], cum[keep]
            state = model.reorder_state(state, keep)
            enc = model.reorder_encoder_out(enc, keep)
    return out


def _rows(prefix: Tensor | None, alive: Tensor) -> Tensor | None:
    return None if prefix is None else prefix[alive]
