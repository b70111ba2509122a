"""The model contract every family implements; beam search and the trainer know nothing else.

Shapes are batch-first: ``B`` sentences, ``S`` source and ``T`` target positions, ``V`` the target
vocabulary. Token ids are ``long``; the special ids come from :mod:`nmt.data.dictionary`, and the
decoder input starts with eos (fairseq's convention): ``tgt_in = [eos, y_1, …, y_n]``.

Each family defines two small dataclasses, its ``EncoderOut`` (what the decoder reads from the
source) and its decoder ``State`` (what incremental decoding carries from one step to the next),
with the shapes of their fields in the docstring. Both are immutable in use: ``reorder_*`` and
``decode_step`` return new objects and never modify their arguments, so a beam search may keep
old states around.

Further rules search relies on:

- ``decode_step`` returns a fresh log-probability tensor that the caller may modify in place;
- a ``State`` may carry ``attn``: (B, S) float, the step's attention over the source (averaged
  over layers where there are several), used for alignments and unknown-word replacement;
- ``max_positions()[1]`` is the number of decoder positions, so a hypothesis has at most that
  many tokens including its eos;
- the caller puts the model in eval mode before searching;
- a family that can let sentences join a running search (continuous batching,
  :mod:`nmt.search.continuous`) sets ``supports_joining`` and implements
  :meth:`~Seq2SeqModel.concat_encoder_out` and :meth:`~Seq2SeqModel.concat_states`; its state then
  keeps each row's own position, since rows that joined at different steps are at different ones;
- a family whose decoder reads one encoder row per sentence however many rows (hypotheses) the
  sentence has, ``w`` consecutive rows each, sets ``shares_encoder_rows``: beam search then never
  expands the encoder output to ``beam`` rows and only selects the sentences still running
  (its decoder must still accept one encoder row per decoder row, as an ensemble, which does not
  share, passes it; a shortlist shares where its model does);
- ``output_layer`` names the module that maps the decoder's output to the target vocabulary (a
  Linear, or int8 dynamic Linear), which a lexical shortlist (:mod:`nmt.search.shortlist`, built
  by :mod:`nmt.data.shortlist`) narrows to a subset of the vocabulary.
"""

from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod
from typing import Any, Generic, TypeVar

from torch import Tensor, nn

from nmt.modules.log_softmax import log_softmax_float32

EncoderOut = TypeVar("EncoderOut")
State = TypeVar("State")


class Seq2SeqModel(nn.Module, ABC, Generic[EncoderOut, State]):
    """An encoder-decoder translation model with teacher-forced and incremental decoding.

    The property every family must pass: feeding ``tgt_in`` one token at a time through
    :meth:`decode_step` gives the same log-probabilities as :meth:`forward` over the whole of it.
    """

    output_layer = "decoder.output"  # dotted name of the layer producing the vocabulary logits

    @abstractmethod
    def forward(self, src: Tensor, src_lens: Tensor, tgt_in: Tensor) -> Tensor:
        """Teacher forcing: src (B, S) long, src_lens (B,), tgt_in (B, T) -> logits (B, T, V)."""

    @abstractmethod
    def encode(self, src: Tensor, src_lens: Tensor) -> EncoderOut:
        """Run the encoder once: src (B, S) long, src_lens (B,) long."""

    @abstractmethod
    def init_state(self, enc: EncoderOut) -> State:
        """The decoder state before the first step, for the batch of ``enc``."""

    @abstractmethod
    def decode_step(self, prev_tokens: Tensor, state: State,
                    enc: EncoderOut) -> tuple[Tensor, State]:
        """One step: prev_tokens (B,) -> (log_probs (B, V) float32, the next state)."""

    def reorder_state(self, state: State, index: Tensor) -> State:
        """A new state whose row ``b`` is row ``index[b]`` of ``state`` (index (B',) long).
        The default selects rows of every tensor field (see :func:`select_rows`)."""
        return select_rows(state, index)

    def reorder_encoder_out(self, enc: EncoderOut, index: Tensor) -> EncoderOut:
        """A new encoder output whose row ``b`` is row ``index[b]`` of ``enc`` (default: as
        :meth:`reorder_state`)."""
        return select_rows(enc, index)

    supports_joining = False  # see concat_encoder_out / concat_states
    shares_encoder_rows = False  # see the module docstring

    def concat_encoder_out(self, encs: list[EncoderOut]) -> EncoderOut:
        """The rows of several encoder outputs, in order, as one (their sources may differ in
        length). Only families with ``supports_joining``."""
        raise NotImplementedError(f"{type(self).__name__} cannot join running searches")

    def concat_states(self, states: list[State]) -> State:
        """The rows of several decoder states, in order, as one, each row keeping its own
        position (the states may be at different steps). Only families with
        ``supports_joining``."""
        raise NotImplementedError(f"{type(self).__name__} cannot join running searches")

    def max_positions(self) -> tuple[int, int]:
        """The longest (source, target) sequences the model accepts, in tokens (default: the
        config's ``max_source_positions`` and ``max_target_positions``)."""
        return self.cfg.max_source_positions, self.cfg.max_target_positions

    def output_projections(self) -> list[tuple[nn.Module, str]]:
        """Where the vocabulary logits are made: [(parent module, attribute name)] of
        ``output_layer`` (an ensemble has one per member)."""
        parent, _, name = self.output_layer.rpartition(".")
        return [(self.get_submodule(parent), name)]

    @staticmethod
    def log_probs(logits: Tensor) -> Tensor:
        """Normalised log-probabilities over the last dim, in float32 whatever the logits' dtype
        (bf16 logits on the CPU through a C++ kernel: :mod:`nmt.modules.log_softmax`)."""
        return log_softmax_float32(logits)


def select_rows(obj: Any, index: Tensor) -> Any:
    """A copy of the dataclass ``obj`` with every tensor field (or list/tuple of tensors) indexed by
    ``index`` along dim 0, the batch dim. Other fields (ints, None) are copied as they are."""

    def pick(value: Any) -> Any:
        if isinstance(value, Tensor):
            return value.index_select(0, index)
        if isinstance(value, (list, tuple)):
            return type(value)(pick(v) for v in value)
        return value

    changes = {f.name: pick(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    return dataclasses.replace(obj, **changes)
