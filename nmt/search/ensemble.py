"""Ensembles: several models decoding as one, written against the model contract only.

An :class:`Ensemble` is itself a model of the contract, so greedy, beam and sampling search use it
unchanged. At every step it averages the members' probabilities (fairseq's ``EnsembleModel``):

    log p(y | y_<t, x) = log (1/M) Σ_m p_m(y | y_<t, x) = logsumexp_m(log p_m) − log M

Members may be of different families (a ConvS2S with an LSTM) as long as they read the same source
ids and write the same target ids: :func:`nmt.translation.prepare_models` checks that their
pipelines are identical. The step's attention (``State.attn``, for alignments and unknown-word
replacement) is the mean over the members that expose one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from nmt.errors import NmtError
from nmt.models.base import Seq2SeqModel


@dataclass
class EnsembleEncoderOut:
    """One encoder output per member."""

    members: list


@dataclass
class EnsembleState:
    """One decoder state per member; attn (B, S) the members' mean attention, or None."""

    members: list
    attn: Tensor | None = None


class Ensemble(Seq2SeqModel):
    """Models whose per-step probabilities are averaged. The target vocabulary must be shared."""

    def __init__(self, models: list[Seq2SeqModel]):
        super().__init__()
        if not models:
            raise NmtError("an ensemble needs at least one model")
        self.members = nn.ModuleList(models)

    def forward(self, src: Tensor, src_lens: Tensor, tgt_in: Tensor) -> Tensor:
        """Teacher forcing: the averaged log-probs (B, T, V), which are their own logits."""
        return _average([m.log_probs(m(src, src_lens, tgt_in)) for m in self.members])

    def encode(self, src: Tensor, src_lens: Tensor) -> EnsembleEncoderOut:
        return EnsembleEncoderOut([m.encode(src, src_lens) for m in self.members])

    def init_state(self, enc: EnsembleEncoderOut) -> EnsembleState:
        return EnsembleState([m.init_state(e) for m, e in zip(self.members, enc.members)])

    def decode_step(self, prev_tokens: Tensor, state: EnsembleState,
                    enc: EnsembleEncoderOut) -> tuple[Tensor, EnsembleState]:
        steps = [m.decode_step(prev_tokens, s, e)
                 for m, s, e in zip(self.members, state.members, enc.members)]
        states = [s for _, s in steps]
        return _average([lp for lp, _ in steps]), EnsembleState(states, _mean_attention(states))

    def reorder_state(self, state: EnsembleState, index: Tensor) -> EnsembleState:
        states = [m.reorder_state(s, index) for m, s in zip(self.members, state.members)]
        attn = None if state.attn is None else state.attn.index_select(0, index)
        return EnsembleState(states, attn)

    def reorder_encoder_out(self, enc: EnsembleEncoderOut, index: Tensor) -> EnsembleEncoderOut:
        return EnsembleEncoderOut([m.reorder_encoder_out(e, index)
                                   for m, e in zip(self.members, enc.members)])

    def max_positions(self) -> tuple[int, int]:
        sizes = [m.max_positions() for m in self.members]
        return min(s for s, _ in sizes), min(t for _, t in sizes)

    def output_projections(self) -> list[tuple[nn.Module, str]]:
        """Every member's output layer (see :meth:`Seq2SeqModel.output_projections`)."""
        return [found for m in self.members for found in m.output_projections()]


def _average(log_probs: list[Tensor]) -> Tensor:
    """log of the mean probability over the first dim of the stacked log-probs (M, ..., V)."""
    if len(log_probs) == 1:
        return log_probs[0]
    stacked = torch.stack([lp.float() for lp in log_probs])
    return torch.logsumexp(stacked, dim=0) - math.log(len(log_probs))


def _mean_attention(states: list) -> Tensor | None:
    found = [s.attn.float() for s in states if isinstance(getattr(s, "attn", None), Tensor)]
    return torch.stack(found).mean(dim=0) if found else None
