"""Lexical shortlist at search time: the output layer over each batch's likely target pieces only.

For a batch the candidates are the union of the shortlist's frequent target pieces, the target
pieces listed for its source pieces (:mod:`nmt.data.shortlist`), the specials and its target
prefixes; the model's output layer (``output_layer`` of the model contract) computes logits for
those alone:

    logits = W[C] h + b[C],  log p(y | ·) = log_softmax over C,  C the batch's candidates

Search runs unchanged over the narrowed vocabulary (the specials keep their ids, the others are
renumbered in the order of C) through :class:`NarrowedVocabulary`, a model of the contract that
maps each step's input tokens back to the full vocabulary before the model embeds them; the
chosen ids are mapped back at the end.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from nmt.data.dictionary import PAD_ID
from nmt.errors import NmtError
from nmt.models.base import Seq2SeqModel


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


class NarrowedOutput(nn.Module):
    """An output layer restricted to the rows ``ids`` (C,) of its weight: x (..., D) -> (..., C)."""

    def __init__(self, layer: nn.Linear, ids: Tensor):
        super().__init__()
        self.weight = nn.Parameter(layer.weight.detach().index_select(0, ids), requires_grad=False)
        bias = layer.bias
        self.bias = None if bias is None else nn.Parameter(bias.detach().index_select(0, ids),
                                                           requires_grad=False)

    def forward(self, x: Tensor) -> Tensor:
        return F.linear(x, self.weight, self.bias)


def narrowed_layer(layer: nn.Module, ids: Tensor) -> nn.Module:
    """``layer`` (a Linear, or a layer with a ``rows(ids)`` method such as the int8 layers of
    :mod:`nmt.modules.int8`) over the rows ``ids``, whose logits equal the full layer's there."""
    if hasattr(layer, "rows"):
        return layer.rows(ids)
    if not isinstance(layer, nn.Linear):
        raise NmtError(f"a shortlist needs a linear output layer, found {type(layer).__name__}")
    return NarrowedOutput(layer, ids)


@contextmanager
def narrowed_output(model: nn.Module, ids: Tensor) -> Iterator[None]:
    """Within the block, ``model``'s output layer(s) (``model.output_projections()``) produce the
    logits of the target ids ``ids`` (C,) only, in that order."""
    places = model.output_projections()
    originals = [getattr(parent, name) for parent, name in places]
    try:
        for (parent, name), layer in zip(places, originals):
            setattr(parent, name, narrowed_layer(layer, ids))
        yield
    finally:
        for (parent, name), layer in zip(places, originals):
            setattr(parent, name, layer)


class NarrowedVocabulary(Seq2SeqModel):
    """``model`` seen through the target ids ``ids`` (C,): token i of this model is ``ids[i]`` of
    ``model``, on the way in (the decoder's input tokens) and out (use with
    :func:`narrowed_output`, which makes the logits)."""

    def __init__(self, model: Seq2SeqModel, ids: Tensor):
        super().__init__()
        self.model, self.ids = model, ids

    def forward(self, src: Tensor, src_lens: Tensor, tgt_in: Tensor) -> Tensor:
        return self.model(src, src_lens, self.ids[tgt_in])

    def encode(self, src: Tensor, src_lens: Tensor):
        return self.model.encode(src, src_lens)

    def init_state(self, enc):
        return self.model.init_state(enc)

    def decode_step(self, prev_tokens: Tensor, state, enc):
        return self.model.decode_step(self.ids[prev_tokens], state, enc)

    def reorder_state(self, state, index: Tensor):
        return self.model.reorder_state(state, index)

    def reorder_encoder_out(self, enc, index: Tensor):
        return self.model.reorder_encoder_out(enc, index)

    def max_positions(self) -> tuple[int, int]:
        return self.model.max_positions()

    def output_projections(self) -> list[tuple[nn.Module, str]]:
        return self.model.output_projections()


@contextmanager
def narrowed(model: Seq2SeqModel, ids: Tensor) -> Iterator[NarrowedVocabulary]:
    """Within the block, ``model`` as a model over the target ids ``ids`` (C,) alone: its output
    layer narrowed and its decoder fed the full ids."""
    with narrowed_output(model, ids):
        yield NarrowedVocabulary(model, ids)


def to_narrowed(ids: Tensor, tokens: Tensor) -> Tensor:
    """Full-vocabulary tokens (any shape; pad stays pad) -> their places in ``ids``; every
    token must be one of ``ids``."""
    return torch.searchsorted(ids, tokens).masked_fill(tokens.eq(PAD_ID), PAD_ID)
