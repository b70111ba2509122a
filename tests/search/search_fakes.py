"""Fake models for search tests: the model contract with hand-set per-step probabilities.

Token names: A=4, B=5, C=6, … (ids below 4 are the specials). A table maps a prefix (the tuple of
tokens generated so far, without the leading eos) to ``{token: probability}``; the tokens it leaves
out share what remains of the mass, so a prefix missing from the table is uniform. Log-probs are
computed row by row in Python, so a row never depends on the rest of its batch.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass

import torch
from torch import Tensor
from torch.nn.functional import pad

from nmt.data.dictionary import EOS_ID, PAD_ID, UNK_ID
from nmt.models.base import Seq2SeqModel, select_rows

V = 20
A, B, C, D, E, F = range(4, 10)


@dataclass
class FakeEnc:
    src: Tensor  # (B, S)


@dataclass
class FakeState:
    prefix: Tensor  # (B, t + 1): leading eos, then the tokens fed so far
    attn: Tensor | None = None  # (B, S)


def prefix_hash(key: tuple, salt: int = 0) -> int:
    digest = hashlib.sha256(repr((salt, key)).encode()).digest()
    return int.from_bytes(digest[:8], "little")


def attention_position(key: tuple, n_real: int) -> int:
    """Which real source token the step after ``key`` attends to (a hash of the prefix)."""
    return prefix_hash(key, salt=7) % n_real


class FakeModel(Seq2SeqModel[FakeEnc, FakeState]):
    """``probs(src_key, prefix) -> {token: p}`` gives each step's distribution; src_key is the
    sentence's first real source token. Counts the rows of every decode_step in ``rows_seen``."""

    def __init__(self, max_target: int = 1024, with_attention: bool = True):
        super().__init__()
        self.max_target, self.with_attention = max_target, with_attention
        self.rows_seen: list[int] = []

    def probs(self, src_key: int, prefix: tuple) -> dict[int, float]:
        raise NotImplementedError

    def forward(self, src, src_lens, tgt_in):
        raise NotImplementedError

    def encode(self, src, src_lens=None):
        return FakeEnc(src.clone())

    def init_state(self, enc):
        return FakeState(enc.src.new_full((enc.src.size(0), 0), EOS_ID))

    def decode_step(self, prev_tokens, state, enc):
        self.rows_seen.append(prev_tokens.size(0))
        prefix = torch.cat([state.prefix, prev_tokens.unsqueeze(1)], dim=1)  # (B, t + 1)
        lp = torch.empty(prefix.size(0), V)
        attn = torch.zeros(prefix.size(0), enc.src.size(1))
        for b in range(prefix.size(0)):
            real = enc.src[b].ne(PAD_ID).nonzero().squeeze(1)
            row = prefix[b][prefix[b].ne(PAD_ID)]  # left pads: a row that joined a running search
            key = tuple(row[1:].tolist())
            lp[b] = self.row_log_probs(int(enc.src[b, real[0]]), key)
            attn[b, real[attention_position(key, real.numel())]] = 1.0
        return lp, FakeState(prefix, attn if self.with_attention else None)

    def row_log_probs(self, src_key: int, key: tuple) -> Tensor:
        given = self.probs(src_key, key)
        rest = max(1.0 - sum(given.values()), 1e-9) / (V - 1 - len(given))  # pad takes nothing
        row = torch.full((V,), math.log(rest))
        for token, p in given.items():
            row[token] = math.log(p)
        row[PAD_ID] = -math.inf
        return row

    def reorder_state(self, state, index):
        return select_rows(state, index)

    def reorder_encoder_out(self, enc, index):
        return select_rows(enc, index)

    def max_positions(self):
        return (1024, self.max_target)


class TableModel(FakeModel):
    """One table for every sentence; ``default`` for prefixes not in it (else uniform)."""

    def __init__(self, table: dict[tuple, dict[int, float]], default=None, **kwargs):
        super().__init__(**kwargs)
        self.table, self.default = table, default or {}

    def probs(self, src_key, prefix):
        return self.table.get(prefix, self.default)


class RandomModel(FakeModel):
    """A peaked pseudo-random distribution per (sentence, prefix), eos likelier as it grows, so
    hypotheses end at different lengths and beams disagree with greedy."""

    def probs(self, src_key, prefix):
        g = torch.Generator().manual_seed(prefix_hash(prefix, salt=src_key) % 2**62)
        logits = torch.randn(V, generator=g) * 2.5
        logits[EOS_ID] += 0.6 * len(prefix) - 3.0
        logits[UNK_ID] += 1.0
        p = torch.softmax(logits[2:], dim=0)  # ids 0 and 1 get nothing
        return {i + 2: float(p[i]) for i in range(V - 2)}


class JoiningRandomModel(RandomModel):
    """:class:`RandomModel` whose rows can join a running search: sources are right-padded to
    the longest, and the fed tokens of rows at different steps left-padded with pad."""

    supports_joining = True

    def concat_encoder_out(self, encs):
        width = max(e.src.size(1) for e in encs)
        return FakeEnc(torch.cat([pad(e.src, (0, width - e.src.size(1)), value=PAD_ID) for e in encs]))

    def concat_states(self, states):
        width = max(s.prefix.size(1) for s in states)
        return FakeState(torch.cat([pad(s.prefix, (width - s.prefix.size(1), 0), value=PAD_ID)
                                    for s in states]))


def source_batch(keys: list[int], lengths: list[int],
                 left_pad: bool = True) -> tuple[Tensor, Tensor]:
    """Sources whose first real token is ``keys[i]``, ``lengths[i]`` tokens incl. eos, padded."""
    width = max(lengths)
    src = torch.full((len(keys), width), PAD_ID)
    for row, (key, n) in enumerate(zip(keys, lengths)):
        tokens = torch.tensor([key] + [A + (row + j) % 10 for j in range(n - 2)] + [EOS_ID])
        if left_pad:
            src[row, width - n:] = tokens
        else:
            src[row, :n] = tokens
    return src, torch.tensor(lengths)
