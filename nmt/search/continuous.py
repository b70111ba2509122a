"""Continuous beam search: sentences join a running search at any step and leave it when done.

A server whose clients send one sentence at a time forms small batches, and a batch runs until its
longest sentence ends: its last steps carry a few rows while the finished sentences' clients wait.
Iteration-level scheduling (Yu et al. 2022, "Orca") lets new sentences join the search at the
next step instead, so every step carries as many sentences as are waiting and the fixed cost of a
step (a few hundred small operations around the matrix products) is shared by all of them.

:class:`ContinuousBeamSearch` keeps the rules of :mod:`nmt.search.beam` sentence by sentence, each
sentence with its own step ``t`` (tokens chosen so far) and its own ``max_len`` (fairseq's
``a·S + b`` with ``S`` its own source length, eos included). Sentences that start a search run
their first step on one row each, later steps on ``beam`` rows, as in
:func:`nmt.search.beam.beam_search`; sentences that join a running search take ``beam`` rows at
once, all but the first dead (cumulative score −inf) for their first step, so every sentence of a
step has as many rows and a model that ``shares_encoder_rows`` keeps one encoder row per
sentence. Rows that joined at different steps sit side by side in one decoder call, each at its
own position. A sentence searched alone gets exactly ``beam_search``'s hypotheses; among others,
floating-point sums run over other batch shapes (as they do between any two batchings in
`nmt translate`).

The histories (tokens, cumulative scores, attention) are right-aligned: row ``r`` of a sentence
at step ``t`` holds its tokens in the last ``t`` of ``T`` columns. Target prefixes and n-gram
blocking are not supported here (:func:`nmt.search.search` has them).

Needs a model with ``supports_joining`` (:mod:`nmt.models.base`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from nmt.data.dictionary import EOS_ID, PAD_ID, UNK_ID
from nmt.errors import NmtError
from nmt.search.beam import Candidates, best_reachable, next_beams, top_candidates
from nmt.search.common import (
    NEG_INF,
    Hypothesis,
    SearchConfig,
    check_inputs,
    search_mode,
    source_mask,
    step_attention,
)


@dataclass
class _Finished:
    """A finished hypothesis, kept as row ``j`` of its step's batched tensors (tokens (n, T + 1),
    cumulative scores (n, T + 1), attention (n, T + 1, S) or None) with its length ``t + 1``
    at their end: only the returned n-best are cut out (:meth:`hypothesis`)."""

    score: float
    j: int
    t: int
    tokens: Tensor
    cum: Tensor
    attn: Tensor | None

    def hypothesis(self, mask: Tensor) -> Hypothesis:
        """The hypothesis, its attention trimmed to the real source positions ``mask`` (S_b,)."""
        start = self.tokens.size(1) - self.t - 1
        c = self.cum[self.j, start:]  # (t + 1,)
        attn = None
        if self.attn is not None:
            attn = self.attn[self.j, start:, : mask.numel()][:, mask].clone()
        return Hypothesis(self.tokens[self.j, start:].clone(), self.score,
                          torch.cat([c[:1], c[1:] - c[:-1]]), attn)


@dataclass
class _Sentence:
    """One sentence of the search: the caller's tag, its step limit, which of its source
    positions are real (to trim attention), and its finished hypotheses."""

    tag: Any
    max_len: int
    mask: Tensor  # (S_b,) bool
    hyps: list[_Finished] = field(default_factory=list)

    def kth_best(self, nbest: int) -> float:
        return sorted(h.score for h in self.hyps)[-nbest] if len(self.hyps) >= nbest else NEG_INF

    def nbest(self, n: int) -> list[Hypothesis]:
        """The best ``n`` finished hypotheses, best first (stable among equal scores)."""
        return [h.hypothesis(self.mask) for h in sorted(self.hyps, key=lambda h: -h.score)[:n]]


@dataclass
class _Cohort:
    """Sentences that joined since the last step: encoded, one row each, no tokens yet."""

    sents: list[_Sentence]
    enc: Any
    state: Any


@dataclass
class _Step:
    """What one step works on: ``width`` rows per sentence, the running sentences' followed by
    the joining ones' (one row each when they start the search, else ``beam`` with all but the
    first dead), and the histories of all of them (the joining rows' empty).

    t:      per sentence its steps done; width: rows per sentence, the same for all
    tokens: (R, T) long; cum: (R, T) float; attn: (R, T, S) or None, right-aligned histories
    last:   (R, 1) float, each row's cumulative score so far (−inf on dead rows), None when every
            sentence is at its first step
    """

    sents: list[_Sentence]
    t: list[int]
    width: int
    tokens: Tensor
    cum: Tensor
    attn: Tensor | None
    last: Tensor | None

    def rows(self, i: int) -> slice:
        """The rows of sentence ``i``."""
        return slice(i * self.width, (i + 1) * self.width)


class ContinuousBeamSearch:
    """A beam search that sentences join (:meth:`add`) and leave (:meth:`step` returns them).

    ``add(src, src_lens, tags)`` encodes the sentences at once; they take part from the next step.
    ``step()`` runs one decoder step over every sentence and returns ``(tag, n-best)`` of each that
    finished, best first, as :func:`nmt.search.beam.beam_search` returns them."""

    def __init__(self, model, cfg: SearchConfig):
        cfg.validate()
        if not getattr(model, "supports_joining", False):
            raise NmtError(f"{type(model).__name__} cannot join running searches")
        if cfg.sampling or cfg.no_repeat_ngram_size:
            raise NmtError("continuous search does beam search without n-gram blocking")
        self.model, self.cfg = model, cfg
        self._shared = getattr(model, "shares_encoder_rows", False)
        self.device = next(model.parameters()).device
        self.pending: list[_Cohort] = []
        self.sents: list[_Sentence] = []  # the running sentences, beam rows each
        self.t: list[int] = []
        self.state = self.enc = None
        self.tokens = self.cum = self.attn = None

    def __len__(self) -> int:
        """Sentences in the search, running or about to join."""
        return len(self.sents) + sum(len(c.sents) for c in self.pending)

    def add(self, src: Tensor, src_lens: Tensor, tags: list) -> None:
        """Sentences src (B, S) (padded with pad), src_lens (B,), to join at the next step."""
        check_inputs(src, src_lens)
        if len(tags) != src.size(0):
            raise NmtError(f"{len(tags)} tags for {src.size(0)} sentences")
        if not tags:
            return
        limit = self.model.max_positions()[1] - 1
        mask = source_mask(src)
        sents = [_Sentence(tag, max(0, min(int(self.cfg.max_len_a * n + self.cfg.max_len_b), limit)),
                           mask[i]) for i, (tag, n) in enumerate(zip(tags, src_lens.tolist()))]
        with search_mode(self.device, self.cfg):
            enc = self.model.encode(src.to(self.device), src_lens.to(self.device))
            self.pending.append(_Cohort(sents, enc, self.model.init_state(enc)))

    def step(self) -> list[tuple[Any, list[Hypothesis]]]:
        """One step of every sentence; the sentences that finished, with their n-best."""
        if not len(self):
            return []
        with search_mode(self.device, self.cfg):
            done = self._step()
        return [(s.tag, s.nbest(self.cfg.nbest)) for s in done]

    # -- one step ----------------------------------------------------------------------------------

    def _step(self) -> list[_Sentence]:
        step, prev, state, enc = self._gather()
        lp, state = self.model.decode_step(prev, state, enc)  # (R, V)
        self._rules(lp, step)
        attn = step_attention(state, self.cfg)  # (R, S)
        cand = self._candidates(lp, step)
        at_max = [t >= s.max_len for t, s in zip(step.t, step.sents)]  # (b,)
        self._finish(cand, step, attn, at_max)
        for i in (i for i, m in enumerate(at_max) if m):
            self._finish_all(lp, step, attn, i)
        picks, scores = next_beams(cand, self.cfg.beam)  # (b, beam) each
        done = [m or len(s.hyps) >= self.cfg.beam for m, s in zip(at_max, step.sents)]
        if self.cfg.early_stop:
            done = [d or u for d, u in zip(done, self._unreachable(step, scores).tolist())]
        self._advance(step, state, attn, enc, cand, picks, scores, done)
        return [s for s, d in zip(step.sents, done) if d]

    def _gather(self):
        """The step's rows: the running sentences' then the joining ones', with their decoder
        inputs (prev tokens (R,), state, encoder output) and histories."""
        joining, self.pending = self.pending, []
        width = self.cfg.beam if self.sents else 1  # a new search starts on one row per sentence
        sents, t = list(self.sents), list(self.t)
        prevs, states, encs = [], [], []
        if self.sents:
            prevs.append(self.tokens[:, -1])
            states.append(self.state)
            encs.append(self.enc)
        for cohort in joining:
            n = len(cohort.sents)
            sents += cohort.sents
            t += [0] * n
            prevs.append(torch.full((n * width,), EOS_ID, device=self.device))
            state, enc = cohort.state, cohort.enc
            if width > 1:  # the cohort's rows, each sentence's repeated
                rows = torch.arange(n, device=self.device).repeat_interleave(width)  # (n·w,)
                state = self.model.reorder_state(state, rows)
                if not self._shared:
                    enc = self.model.reorder_encoder_out(enc, rows)
            states.append(state)
            encs.append(enc)
        step = _Step(sents, t, width, *self._histories(len(sents) - len(self.sents), width))
        if len(states) == 1:
            return step, prevs[0], states[0], encs[0]
        return (step, torch.cat(prevs), self.model.concat_states(states),
                self.model.concat_encoder_out(encs))

    def _histories(self, joined: int, width: int):
        """The running rows' histories followed by empty ones for ``joined`` sentences of
        ``width`` rows, and each row's last cumulative score (−inf on the joining sentences'
        dead rows). The attention history keeps its own source width; :func:`_with_step` pads it
        to the step's."""
        n = joined * width
        if not self.sents:
            return (torch.empty(n, 0, dtype=torch.long, device=self.device),
                    torch.empty(n, 0, device=self.device),
                    torch.empty(n, 0, 0, device=self.device), None)
        tokens, cum, attn, last = self.tokens, self.cum, self.attn, self.cum[:, -1:]
        if joined:
            T = tokens.size(1)
            tokens = torch.cat([tokens, tokens.new_full((n, T), PAD_ID)])
            cum = torch.cat([cum, cum.new_zeros(n, T)])
            if attn is not None:
                attn = torch.cat([attn, attn.new_zeros(n, T, attn.size(2))])
            first = torch.full((joined, width), NEG_INF, device=self.device)  # (joined, w)
            first[:, 0] = 0.0
            last = torch.cat([last, first.view(n, 1)])
        return tokens, cum, attn, last

    def _rules(self, lp: Tensor, step: _Step) -> None:
        """The rules of :func:`nmt.search.common.apply_step_rules`, row by row: pad never, unk
        penalised, then eos forced at the row's ``max_len`` or forbidden before ``min_len``."""
        lp[:, PAD_ID] = NEG_INF
        if self.cfg.unkpen:
            lp[:, UNK_ID] -= self.cfg.unkpen
        for i, (s, t) in enumerate(zip(step.sents, step.t)):
            rows = step.rows(i)
            if t >= s.max_len:
                eos = lp[rows, EOS_ID].clone()
                lp[rows] = NEG_INF
                lp[rows, EOS_ID] = eos
            elif t < self.cfg.min_len:
                lp[rows, EOS_ID] = NEG_INF

    def _candidates(self, lp: Tensor, step: _Step) -> Candidates:
        """Rule 3 for every sentence's rows at once; a joining sentence's dead rows (−inf so far)
        offer no candidate, so its candidates are its first row's, as on a step of its own."""
        return top_candidates(lp, step.last, len(step.sents), step.width, self.cfg.beam)

    def _finish(self, cand: Candidates, step: _Step, attn: Tensor | None,
                at_max: list[bool]) -> None:
        """Rule 4: the finite eos candidates among the first ``beam`` ranks finish (sentences at
        their ``max_len`` finish all their rows in :meth:`_finish_all` instead)."""
        top = slice(0, self.cfg.beam)
        is_eos = cand.tokens[:, top].eq(EOS_ID) & cand.scores[:, top].ne(NEG_INF)  # (b, beam)
        if any(at_max):
            is_eos &= ~torch.tensor(at_max, device=is_eos.device).unsqueeze(1)
        if bool(is_eos.any()):
            sent_pos, rank = is_eos.nonzero(as_tuple=True)  # sentence-major, like fairseq
            self._add_finished(cand.rows[sent_pos, rank], cand.scores[sent_pos, rank],
                               sent_pos.tolist(), step, attn)

    def _finish_all(self, lp: Tensor, step: _Step, attn: Tensor | None, i: int) -> None:
        """Rule 6 at sentence ``i``'s ``max_len``: every row ends with the forced eos, best first."""
        first, live = i * step.width, step.width if step.t[i] else 1  # a first step: one live row
        rows = torch.arange(first, first + live, device=lp.device)
        total = lp[rows, EOS_ID]  # (w,)
        total = total.masked_fill(torch.isnan(total), NEG_INF)
        if step.t[i]:
            total = total + step.cum[rows, -1]
        order = total.argsort(descending=True, stable=True)
        self._add_finished(rows[order], total[order], [i] * rows.numel(), step, attn)

    def _add_finished(self, rows: Tensor, total: Tensor, sent_pos: list[int], step: _Step,
                      attn: Tensor | None) -> None:
        """Rows (n,) ending with eos now, with cumulative scores ``total`` (n,), of the step's
        sentences ``sent_pos``; a sentence keeps at most ``beam`` finished hypotheses."""
        n = rows.numel()
        tokens = torch.cat([step.tokens[rows], rows.new_full((n, 1), EOS_ID)], dim=1)  # (n, T + 1)
        cum = torch.cat([step.cum[rows], total.unsqueeze(1)], dim=1)  # (n, T + 1)
        steps = [step.t[i] for i in sent_pos]
        lengths = torch.tensor([(t + 1) ** self.cfg.lenpen for t in steps], dtype=total.dtype)
        scores = (total / lengths.to(total.device)).tolist()
        hyp_attn = None
        if attn is not None:
            hyp_attn = _with_step(step.attn[rows], attn[rows])  # (n, T + 1, S)
        for j, (i, t) in enumerate(zip(sent_pos, steps)):
            sent = step.sents[i]
            if len(sent.hyps) < self.cfg.beam:
                sent.hyps.append(_Finished(scores[j], j, t, tokens, cum, hyp_attn))

    def _unreachable(self, step: _Step, scores: Tensor) -> Tensor:
        """Rule 7 per sentence: no live hypothesis can reach its ``nbest``-th finished score."""
        t = torch.tensor(step.t, dtype=torch.float32, device=scores.device)
        max_len = torch.tensor([s.max_len for s in step.sents], dtype=torch.float32,
                               device=scores.device)
        kth = torch.tensor([s.kth_best(self.cfg.nbest) for s in step.sents], device=scores.device)
        return (kth >= best_reachable(scores, t, max_len, self.cfg)).cpu()

    def _advance(self, step: _Step, state, attn: Tensor | None, enc, cand: Candidates,
                 picks: Tensor, scores: Tensor, done: list[bool]) -> None:
        """Rule 5 for the sentences that go on: their ``beam`` next rows and histories."""
        beam = self.cfg.beam
        kept_list = [i for i, d in enumerate(done) if not d]  # (b',)
        self.sents = [step.sents[i] for i in kept_list]
        self.t = [step.t[i] + 1 for i in kept_list]
        if not kept_list:
            self.state = self.enc = self.tokens = self.cum = self.attn = None
            return
        rows = cand.rows.gather(1, picks)  # (b, beam) of the step's rows
        tokens = cand.tokens.gather(1, picks)  # (b, beam)
        leaving = len(kept_list) < len(done)
        if leaving:
            kept = torch.tensor(kept_list, device=rows.device)  # (b',)
            rows, tokens, scores = rows[kept], tokens[kept], scores[kept]
        rows = rows.view(-1)  # (b'·beam,)
        keep_cols = max(self.t)  # the longest history left
        self.tokens = torch.cat([step.tokens[rows], tokens.view(-1, 1)], dim=1)[:, -keep_cols:]
        self.cum = torch.cat([step.cum[rows], scores.view(-1, 1)], dim=1)[:, -keep_cols:]
        self.attn = None if attn is None else _with_step(step.attn[rows], attn[rows])[:, -keep_cols:]
        self.state = self.model.reorder_state(state, rows)
        if self._shared:  # one encoder row per sentence: keep those still running
            if leaving:
                enc = self.model.reorder_encoder_out(enc, kept)
        elif leaving or step.width != beam:
            first_rows = torch.tensor([i * step.width for i in kept_list], device=rows.device)
            enc = self.model.reorder_encoder_out(enc, first_rows.repeat_interleave(beam))
        self.enc = enc


def _with_step(history: Tensor, attn: Tensor) -> Tensor:
    """Attention history (n, T, S') and this step's attention (n, S), S' <= S (the search's
    sources only grow while rows run) -> (n, T + 1, S), the history padded with 0 along S."""
    if history.size(2) < attn.size(1):
        history = F.pad(history, (0, attn.size(1) - history.size(2)))
    return torch.cat([history, attn.unsqueeze(1)], dim=1)
