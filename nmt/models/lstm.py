"""LSTM encoder-decoder with global attention: the baseline every paper compares against.

Luong, Pham & Manning 2015 (*Effective Approaches to Attention-based Neural Machine Translation*),
as fairseq's ``lstm`` architecture builds it:

- encoder: token embedding -> dropout_in -> a (bidirectional) multi-layer LSTM that never reads a
  pad (:class:`Staircase`), so padding cannot reach a real position in either direction ->
  dropout_out;
- decoder: :class:`nmt.modules.luong_decoder.LSTMDecoder` (global attention, input feeding), its
  sizes from the ``decoder_*`` fields; its initial state from the encoder's final states.

Input feeding makes the decoder a loop over time; each step is one fused ``nn.LSTM`` call over all
layers plus two batched matrix products of attention (the source side of the attention is
precomputed once per sentence). Without input feeding the decoder runs in one ``nn.LSTM`` call and
one batched attention over all steps. Everything is batch-first.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from nmt.data.dictionary import PAD_ID
from nmt.errors import NmtError
from nmt.models.base import Seq2SeqModel
from nmt.modules.dropout import Dropout
from nmt.modules.embeddings import uniform_embedding
from nmt.modules.luong_decoder import (
    LSTMDecoder,
    LSTMEncoderOut,
    LSTMState,
    LuongDecoderConfig,
    LuongDecoding,
    uniform_lstm,
)
from nmt.modules.step_order import gather_steps, prefix_mask, reverse_real_steps


@dataclass
class LSTMConfig:
    """Architecture of an LSTM attention model. The defaults are fairseq's ``lstm`` base architecture
    except for the bidirectional encoder.

    ``attention`` is the score, 'dot' | 'general' | 'concat' (Luong et al. §3.1); 'dot' needs
    ``decoder_hidden_size == encoder output size`` (hidden × 2 when bidirectional);
    ``attention_dim`` is the hidden width of 'concat' (0: the decoder hidden size).
    ``*_dropout_in`` applies to the embeddings, ``*_dropout_out`` between LSTM layers and to the
    outputs (the decoder's also to h~ and the output embedding). ``decoder_out_embed_dim`` adds a
    linear map from h~ before the output layer when it differs from ``decoder_hidden_size``.
    ``tie_output`` needs ``decoder_out_embed_dim == decoder_embed_dim``; ``share_embeddings`` one
    vocabulary and equal embed dims. ``max_*_positions`` only bound what :meth:`max_positions`
    reports (an LSTM has no position table). ``reverse_source`` feeds each source sentence to the
    encoder reversed (Sutskever et al. 2014; Luong et al.), its outputs back at the source positions.
    """

    src_vocab_size: int = 0
    tgt_vocab_size: int = 0
    encoder_embed_dim: int = 512
    encoder_hidden_size: int = 512
    encoder_layers: int = 1
    encoder_bidirectional: bool = True
    reverse_source: bool = False
    encoder_dropout_in: float = 0.1
    encoder_dropout_out: float = 0.1
    decoder_embed_dim: int = 512
    decoder_hidden_size: int = 512
    decoder_layers: int = 1
    decoder_out_embed_dim: int = 512
    decoder_dropout_in: float = 0.1
    decoder_dropout_out: float = 0.1
    attention: str = "general"
    attention_dim: int = 0
    input_feeding: bool = True
    tie_output: bool = False
    share_embeddings: bool = False
    max_source_positions: int = 1024
    max_target_positions: int = 1024
    pad_id: int = PAD_ID

    @property
    def encoder_output_size(self) -> int:
        return self.encoder_hidden_size * (2 if self.encoder_bidirectional else 1)

    def decoder_config(self) -> LuongDecoderConfig:
        """The decoder's part of this config (the ``decoder_*`` fields, attention, input feeding)."""
        return LuongDecoderConfig(
            embed_dim=self.decoder_embed_dim, hidden_size=self.decoder_hidden_size,
            layers=self.decoder_layers, out_embed_dim=self.decoder_out_embed_dim,
            dropout_in=self.decoder_dropout_in, dropout_out=self.decoder_dropout_out,
            attention=self.attention, attention_dim=self.attention_dim,
            input_feeding=self.input_feeding)

    def validate(self) -> None:
        if self.src_vocab_size < 1 or self.tgt_vocab_size < 1:
            raise NmtError("LSTMConfig needs src_vocab_size and tgt_vocab_size (from the data)")
        for name in ("encoder_embed_dim", "encoder_hidden_size", "encoder_layers",
                     "max_source_positions", "max_target_positions"):
            if getattr(self, name) < 1:
                raise NmtError(f"{name} must be >= 1, got {getattr(self, name)}")
        for name in ("encoder_dropout_in", "encoder_dropout_out"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise NmtError(f"{name} must be in [0, 1), got {getattr(self, name)}")
        self.decoder_config().validate(self.encoder_output_size, prefix="decoder_")
        if self.tie_output and self.decoder_out_embed_dim != self.decoder_embed_dim:
            raise NmtError("tie_output needs decoder_out_embed_dim == decoder_embed_dim")
        if self.share_embeddings and (self.src_vocab_size != self.tgt_vocab_size
                                      or self.encoder_embed_dim != self.decoder_embed_dim):
            raise NmtError("share_embeddings needs equal vocabulary sizes and embed dims")


def _source_order(pad_mask: Tensor, lens: Tensor, reverse: bool) -> Tensor | None:
    """The per-row permutation (B, S) that right-pads the source (rotating left-padded rows) and,
    if ``reverse``, reverses each row's real tokens; None when it is the identity."""
    batch, length = pad_mask.shape
    lead = (~pad_mask).long().argmax(1)  # leading pads per row
    if not reverse and not bool(lead.any()):
        return None
    pos = torch.arange(length, device=pad_mask.device).expand(batch, length)
    order = (pos + lead.unsqueeze(1)) % length
    return order.gather(1, reverse_real_steps(prefix_mask(lens, length))) if reverse else order


class Staircase:
    """Runs an ``nn.LSTM`` over right-padded rows sorted by decreasing length without ever
    feeding it a pad: one fused call per stretch of time in which the set of unfinished rows does
    not change (as many calls as distinct lengths), each on the rows still running. Outputs are
    exact and 0 at pads; the final (h, c) of each row is taken where it ends.

    Same results as ``pack_padded_sequence``, but every call takes the fused (oneDNN / cuDNN)
    path; PyTorch's packed CPU path is a per-step loop whose backward is quadratic in the length.
    """

    def __init__(self, lens: list[int]):
        assert lens == sorted(lens, reverse=True) and lens[-1] >= 1, "lengths >= 1, decreasing"
        negated = [-n for n in lens]  # ascending, for bisect
        ends = sorted(set(lens))
        rows = [bisect.bisect_right(negated, -end) for end in ends]  # rows with length >= end
        self.batch = len(lens)
        self.segments = [(start, end, n, n_after) for start, end, n, n_after
                         in zip([0] + ends[:-1], ends, rows, rows[1:] + [0])]

    def __call__(self, lstm: nn.LSTM, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """x (B, S, E) -> outputs (B, S, H), final h and c (layers, B, H)."""
        h = c = x.new_zeros(lstm.num_layers, self.batch, lstm.hidden_size)
        outs, final_h, final_c = [], [], []
        sizes = [end - start for start, end, _, _ in self.segments]
        chunks = x.split(sizes + [x.size(1) - sum(sizes)], dim=1)  # the last one: pads only
        for (_, _, rows, rows_after), chunk in zip(self.segments, chunks):
            hx = (h[:, :rows].contiguous(), c[:, :rows].contiguous())
            y, (h, c) = lstm(chunk[:rows], hx)  # (rows, end - start, H)
            outs.append(F.pad(y, (0, 0, 0, 0, 0, self.batch - rows)))
            final_h.append(h[:, rows_after:])
            final_c.append(c[:, rows_after:])
        out = F.pad(torch.cat(outs, dim=1), (0, 0, 0, x.size(1) - sum(sizes)))
        return out, torch.cat(final_h[::-1], dim=1), torch.cat(final_c[::-1], dim=1)


class LSTMEncoder(nn.Module):
    """Embedding -> dropout -> (bidirectional) multi-layer LSTM that never reads a pad -> dropout.

    Unidirectional: one fused ``nn.LSTM`` over all layers (``lstm``). Bidirectional: per layer a
    forward and a backward ``nn.LSTM`` (``forward_lstms``, ``backward_lstms``); the backward one
    reads each row's real tokens reversed, and the next layer reads both outputs concatenated.
    """

    def __init__(self, cfg: LSTMConfig, embed_tokens: nn.Embedding):
        super().__init__()
        self.pad_id, self.reverse_source = cfg.pad_id, cfg.reverse_source
        self.bidirectional = cfg.encoder_bidirectional
        self.embed_tokens = embed_tokens
        self.dropout_in = Dropout(cfg.encoder_dropout_in)
        self.dropout_out = Dropout(cfg.encoder_dropout_out)
        hidden, layers = cfg.encoder_hidden_size, cfg.encoder_layers
        if self.bidirectional:
            sizes = [cfg.encoder_embed_dim] + [2 * hidden] * (layers - 1)
            self.forward_lstms = nn.ModuleList(uniform_lstm(n, hidden, 1) for n in sizes)
            self.backward_lstms = nn.ModuleList(uniform_lstm(n, hidden, 1) for n in sizes)
        else:
            self.lstm = uniform_lstm(cfg.encoder_embed_dim, hidden, layers,
                                     dropout=cfg.encoder_dropout_out)

    def forward(self, src: Tensor, src_lens: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """src (B, S) padded on either side, src_lens (B,) -> outputs (B, S, U) at the positions of
        ``src`` (0 at pads) and the final states (B, L, U) of every layer, directions concatenated."""
        order = _source_order(src.eq(self.pad_id), src_lens, self.reverse_source)
        if order is not None:  # right padding from here on
            src = src.gather(1, order)
        lens, rows = src_lens.sort(descending=True, stable=True)  # longest first
        x = self.dropout_in(self.embed_tokens(src.index_select(0, rows)))  # (B, S, E)
        stairs = Staircase(lens.tolist())
        if self.bidirectional:
            backward = reverse_real_steps(prefix_mask(lens.to(src.device), src.size(1)))  # (B, S)
            out, h, c = self._bidirectional(x, stairs, backward)
        else:
            out, h, c = stairs(self.lstm, x)  # (B, S, H), (L, B, H)
        unsort = rows.argsort()
        out = out.index_select(0, unsort)
        if order is not None:  # back to the positions of the caller's src
            positions = torch.arange(order.size(1), device=order.device).expand_as(order)
            out = gather_steps(out, torch.empty_like(order).scatter_(1, order, positions))
        h, c = (s.index_select(1, unsort).transpose(0, 1) for s in (h, c))
        return self.dropout_out(out), h, c

    def _bidirectional(self, x: Tensor, stairs: Staircase,
                       reverse: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        final_h, final_c = [], []
        for i, (fwd, bwd) in enumerate(zip(self.forward_lstms, self.backward_lstms)):
            if i > 0:
                x = self.dropout_out(x)
            out_f, h_f, c_f = stairs(fwd, x)
            out_b, h_b, c_b = stairs(bwd, gather_steps(x, reverse))
            x = torch.cat((out_f, gather_steps(out_b, reverse)), dim=2)  # (B, S, 2H)
            final_h.append(torch.cat((h_f, h_b), dim=2))
            final_c.append(torch.cat((c_f, c_b), dim=2))
        return x, torch.cat(final_h), torch.cat(final_c)


class LSTMModel(LuongDecoding, Seq2SeqModel[LSTMEncoderOut, LSTMState]):
    """The full model (see the module docstring)."""

    output_layer = "decoder.fc_out"

    def __init__(self, cfg: LSTMConfig):
        super().__init__()
        cfg.validate()
        self.cfg = cfg
        src_embed = uniform_embedding(cfg.src_vocab_size, cfg.encoder_embed_dim, cfg.pad_id)
        tgt_embed = (src_embed if cfg.share_embeddings else
                     uniform_embedding(cfg.tgt_vocab_size, cfg.decoder_embed_dim, cfg.pad_id))
        self.encoder = LSTMEncoder(cfg, src_embed)
        self.decoder = LSTMDecoder(cfg.decoder_config(), tgt_embed, vocab_size=cfg.tgt_vocab_size,
                                   source_size=cfg.encoder_output_size,
                                   encoder_layers=cfg.encoder_layers, tie_output=cfg.tie_output)

    def encode(self, src: Tensor, src_lens: Tensor | None = None) -> LSTMEncoderOut:
        if src_lens is None:
            src_lens = src.ne(self.cfg.pad_id).sum(1)
        out, h, c = self.encoder(src, src_lens)
        return self.decoder.encoder_out(out, src.eq(self.cfg.pad_id), h, c)


# -- presets ------------------------------------------------------------------------------------
# Vocabulary sizes stay 0: the trainer fills them in from the data directory.


def lstm_wiseman_iwslt_de_en() -> LSTMConfig:
    """LSTM as fairseq's lstm_wiseman_iwslt_de_en: embed/hidden 256, 1+1 layers, unidirectional encoder."""
    # fairseq's values exactly (models/lstm.py): no encoder dropout, decoder dropout_in 0 and
    # dropout_out 0.1, out embed 256, attention on (its AttentionLayer is Luong's 'general' score
    # with W_c [c; h] and no biases), untied output. The fair baseline for the 2,300 tok/s.
    return LSTMConfig(
        encoder_embed_dim=256, encoder_hidden_size=256, encoder_layers=1,
        encoder_bidirectional=False, encoder_dropout_in=0.0, encoder_dropout_out=0.0,
        decoder_embed_dim=256, decoder_hidden_size=256, decoder_layers=1,
        decoder_out_embed_dim=256, decoder_dropout_in=0.0, decoder_dropout_out=0.1,
        attention="general",
    )


def lstm_luong_wmt_en_de() -> LSTMConfig:
    """LSTM as Luong et al. 2015 / fairseq's lstm_luong_wmt_en_de: 4+4 layers of 1000 units, embed 1000."""
    # fairseq's values (dropout 0.1 on the embeddings, none between layers or on the output).
    # The paper also reverses the source (reverse_source=True), uses dropout 0.2 between layers,
    # a 50k vocabulary, and plain SGD (lr 1, halved late, gradient norm 5): set them in the recipe.
    return LSTMConfig(
        encoder_embed_dim=1000, encoder_hidden_size=1000, encoder_layers=4,
        encoder_bidirectional=False, encoder_dropout_in=0.1, encoder_dropout_out=0.0,
        decoder_embed_dim=1000, decoder_hidden_size=1000, decoder_layers=4,
        decoder_out_embed_dim=1000, decoder_dropout_in=0.1, decoder_dropout_out=0.0,
        attention="general",
    )


def lstm_small() -> LSTMConfig:
    """LSTM for Multi30k on a CPU: embed 256, bidirectional 1-layer encoder (2 x 256), 1-layer decoder of 256, tied output."""
    # Our choice, not from a paper: the encoder's 512-wide final state is projected to 256.
    return LSTMConfig(
        encoder_embed_dim=256, encoder_hidden_size=256, encoder_layers=1,
        encoder_bidirectional=True, encoder_dropout_in=0.2, encoder_dropout_out=0.2,
        decoder_embed_dim=256, decoder_hidden_size=256, decoder_layers=1,
        decoder_out_embed_dim=256, decoder_dropout_in=0.2, decoder_dropout_out=0.2,
        attention="general", tie_output=True,
    )


def char_lstm_iwslt_de_en() -> LSTMConfig:
    """Character-level LSTM baseline of the char-QRNN setting: 4+4 layers of 320 units, source reversed, no dropout."""
    # Bradbury et al. 2017 §3.3 compare their 4-layer, 320-unit char-QRNN (no dropout, gradient
    # norm 5, Adam, source reversed, unidirectional encoder, dot-product attention) with an LSTM
    # of the same size; the details of that LSTM are not given, so it mirrors the QRNN here.
    return LSTMConfig(
        encoder_embed_dim=320, encoder_hidden_size=320, encoder_layers=4,
        encoder_bidirectional=False, reverse_source=True,
        encoder_dropout_in=0.0, encoder_dropout_out=0.0,
        decoder_embed_dim=320, decoder_hidden_size=320, decoder_layers=4,
        decoder_out_embed_dim=320, decoder_dropout_in=0.0, decoder_dropout_out=0.0,
        attention="dot",
    )


PRESETS = [lstm_wiseman_iwslt_de_en, lstm_luong_wmt_en_de, lstm_small, char_lstm_iwslt_de_en]
