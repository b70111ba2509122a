"""Lexical shortlist at search time: the output layer over each batch's likely target pieces only.

For a batch the candidates are the union of the shortlist's frequent target pieces, the target
pieces listed for its source pieces (:mod:`nmt.data.shortlist`), the specials and its target
prefixes; the model's output layer (``output_layer`` of the model contract) computes logits for
those alone:

    logits = W[C] h + b[C],  log p(y | ·) = log_softmax over C,  C the batch's candidates

Search runs unchanged over each batch's narrowed vocabulary (the specials keep their ids, the
others are renumbered in the order of C) through :class:`ShortlistedModel`, a model of the contract
that knows each decoder row's batch: it maps each step's input tokens back to the full vocabulary
before the model embeds them, and makes every row's logits over its own batch's candidates. Batches
running side by side (:func:`nmt.search.search_batches`) share the decoder's steps; a step over
rows of several batches makes each batch's logits apart and pads the narrower ones with −inf
columns, tokens no search can choose. The chosen ids are mapped back at the end.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from nmt.data.dictionary import PAD_ID
from nmt.errors import NmtError
from nmt.models.base import Seq2SeqModel
from nmt.search.common import NEG_INF


@dataclass
class BoundShortlist:
    """frequent: sorted target ids (specials included); table: source id -> target ids."""

    frequent: Tensor
    table: dict[int, np.ndarray]

    @classmethod
    def of(cls, frequent: list[int], table: dict[int, np.ndarray]) -> BoundShortlist:
        """From :meth:`nmt.data.shortlist.Shortlist.ids`."""
        return cls(torch.tensor(frequent, dtype=torch.long), table)

    def candidates(self, src: Tensor, prefix: Tensor | None = None) -> Tensor:
        """The sorted target ids (C,) a batch src (B, S) may produce: the frequent ones, those of
        its source pieces and those of its prefixes (B, P). Ids 0..3 (the specials) come first,
        so they keep their numbers in the narrowed vocabulary."""
        found = [self.frequent.numpy()]
        found += [self.table[i] for i in np.unique(src.cpu().numpy()) if int(i) in self.table]
        if prefix is not None:
            found.append(prefix.cpu().numpy().ravel())
        return torch.from_numpy(np.unique(np.concatenate(found))).to(src.device)


def narrowed_layer(layer: nn.Module, ids: Tensor) -> nn.Module:
    """``layer`` over the rows ``ids``, whose logits equal the full layer's there: the layer's own
    ``rows(ids)`` (the layers of :mod:`nmt.modules.linear`, whose packed bf16 product spares
    autocast's cast of the weight at every step, and the int8 layers of :mod:`nmt.modules.int8`)."""
    if not hasattr(layer, "rows"):
        raise NmtError(f"a shortlist needs an output layer that narrows itself (rows(ids)), found "
                       f"{type(layer).__name__}")
    return layer.rows(ids)


@dataclass
class ShortlistedEncoderOut:
    """The model's encoder output and each row's vocabulary: group (B,) long."""

    inner: Any
    group: Tensor


@dataclass
class ShortlistedState:
    """The model's decoder state and each row's vocabulary: group (R,) long."""

    inner: Any
    group: Tensor

    @property
    def attn(self) -> Tensor | None:
        """The step's attention (R, S) of the model's state (see the model contract)."""
        return getattr(self.inner, "attn", None)


class ShortlistedModel(Seq2SeqModel):
    """``model`` seen through a narrowed vocabulary per batch. :meth:`add` gives a batch's source
    its target ids ``ids`` (C,): token i of that batch is ``ids[i]`` of ``model``, on the way in
    (the decoder's input tokens) and out (the logits). The search then runs on this model as on
    any other; it joins running searches where ``model`` can."""

    def __init__(self, model: Seq2SeqModel):
        super().__init__()
        self.model = model
        self.supports_joining = model.supports_joining
        self.shares_encoder_rows = model.shares_encoder_rows
        self.ids: list[Tensor] = []  # group -> its target ids (C,)
        self._groups: dict[int, int] = {}  # id(src) of an added batch not encoded yet -> its group
        self._outputs = [(parent, name, _RowsOutput(getattr(parent, name), self))
                         for parent, name in model.output_projections()]
        self.runs: list[tuple[int, int, int]] = []  # the current call's (group, first row, rows)

    def add(self, src: Tensor, ids: Tensor) -> int:
        """Let the batch ``src`` (B, S) produce the sorted target ids ``ids`` (C,), specials first;
        returns its group. The search must encode this very tensor."""
        self.ids.append(ids)
        self._groups[id(src)] = len(self.ids) - 1
        return len(self.ids) - 1

    def release(self, group: int) -> None:
        """Free what the batch ``group`` used once it is searched (its narrowed output layers)."""
        for _, _, rows_output in self._outputs:
            rows_output.narrowed.pop(group, None)

    def forward(self, src: Tensor, src_lens: Tensor, tgt_in: Tensor) -> Tensor:
        """Teacher forcing over the batch's vocabulary: tgt_in (B, T) narrowed ids -> (B, T, C)."""
        group = self._group_of(src)
        with self._narrowed([(group, 0, src.size(0))]):
            return self.model(src, src_lens, self.ids[group][tgt_in])

    def encode(self, src: Tensor, src_lens: Tensor) -> ShortlistedEncoderOut:
        group = torch.full((src.size(0),), self._group_of(src), dtype=torch.long, device=src.device)
        return ShortlistedEncoderOut(self.model.encode(src, src_lens), group)

    def init_state(self, enc: ShortlistedEncoderOut) -> ShortlistedState:
        return ShortlistedState(self.model.init_state(enc.inner), enc.group)

    def decode_step(self, prev_tokens: Tensor, state: ShortlistedState, enc: ShortlistedEncoderOut
                    ) -> tuple[Tensor, ShortlistedState]:
        """prev_tokens (R,) in each row's narrowed ids -> log-probs (R, C) over the widest
        vocabulary of the rows' batches, −inf past a row's own."""
        runs = _runs(state.group)
        full = torch.cat([self.ids[g][prev_tokens[a:a + n]] for g, a, n in runs]) \
            if len(runs) > 1 else self.ids[runs[0][0]][prev_tokens]  # (R,) full-vocabulary ids
        with self._narrowed(runs):
            lp, inner = self.model.decode_step(full, state.inner, enc.inner)
        return lp, ShortlistedState(inner, state.group)

    def reorder_state(self, state: ShortlistedState, index: Tensor) -> ShortlistedState:
        return ShortlistedState(self.model.reorder_state(state.inner, index),
                                state.group.index_select(0, index))

    def reorder_encoder_out(self, enc: ShortlistedEncoderOut, index: Tensor) -> ShortlistedEncoderOut:
        return ShortlistedEncoderOut(self.model.reorder_encoder_out(enc.inner, index),
                                     enc.group.index_select(0, index))

    def concat_encoder_out(self, encs: list[ShortlistedEncoderOut]) -> ShortlistedEncoderOut:
        return ShortlistedEncoderOut(self.model.concat_encoder_out([e.inner for e in encs]),
                                     torch.cat([e.group for e in encs]))

    def concat_states(self, states: list[ShortlistedState]) -> ShortlistedState:
        return ShortlistedState(self.model.concat_states([s.inner for s in states]),
                                torch.cat([s.group for s in states]))

    def max_positions(self) -> tuple[int, int]:
        return self.model.max_positions()

    def output_projections(self) -> list[tuple[nn.Module, str]]:
        return self.model.output_projections()

    def _group_of(self, src: Tensor) -> int:
        group = self._groups.pop(id(src), None)
        if group is None:
            raise NmtError("a shortlisted search met a batch it was not given (ShortlistedModel.add)")
        return group

    @contextmanager
    def _narrowed(self, runs: list[tuple[int, int, int]]) -> Iterator[None]:
        """Within the block, the model's output layers make the logits of ``runs``' vocabularies."""
        self.runs = runs
        try:
            for parent, name, rows_output in self._outputs:
                setattr(parent, name, rows_output)
            yield
        finally:
            for parent, name, rows_output in self._outputs:
                setattr(parent, name, rows_output.layer)


class _RowsOutput(nn.Module):
    """An output layer over each row's own vocabulary: x (R, ..., D) -> (R, ..., C), C the widest
    vocabulary of the current runs (``shortlisted.runs``), −inf past a run's own."""

    def __init__(self, layer: nn.Module, shortlisted: ShortlistedModel):
        super().__init__()
        self.layer = layer
        self._shortlisted = [shortlisted]  # in a list: not a submodule
        self.narrowed: dict[int, nn.Module] = {}  # group -> the layer over its vocabulary

    def forward(self, x: Tensor) -> Tensor:
        runs = self._shortlisted[0].runs
        if len(runs) == 1:
            return self._layer(runs[0][0])(x)
        parts = [self._layer(g)(x[a:a + n]) for g, a, n in runs]
        width = max(p.size(-1) for p in parts)
        out = parts[0].new_empty((x.size(0), *parts[0].shape[1:-1], width))  # (R, ..., C)
        for (_, a, n), part in zip(runs, parts):
            out[a:a + n, ..., : part.size(-1)] = part
            out[a:a + n, ..., part.size(-1):] = NEG_INF
        return out

    def _layer(self, group: int) -> nn.Module:
        """The layer narrowed to ``group``'s vocabulary, made once (until released)."""
        layer = self.narrowed.get(group)
        if layer is None:
            with torch.inference_mode(False):  # a weight of its own, outside the search's mode
                layer = self.narrowed[group] = narrowed_layer(self.layer, self._shortlisted[0].ids[group])
        return layer


def _runs(group: Tensor) -> list[tuple[int, int, int]]:
    """Runs of equal values in group (R,): [(value, first row, rows)] (one per batch when each
    batch's rows are together, as a search keeps them)."""
    values, counts = torch.unique_consecutive(group, return_counts=True)
    found, start = [], 0
    for value, n in zip(values.tolist(), counts.tolist()):
        found.append((value, start, n))
        start += n
    return found


def to_narrowed(ids: Tensor, tokens: Tensor) -> Tensor:
    """Full-vocabulary tokens (any shape; pad stays pad) -> their places in ``ids``; every
    token must be one of ``ids``."""
    return torch.searchsorted(ids, tokens).masked_fill(tokens.eq(PAD_ID), PAD_ID)
