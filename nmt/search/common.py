"""What greedy and beam search share: the options, the result type and the per-step rules.

Search knows only the model contract (:mod:`nmt.models.base`) and the special ids of
:mod:`nmt.data.dictionary`. The rules follow fairseq 0.12.2's ``SequenceGenerator`` so that imported
fairseq models give fairseq's translations:

- every hypothesis starts from ``prev_tokens = [eos]``;
- ``max_len = min(int(max_len_a · S + max_len_b), max target positions − 1)`` where ``S`` is the
  padded width of the source batch, eos included; a hypothesis has at most ``max_len`` tokens + eos;
- at step ``t`` (0-based; the token it chooses is the ``t + 1``-th): NaN log-probs count as −inf,
  pad gets −inf, unk loses ``unkpen``, n-gram blocking sets −inf, and then if ``t ≥ max_len``
  only eos is allowed (forced eos), else if ``t < min_len`` eos is not allowed;
- a finished hypothesis scores ``Σ log-probs (eos included) / length ** lenpen``, the length
  counting eos.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import torch
from torch import Tensor

from nmt.data.dictionary import EOS_ID, PAD_ID, UNK_ID
from nmt.errors import NmtError
from nmt.search.candidates import ranked_in_one_pass

NEG_INF = -math.inf
_AUTOCAST = {"bfloat16": torch.bfloat16, "bf16": torch.bfloat16,
             "float16": torch.float16, "fp16": torch.float16}


@dataclass
class SearchConfig:
    """Search options, named after fairseq-generate's (``--beam``, ``--lenpen``, ``--max-len-a`` …).

    ``beam == 1 and nbest == 1`` is greedy decoding. ``early_stop`` ends a sentence as soon as no
    live hypothesis can still reach the ``nbest``-th best finished score (see :mod:`nmt.search.beam`);
    it never changes the returned n-best, only saves steps, so it is off by default to follow
    fairseq step for step. ``autocast_dtype`` (``"bfloat16"`` / ``"float16"`` or a torch dtype) runs
    the model under ``torch.autocast``; log-probs stay float32.

    ``sampling`` draws ``nbest`` independent samples per sentence instead of searching (``beam`` is
    then ignored): each step's token from softmax(log-probs / ``temperature``), restricted to the
    ``topk`` most probable tokens (0: all) and to the smallest set whose probability reaches
    ``topp`` (0: off; Holtzman et al. 2020). ``seed`` seeds the draws of each search call, so the
    same input and options give the same samples. A sample's score is the model's own
    length-normalised log-probability, as for searched hypotheses.

    ``attention`` keeps each hypothesis's attention (alignments, ``--replace-unk``, plots, the
    server's heatmap). Off, the search no longer copies a (rows × steps × source) history at every
    step, and the hypotheses' ``attention`` is None; the tokens and scores are the same.
    """

    beam: int = 5
    lenpen: float = 1.0
    max_len_a: float = 0.0
    max_len_b: int = 200
    min_len: int = 1
    nbest: int = 1
    unkpen: float = 0.0
    no_repeat_ngram_size: int = 0
    early_stop: bool = False
    autocast_dtype: str | torch.dtype | None = None
    sampling: bool = False
    temperature: float = 1.0
    topk: int = 0
    topp: float = 0.0
    seed: int = 0
    attention: bool = True

    def validate(self) -> None:
        if self.beam < 1:
            raise NmtError(f"beam must be >= 1, got {self.beam}")
        if self.sampling:
            self._validate_sampling()
        elif not 1 <= self.nbest <= self.beam:
            raise NmtError(f"nbest must be between 1 and beam ({self.beam}), got {self.nbest}")
        if self.min_len < 0 or self.no_repeat_ngram_size < 0:
            raise NmtError("min_len and no_repeat_ngram_size must be >= 0")
        if self.early_stop and self.unkpen < 0:
            raise NmtError("early_stop needs unkpen >= 0 (its bound assumes log-probs <= 0)")
        autocast_dtype(self)

    def _validate_sampling(self) -> None:
        if self.nbest < 1:
            raise NmtError(f"nbest (samples per sentence) must be >= 1, got {self.nbest}")
        if not self.temperature > 0:
            raise NmtError(f"temperature must be > 0, got {self.temperature}")
        if self.topk < 0 or not 0 <= self.topp <= 1:
            raise NmtError(f"topk must be >= 0 and topp in [0, 1], got {self.topk} and {self.topp}")

    @property
    def greedy(self) -> bool:
        return self.beam == 1 and self.nbest == 1 and not self.sampling


@dataclass
class Hypothesis:
    """One translation.

    tokens:            (L,) long, the output tokens ending with eos (no leading eos)
    score:             Σ positional_scores / L ** lenpen
    positional_scores: (L,) float32, the log-prob of each token (after unkpen)
    attention:         (L, S_b) float32 over the sentence's non-pad source tokens, or None when the
                       decoder state has no ``attn`` field
    """

    tokens: Tensor
    score: float
    positional_scores: Tensor
    attention: Tensor | None = None


def autocast_dtype(cfg: SearchConfig) -> torch.dtype | None:
    value = cfg.autocast_dtype
    if value is None or isinstance(value, torch.dtype):
        return value
    if value not in _AUTOCAST:
        raise NmtError(f"autocast_dtype must be one of {', '.join(_AUTOCAST)}, got {value!r}")
    return _AUTOCAST[value]


def autocast(device: torch.device, cfg: SearchConfig):
    """``torch.autocast`` for ``cfg.autocast_dtype``, or a no-op context."""
    dtype = autocast_dtype(cfg)
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


def search_mode(device: torch.device, cfg: SearchConfig) -> contextlib.ExitStack:
    """The grad mode and autocast a search runs under: inference mode in float32; under autocast,
    ``no_grad`` instead. Autocast keeps its lower-precision copy of each weight (a leaf that
    requires grad) for as long as its context is open, but not in inference mode, where every
    step cast every weight again: the (9808, 256) output layer's 0.5 ms a step among them
    (docs/results.md)."""
    stack = contextlib.ExitStack()
    stack.enter_context(torch.no_grad() if autocast_dtype(cfg) else torch.inference_mode())
    stack.enter_context(autocast(device, cfg))
    return stack


def max_length(model, src: Tensor, cfg: SearchConfig, prefix: Tensor | None = None) -> int:
    """The most tokens before eos: fairseq's ``min(int(a·S + b), max target positions − 1)``,
    raised to the longest target prefix (within the same limit) so a prefix is never cut."""
    limit = model.max_positions()[1] - 1
    wanted = int(cfg.max_len_a * src.size(1) + cfg.max_len_b)
    if prefix is not None:
        wanted = max(wanted, prefix.size(1))
    return max(0, min(wanted, limit))


def searched_batches(batches: Iterable[tuple]):
    """A generator's helper: yields ``(key, [])`` for each batch of no sentence and returns the
    others, checked, with their prefixes checked (None for an empty prefix)."""
    searched = []
    for key, src, src_lens, prefix in batches:
        check_inputs(src, src_lens)
        if src.size(0):
            searched.append((key, src, src_lens, check_prefix(prefix, src)))
        else:
            yield key, []
    return searched


def in_search_mode(device: torch.device, cfg: SearchConfig, work: Iterator) -> Iterator:
    """The items of the generator ``work``, whose code runs under :func:`search_mode` only while
    it makes the next one: the caller's code between items runs outside it (a search over many
    batches hands each batch over as it ends, and its tensors are cloned out of inference mode)."""
    while True:
        with search_mode(device, cfg):
            item = next(work, _DONE)
        if item is _DONE:
            return
        yield item


_DONE = object()


def starts_now(model, running_rows: int, next_batch, rows_per_sentence: int) -> bool:
    """In a search over many batches, whether the next batch ``(key, src, ...)`` (None: no more)
    starts now: when no row runs, or, for a model that ``supports_joining``, once the running rows
    fall below half of the next batch's ``B · rows_per_sentence``."""
    if next_batch is None:
        return False
    wanted = next_batch[1].size(0) * rows_per_sentence
    return running_rows == 0 or (getattr(model, "supports_joining", False)
                                 and 2 * running_rows < wanted)


def with_new_rows(model, state, enc, new_state, new_enc):
    """The running rows' decoder state and encoder output (None when none runs) with a new
    batch's rows after them, each row keeping its own position."""
    if state is None:
        return new_state, new_enc
    return model.concat_states([state, new_state]), model.concat_encoder_out([enc, new_enc])


def check_prefix(prefix: Tensor | None, src: Tensor) -> Tensor | None:
    """A target prefix (B, P) long, padded with pad at the end (a row of pads: no prefix), or
    None; an empty prefix is None."""
    if prefix is None or prefix.numel() == 0:
        return None
    if prefix.dim() != 2 or prefix.size(0) != src.size(0):
        raise NmtError(f"prefix must be (B, P) with B = {src.size(0)} sentences, got "
                       f"{tuple(prefix.shape)}")
    if bool(prefix.eq(EOS_ID).any()):
        raise NmtError("a target prefix cannot contain eos")
    return prefix.to(src.device)


def force_prefix(lp: Tensor, step: int, max_len: int, prefix: Tensor | None) -> Tensor:
    """The prefix rule, after :func:`apply_step_rules`, on lp (R, V) in place: a row whose prefix
    ``prefix`` (R, P) has a token at ``step`` may choose only that token, at its own log-prob
    (fairseq's ``prefix_tokens``). The forced eos at ``max_len`` still wins."""
    if prefix is None or step >= prefix.size(1) or step >= max_len:
        return lp
    wanted = prefix[:, step]  # (R,)
    rows = wanted.ne(PAD_ID).nonzero().squeeze(1)  # (r,)
    if rows.numel():
        kept = lp[rows, wanted[rows]].nan_to_num(nan=NEG_INF, neginf=NEG_INF)  # (r,) −inf stays
        lp[rows] = NEG_INF
        lp[rows, wanted[rows]] = kept
    return lp


def apply_step_rules(lp: Tensor, step: int, max_len: int, cfg: SearchConfig,
                     history: Tensor | None = None) -> Tensor:
    """The per-step rules (module docstring) on lp (R, V), in place; returns lp.

    ``history`` (R, t) holds each row's tokens so far (no leading eos), for n-gram blocking.
    NaNs are left to the selection (greedy's :func:`row_best`, beam's ``_top_candidates``): a NaN
    survives every rule here and comes out on top of ``max``/``amax``/``topk``, so it is caught
    there without an extra pass over lp."""
    lp[:, PAD_ID] = NEG_INF
    if cfg.unkpen:
        lp[:, UNK_ID] -= cfg.unkpen
    if cfg.no_repeat_ngram_size and history is not None:
        block_repeated_ngrams(lp, history, cfg.no_repeat_ngram_size)
    if step >= max_len:
        eos = lp[:, EOS_ID].clone()
        lp.fill_(NEG_INF)
        lp[:, EOS_ID] = eos
    elif step < cfg.min_len:
        lp[:, EOS_ID] = NEG_INF
    return lp


def row_best(lp: Tensor) -> tuple[Tensor, Tensor]:
    """The best entry of each row of lp (R, V): values and ids (R,), NaN counting as −inf, the
    first of equal entries. Float32 on the CPU through the candidate kernel (one compare an
    entry: at 74 rows of 9,808, 30-40 µs against ``max``'s 150 µs); otherwise ``max``, which
    propagates NaN, so it shows in the values."""
    found = ranked_in_one_pass(lp, None, lp.size(0), 1, 1)
    if found is not None:
        return found[0].view(-1), found[1].view(-1)
    values, ids = lp.max(dim=1)
    if bool(torch.isnan(values).any()):
        lp.masked_fill_(torch.isnan(lp), NEG_INF)
        values, ids = lp.max(dim=1)
    return values, ids


def block_repeated_ngrams(lp: Tensor, history: Tensor, n: int) -> None:
    """Forbid every token that would repeat an n-gram of its row: lp (R, V), history (R, t).

    fairseq's ``NGramRepeatBlock`` also counts the leading eos; that changes nothing for n >= 2
    and for n = 1 would forbid eos, so it is left out here."""
    t = history.size(1)
    if t < n:
        return
    windows = history.unfold(1, n, 1)  # (R, t − n + 1, n)
    suffix = history[:, t - n + 1:]  # (R, n − 1)
    hit = (windows[:, :, :-1] == suffix.unsqueeze(1)).all(dim=2)  # (R, t − n + 1)
    rows, cols = hit.nonzero(as_tuple=True)
    lp[rows, windows[rows, cols, -1]] = NEG_INF


def step_attention(state, cfg: SearchConfig) -> Tensor | None:
    """The attention of the last step, (R, S), if the family's state exposes it as ``attn`` and
    ``cfg.attention`` asks for it."""
    attn = getattr(state, "attn", None) if cfg.attention else None
    return attn.float() if isinstance(attn, Tensor) else None


def source_mask(src: Tensor) -> Tensor:
    """(B, S) bool, True at real (non-pad) source tokens, to trim attention to them."""
    return src.ne(PAD_ID)


def check_inputs(src: Tensor, src_lens: Tensor) -> None:
    if src.dim() != 2 or src_lens.dim() != 1 or src_lens.size(0) != src.size(0):
        raise NmtError(f"search needs src (B, S) and src_lens (B,), got {tuple(src.shape)} "
                       f"and {tuple(src_lens.shape)}")
