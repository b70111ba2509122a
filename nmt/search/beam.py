"""Batched beam search, step for step fairseq 0.12.2's ``SequenceGenerator`` with ``BeamSearch``.

The rules (fairseq-generate's, so imported fairseq models give fairseq's translations):

1. Every hypothesis starts from ``prev_tokens = [eos]``. At step 0 each sentence has one live
   hypothesis (fairseq expands only beam 0 of identical beams); afterwards ``beam``.
2. The log-probs of each step go through the rules of :mod:`nmt.search.common` (pad, unkpen, n-gram
   blocking, forced eos at ``max_len``, no eos before ``min_len``, then the target prefix: while a
   sentence's prefix lasts, only its next prefix token is finite).
3. A candidate's score is the cumulative log-prob of its hypothesis plus the token's log-prob.
   The ``2·beam`` best candidates of a sentence over (live hypothesis × vocabulary) are taken
   (fewer if the vocabulary is tiny), best first.
4. An eos candidate finishes its hypothesis only if it ranks among the first ``beam`` candidates
   and its score is finite; an eos ranked lower is dropped. A finished hypothesis scores
   ``cumulative log-prob incl. eos / (length incl. eos) ** lenpen``.
5. The next live hypotheses are the first ``beam`` non-eos candidates, in rank order.
6. A sentence is done once it has ``beam`` finished hypotheses (first come, first served: a
   finished hypothesis is never displaced by a better one found later), or at step ``max_len``,
   where its live hypotheses end with the forced eos, best first, while places remain. Its
   finished hypotheses are then sorted by score and the first ``nbest`` returned: the best of all
   finished hypotheses, not the first or the shortest.
7. Optional ``early_stop``: a sentence is also done when no live hypothesis can still reach its
   ``nbest``-th best finished score. Log-probs are <= 0, so a live hypothesis with cumulative
   ``c`` after ``t + 1`` tokens can end at best with ``c / L ** lenpen`` for some length ``L`` in
   ``[t + 2, max_len + 1]``; that is monotone in ``L``, so the bound is the larger of its two ends
   (for c ≤ 0 and lenpen ≥ 0: ``c / (max_len + 1) ** lenpen``; lenpen 0: ``c``). Every later
   hypothesis descends from a live one, so stopping then never changes the returned n-best; it
   only saves steps (many with lenpen near 0, few with lenpen 1, where the bound is loose).

The hot path is batched tensor work over the (sentences × beam) rows: per step one
``decode_step``, one pass over the log-probs (``amax``), two small ``topk`` and one
``reorder_state``. Only finished hypotheses are handled one by one in Python. Done sentences leave
the batch (state, encoder output and histories shrink), as in fairseq. Unlike fairseq, step 0 runs
the decoder on one row per sentence, and the encoder output is expanded to ``beam`` rows after it,
except for a model that ``shares_encoder_rows`` (its decoder reads one encoder row per sentence).
Over many batches (:func:`beam_batches`), the next batch joins the last rows of the one before
where the model can join a running search (:func:`_search`): the rules above hold batch by batch.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from nmt.errors import NmtError
from nmt.search.candidates import ranked_in_one_pass
from nmt.search.common import (
    EOS_ID,
    NEG_INF,
    Hypothesis,
    SearchConfig,
    apply_step_rules,
    force_prefix,
    in_search_mode,
    max_length,
    searched_batches,
    source_mask,
    starts_now,
    step_attention,
    with_new_rows,
)

_CHUNK_TOKENS = 38  # top_candidates' strided chunks hold about this many tokens (see _chunk_count)


@dataclass
class _Live:
    """The live hypotheses of the active sentences: ``width`` rows per sentence (R = b·width), with
    t the number of steps done.

    sents:  (b,) long, the input sentence of each active sentence
    tokens: (R, t + 1) long, leading eos then the tokens so far
    cum:    (R, t) float32, cumulative score after each token
    attn:   (R, t, S) float32 attention of each step, or None
    """

    sents: Tensor
    tokens: Tensor
    cum: Tensor
    attn: Tensor | None
    width: int


@dataclass
class Candidates:
    """The top candidates of each active sentence, best first: (b, k) each.

    scores: cumulative score; tokens: the token; rows: the live row it extends."""

    scores: Tensor
    tokens: Tensor
    rows: Tensor


class _Finished:
    """The finished hypotheses of every input sentence, plus per sentence their count and the
    ``nbest``-th best score so far (−inf while fewer), for the stopping rules."""

    def __init__(self, bsz: int, cfg: SearchConfig, src: Tensor):
        self.hyps: list[list[Hypothesis]] = [[] for _ in range(bsz)]
        self.count = torch.zeros(bsz, dtype=torch.long, device=src.device)
        self.kth_best = torch.full((bsz,), NEG_INF, device=src.device)
        self.cfg, self.mask = cfg, source_mask(src)

    def add(self, sent: int, hyp: Hypothesis) -> None:
        """Keep ``hyp`` unless the sentence already has ``beam`` finished hypotheses (rule 6)."""
        hyps, cfg = self.hyps[sent], self.cfg
        if len(hyps) >= cfg.beam:
            return
        if hyp.attention is not None:
            hyp.attention = hyp.attention[:, self.mask[sent]]
        hyps.append(hyp)
        self.count[sent] = len(hyps)
        if len(hyps) >= cfg.nbest:
            self.kth_best[sent] = sorted(h.score for h in hyps)[-cfg.nbest]

    def nbest(self) -> list[list[Hypothesis]]:
        """Per sentence the best ``nbest`` by score, best first (stable among equal scores); the
        tensors are cloned out of inference mode so callers get ordinary tensors."""
        return [[clone_hypothesis(h) for h in sorted(hyps, key=lambda h: -h.score)[:self.cfg.nbest]]
                for hyps in self.hyps]


def clone_hypothesis(h: Hypothesis) -> Hypothesis:
    attn = None if h.attention is None else h.attention.clone()
    return Hypothesis(h.tokens.clone(), h.score, h.positional_scores.clone(), attn)


def beam_search(model, src: Tensor, src_lens: Tensor, cfg: SearchConfig | None = None,
                prefix: Tensor | None = None) -> list[list[Hypothesis]]:
    """Beam search over src (B, S), src_lens (B,): per sentence its ``cfg.nbest`` best
    :class:`Hypothesis`, best first (see the module docstring for the rules). ``prefix`` (B, P),
    pad-padded, forces the first tokens of every hypothesis. Put the model in eval mode first."""
    cfg = cfg or SearchConfig()
    return next(beam_batches(model, [(None, src, src_lens, prefix)], cfg))[1]


def beam_batches(model, batches: Iterable, cfg: SearchConfig) -> Iterator[tuple[Any, list[list[Hypothesis]]]]:
    """:func:`beam_search` over many batches, each ``(key, src, src_lens, prefix or None)``,
    yielding ``(key, its n-best lists)`` as each batch finishes (see :func:`_search`)."""
    cfg.validate()
    searched = yield from searched_batches(batches)
    if searched:
        for batch in in_search_mode(searched[0][1].device, cfg, _search(model, searched, cfg)):
            yield batch.key, batch.finished.nbest()


@dataclass
class _Batch:
    """One batch in the search: its sentences' finished hypotheses, its ``max_len``, target
    prefixes (B, P) or None, its step (steps done), its source width and its live hypotheses.
    The decoder state and encoder output of all running batches' rows are the search's."""

    key: Any
    finished: _Finished
    max_len: int
    prefix: Tensor | None
    source_width: int
    live: _Live
    step: int = 0


def _search(model, batches: list, cfg: SearchConfig) -> Iterator[_Batch]:
    """Yield each batch of ``batches`` ((key, src, src_lens, prefix)) once searched.

    A batch's sentences end at different steps, and a sentence whose hypotheses never all end runs
    on to ``max_len`` (fairseq's 200 steps by default) with its ``beam`` rows alone. Where the model
    ``supports_joining``, the next batch joins the running rows once they fall below half of its
    own ``B·beam``, after its first step, taken alone on one row per sentence: the rows of two or
    three batches then share each decoder step, every batch at its own step, with its own rules,
    limit and finished hypotheses, as if it ran alone. Elsewhere a batch starts when the last one
    has ended."""
    pending = iter(batches)
    running: list[_Batch] = []
    state = enc = None
    nxt = next(pending, None)
    while running or nxt is not None:
        if starts_now(model, sum(b.live.tokens.size(0) for b in running), nxt, cfg.beam):
            batch, b_state, b_enc = _start(model, nxt, cfg)
            nxt = next(pending, None)
            b_state, b_enc, ended = _step(model, [batch], b_state, b_enc, cfg)  # step 0 alone
            yield from ended
            if not ended:
                running.append(batch)
                state, enc = with_new_rows(model, state, enc, b_state, b_enc)
            continue
        state, enc, ended = _step(model, running, state, enc, cfg)
        for batch in ended:
            running.remove(batch)
            yield batch
        if not running:
            state = enc = None


def _start(model, batch, cfg: SearchConfig):
    """A batch's :class:`_Batch` (one live row per sentence), decoder state and encoder output."""
    key, src, src_lens, prefix = batch
    enc = model.encode(src, src_lens)
    bsz = src.size(0)
    live = _Live(sents=torch.arange(bsz, device=src.device), tokens=src.new_full((bsz, 1), EOS_ID),
                 cum=torch.zeros(bsz, 0, device=src.device), attn=None, width=1)
    return (_Batch(key, _Finished(bsz, cfg, src), max_length(model, src, cfg, prefix), prefix,
                   src.size(1), live),
            model.init_state(enc), enc)


def _step(model, batches: list[_Batch], state, enc, cfg: SearchConfig):
    """One decoder step over the rows of ``batches`` (in order), then rules 2–7 for each batch;
    returns the state and encoder output of the rows that go on, and the batches that ended."""
    prev = torch.cat([b.live.tokens[:, -1] for b in batches])  # (R,)
    lp, state = model.decode_step(prev, state, enc)  # (R, V)
    attn = step_attention(state, cfg)  # (R, S) or None
    shared = getattr(model, "shares_encoder_rows", False)
    rows, enc_rows, ended, changed = [], [], [], False
    row0 = sent0 = 0
    for b in batches:
        n, width, sents = b.live.tokens.size(0), b.live.width, b.live.sents.numel()
        step_attn = None if attn is None else attn[row0:row0 + n, :b.source_width]
        went_on = _batch_step(b, lp[row0:row0 + n], step_attn, cfg)
        if went_on is None:
            ended.append(b)
            changed = True
        else:
            b_rows, kept = went_on
            rows.append(b_rows + row0)
            enc_rows.append(_encoder_rows(kept, width, cfg.beam, shared) + (sent0 if shared else row0))
            changed = changed or kept.numel() < sents or (width != cfg.beam and not shared)
        row0, sent0 = row0 + n, sent0 + sents
    if len(ended) == len(batches):
        return None, None, ended
    state = model.reorder_state(state, torch.cat(rows))
    if changed:
        enc = model.reorder_encoder_out(enc, torch.cat(enc_rows))
    return state, enc, ended


def _encoder_rows(kept: Tensor, width: int, beam: int, shared: bool) -> Tensor:
    """Which encoder rows of a batch go on, for its sentences ``kept`` (b',) of ``width`` rows:
    one per sentence where the model ``shares_encoder_rows`` (``shared``), else one per next
    live row."""
    if shared:
        return kept
    rows = kept.repeat_interleave(beam) * width  # (b'·beam,): each sentence's first row
    if width == beam:
        rows = rows + torch.arange(beam, device=kept.device).repeat(kept.numel())
    return rows


def _batch_step(b: _Batch, lp: Tensor, step_attn: Tensor | None,
                cfg: SearchConfig) -> tuple[Tensor, Tensor] | None:
    """Rules 2–7 for batch ``b`` on its rows' log-probs lp (R_b, V) and attention (R_b, S_b):
    the rows (of its numbering) of its next live hypotheses and the positions (b',) of its
    sentences still running; None once all its sentences are done."""
    live, step = b.live, b.step
    history = live.tokens[:, 1:] if cfg.no_repeat_ngram_size else None
    apply_step_rules(lp, step, b.max_len, cfg, history)
    if b.prefix is not None and step < b.prefix.size(1):
        rows_prefix = b.prefix[live.sents].repeat_interleave(live.width, dim=0)  # (R, P)
        force_prefix(lp, step, b.max_len, rows_prefix)
    attn = _append_attention(live.attn, step_attn)  # (R, t + 1, S)
    if step == b.max_len:
        _finish_all(lp, live, attn, step, cfg, b.finished)
        return None
    cand = _top_candidates(lp, live, cfg.beam)
    _finish(cand, live, attn, step, cfg, b.finished)
    picks, scores = next_beams(cand, cfg.beam)  # (b, beam) each
    done = b.finished.count[live.sents] >= cfg.beam  # (b,)
    if cfg.early_stop:
        done |= b.finished.kth_best[live.sents] >= best_reachable(scores, step, b.max_len, cfg)
    if done.all():
        return None
    kept = (~done).nonzero().squeeze(1)  # (b',)
    rows = cand.rows.gather(1, picks)[kept].view(-1)  # (b'·beam,) rows of the current numbering
    tokens = cand.tokens.gather(1, picks)[kept].view(-1, 1)  # (b'·beam, 1)
    b.live = _Live(sents=live.sents[kept], tokens=torch.cat([live.tokens[rows], tokens], dim=1),
                   cum=torch.cat([live.cum[rows], scores[kept].view(-1, 1)], dim=1),
                   attn=None if attn is None else attn[rows], width=cfg.beam)
    b.step += 1
    return rows, kept


def _append_attention(history: Tensor | None, attn: Tensor | None) -> Tensor | None:
    """history (R, t, S) + this step's attn (R, S) -> (R, t + 1, S)."""
    if attn is None:
        return None
    attn = attn.unsqueeze(1)
    return attn if history is None else torch.cat([history, attn], dim=1)


def _top_candidates(lp: Tensor, live: _Live, beam: int) -> Candidates:
    """Rule 3 for the live rows: :func:`top_candidates` with their widths and last scores."""
    cum = live.cum[:, -1:] if live.cum.size(1) else None  # (R, 1)
    return top_candidates(lp, cum, live.sents.numel(), live.width, beam)


def top_candidates(lp: Tensor, cum: Tensor | None, bsz: int, width: int,
                   beam: int) -> Candidates:
    """Rule 3: the best ``2·beam`` of (row × token) per sentence, from lp (R, V) with R = bsz·width
    rows, each with its cumulative score so far ``cum`` (R, 1) (None: all 0, at step 0); NaN
    counts as −inf. Float32 log-probs on the CPU are ranked in one C++ pass
    (:mod:`nmt.search.candidates`), others by :func:`ranked_in_chunks`, its reference."""
    vocab = lp.size(1)
    k = min(2 * beam, width * vocab - 1)  # fairseq's -1: never all of the vocabulary
    if k < beam:
        raise NmtError(f"beam {beam} is too large for a vocabulary of {vocab}")
    fast = ranked_in_one_pass(lp, cum, bsz, width, k)
    if fast is not None:
        return Candidates(*fast)
    return ranked_in_chunks(lp, cum, bsz, width, k)


def ranked_in_chunks(lp: Tensor, cum: Tensor | None, bsz: int, width: int, k: int) -> Candidates:
    """:func:`top_candidates`' ``k`` best in PyTorch operations.

    One ``topk`` over all (width × V) scores costs more than the model's own output layer on a
    small model, so it is done in two stages. Each row's vocabulary is cut into ``C`` strided
    chunks (chunk ``c`` holds ids ``c, c + C, c + 2C, …``); a chunk's score is the row's cumulative
    score plus the chunk's best log-prob. Every one of the best ``k`` candidates lies in one of the
    ``k`` best chunks (otherwise ``k`` chunks would each hold a better candidate), so ranking the
    tokens of those chunks gives exactly the top ``k`` (ties aside), reading lp once (``amax``).
    NaN counts as −inf: ``amax`` and ``topk`` both let a NaN through to the top, and only then is
    lp cleaned and ranked again."""
    vocab = lp.size(1)
    chunks = _chunk_max(lp, _chunk_count(vocab, k))  # (R, C)
    n_chunks = chunks.size(1)
    if cum is not None:
        chunks = chunks + cum
    best_chunks = chunks.view(bsz, -1).topk(k, dim=1).indices  # (b, k) over (width · C)
    offsets = torch.arange(bsz, device=lp.device).unsqueeze(1) * width  # (b, 1)
    rows = torch.div(best_chunks, n_chunks, rounding_mode="floor") + offsets  # (b, k)
    ids = best_chunks.remainder(n_chunks).unsqueeze(2) + torch.arange(
        0, vocab, n_chunks, device=lp.device)  # (b, k, m): the chunks' ids, some past the end
    valid = ids < vocab
    ids = ids.clamp(max=vocab - 1)  # (those past the end score −inf)
    scores = lp[rows.unsqueeze(2), ids].masked_fill(~valid, NEG_INF)
    if cum is not None:
        scores = scores + cum[rows]  # (b, k, m) + (b, k, 1)
    top, index = scores.view(bsz, -1).topk(k, dim=1)  # (b, k), best first
    if bool(torch.isnan(top[:, 0]).any()):
        lp.masked_fill_(torch.isnan(lp), NEG_INF)
        return ranked_in_chunks(lp, cum, bsz, width, k)
    m = ids.size(2)
    pick = torch.div(index, m, rounding_mode="floor")  # which of the k chunks
    return Candidates(scores=top, tokens=ids.view(bsz, -1).gather(1, index),
                      rows=rows.gather(1, pick))


def _chunk_count(vocab: int, k: int) -> int:
    """How many strided chunks to rank a vocabulary in: about ``_CHUNK_TOKENS`` tokens each, the
    count a multiple of 64 (fastest at 9,808 and at 40,000 target pieces alike, docs/results.md),
    at least ``k`` (the chunks ranked first) and at most one chunk per token."""
    return min(vocab, max(k, vocab // _CHUNK_TOKENS // 64 * 64, 64))


def _chunk_max(lp: Tensor, n_chunks: int) -> Tensor:
    """lp (R, V) -> (R, C): the largest entry of each strided chunk ``{c, c + C, c + 2C, …}``."""
    rows, vocab = lp.shape
    full = vocab // n_chunks * n_chunks
    chunks = lp[:, :full].view(rows, -1, n_chunks).amax(dim=1)  # (R, C)
    rest = vocab - full
    if rest:
        chunks[:, :rest] = torch.maximum(chunks[:, :rest], lp[:, full:])
    return chunks


def _finish(cand: Candidates, live: _Live, attn: Tensor | None, step: int, cfg: SearchConfig,
            finished: _Finished) -> None:
    """Rule 4: finish the finite eos candidates among the first ``beam`` ranks."""
    top = slice(0, cfg.beam)
    is_eos = cand.tokens[:, top].eq(EOS_ID) & cand.scores[:, top].ne(NEG_INF)  # (b, beam)
    if bool(is_eos.any()):
        sent_pos, rank = is_eos.nonzero(as_tuple=True)  # (n,) each, sentence-major like fairseq
        _add_finished(cand.rows[sent_pos, rank], cand.scores[sent_pos, rank], sent_pos,
                      live, attn, step, cfg, finished)


def _finish_all(lp: Tensor, live: _Live, attn: Tensor | None, step: int, cfg: SearchConfig,
                finished: _Finished) -> None:
    """Rule 6 at step ``max_len``: every live hypothesis ends with the forced eos, best first.

    fairseq gets the same through rules 3–4 (the only finite candidates are then the live rows'
    eos); done directly, a sentence keeps a hypothesis (scored −inf) even if its model gave eos
    −inf or NaN, as greedy decoding does."""
    total = lp[:, EOS_ID].masked_fill(torch.isnan(lp[:, EOS_ID]), NEG_INF)  # (R,)
    if live.cum.size(1):
        total = total + live.cum[:, -1]
    bsz = live.sents.numel()
    order = total.view(bsz, live.width).argsort(dim=1, descending=True, stable=True)  # (b, w)
    rows = (order + torch.arange(bsz, device=lp.device).unsqueeze(1) * live.width).view(-1)
    sent_pos = torch.arange(bsz, device=lp.device).repeat_interleave(live.width)
    _add_finished(rows, total[rows], sent_pos, live, attn, step, cfg, finished)


def _add_finished(rows: Tensor, total: Tensor, sent_pos: Tensor, live: _Live,
                  attn: Tensor | None, step: int, cfg: SearchConfig, finished: _Finished) -> None:
    """Live rows (n,) ending with eos at this step with cumulative scores ``total`` (n,); their
    sentences are ``sent_pos`` (n,) in the active batch. The only loop over hypotheses."""
    n = rows.numel()
    tokens = torch.cat([live.tokens[rows, 1:], rows.new_full((n, 1), EOS_ID)], dim=1)  # (n, t+1)
    cum = torch.cat([live.cum[rows], total.unsqueeze(1)], dim=1)  # (n, t + 1)
    positional = torch.cat([cum[:, :1], cum[:, 1:] - cum[:, :-1]], dim=1)  # (n, t + 1)
    scores = (total / (step + 1) ** cfg.lenpen).tolist()
    hyp_attn = attn[rows] if attn is not None else None  # (n, t + 1, S)
    for i, sent in enumerate(live.sents[sent_pos].tolist()):
        finished.add(sent, Hypothesis(tokens[i], scores[i], positional[i],
                                      None if hyp_attn is None else hyp_attn[i]))


def next_beams(cand: Candidates, beam: int) -> tuple[Tensor, Tensor]:
    """Rule 5: the ranks (b, beam) of the first ``beam`` non-eos candidates and their scores.

    Only with a vocabulary smaller than ``2·beam + 1`` can there be too few; eos candidates then
    fill the gap as dead hypotheses (score −inf)."""
    k = cand.tokens.size(1)
    is_eos = cand.tokens.eq(EOS_ID)  # (b, k)
    order = is_eos.long() * k + torch.arange(k, device=is_eos.device)  # non-eos first, by rank
    picks = order.topk(beam, dim=1, largest=False).indices  # (b, beam)
    scores = cand.scores.gather(1, picks).masked_fill(is_eos.gather(1, picks), NEG_INF)
    return picks, scores


def best_reachable(scores: Tensor, step: int, max_len: int, cfg: SearchConfig) -> Tensor:
    """Rule 7: an upper bound (b,) on the final score of any descendant of the live hypotheses,
    whose cumulative scores after ``step + 1`` tokens are ``scores`` (b, beam)."""
    best = scores.max(dim=1).values  # (b,)
    # c / L ** lenpen is monotone in L, so its largest value is at one end of [t + 2, max_len + 1]
    return torch.maximum(best / (step + 2) ** cfg.lenpen, best / (max_len + 1) ** cfg.lenpen)
