"""LSTM encoder-decoder with global attention: the baseline every paper compares against.

Luong, Pham & Manning 2015 (*Effective Approaches to Attention-based Neural Machine Translation*),
as fairseq's ``lstm`` architecture builds it:

- encoder: token embedding -> dropout_in -> a (bidirectional) multi-layer LSTM that never reads a
  pad (:class:`Staircase`), so padding cannot reach a real position in either direction ->
  dropout_out;
- decoder: token embedding -> dropout_in -> [input feeding: concatenate h~_{t−1}] -> a multi-layer
  ``nn.LSTM`` (dropout_out between layers) -> global attention of the top layer's h_t over the
  encoder outputs, h~_t = tanh(W_c [c_t; h_t]) (:mod:`nmt.modules.rnn_attention`) -> dropout_out
  -> [``additional_fc`` to ``decoder_out_embed_dim`` -> dropout_out] -> ``fc_out`` to the vocabulary
  (its weight is the decoder embedding table when ``tie_output``).

The decoder's initial state comes from the encoder's final states, as in fairseq's ``lstm``: decoder
layer i starts from the final (h, c) of encoder layer i (both directions concatenated) when the
layer counts are equal, otherwise every decoder layer starts from the top encoder layer's; a
linear map (``encoder_hidden_proj`` / ``encoder_cell_proj``, as fairseq) projects them when the
sizes differ. h~_0 = 0. Luong et al. start from the last encoder state of a unidirectional
encoder, which is the same thing for their equal-sized stacks.

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
from nmt.modules.rnn_attention import SCORES, GlobalAttention, attention_bias

INIT_SCALE = 0.1  # uniform init range of every weight (Luong et al. §4.1; fairseq)


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

    def validate(self) -> None:
        if self.src_vocab_size < 1 or self.tgt_vocab_size < 1:
            raise NmtError("LSTMConfig needs src_vocab_size and tgt_vocab_size (from the data)")
        sizes = ("encoder_embed_dim", "encoder_hidden_size", "encoder_layers", "decoder_embed_dim",
                 "decoder_hidden_size", "decoder_layers", "decoder_out_embed_dim",
                 "max_source_positions", "max_target_positions")
        for name in sizes:
            if getattr(self, name) < 1:
                raise NmtError(f"{name} must be >= 1, got {getattr(self, name)}")
        for name in ("encoder_dropout_in", "encoder_dropout_out", "decoder_dropout_in",
                     "decoder_dropout_out"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise NmtError(f"{name} must be in [0, 1), got {getattr(self, name)}")
        if self.attention not in SCORES:
            raise NmtError(f"attention must be one of {', '.join(SCORES)}, got {self.attention!r}")
        if self.attention == "dot" and self.decoder_hidden_size != self.encoder_output_size:
            raise NmtError(f"attention 'dot' needs decoder_hidden_size == encoder output size "
                           f"({self.encoder_output_size}); use 'general'")
        if self.tie_output and self.decoder_out_embed_dim != self.decoder_embed_dim:
            raise NmtError("tie_output needs decoder_out_embed_dim == decoder_embed_dim")
        if self.share_embeddings and (self.src_vocab_size != self.tgt_vocab_size
                                      or self.encoder_embed_dim != self.decoder_embed_dim):
            raise NmtError("share_embeddings needs equal vocabulary sizes and embed dims")


@dataclass
class LSTMEncoderOut:
    """What the decoder reads from the source (the source side of attention, precomputed).

    keys:     (B, K, S) attention keys, transposed: the encoder outputs h̄_s ('dot'), W_a h̄_s
              ('general') or the source half of the 'concat' layer
    values:   (B, S, H_dec) W_cc h̄_s, the encoder outputs times the context half of W_c
    pad_mask: (B, S) bool, True at source pads
    final_h:  (B, L_enc, U) final hidden state of each encoder layer (U = hidden × directions)
    final_c:  (B, L_enc, U) final cell state of each encoder layer
    """

    keys: Tensor
    values: Tensor
    pad_mask: Tensor
    final_h: Tensor
    final_c: Tensor


@dataclass
class LSTMState:
    """Incremental decoder state.

    h, c: (B, L_dec, H_dec) hidden and cell state of every decoder layer
    feed: (B, H_dec) the previous attentional state h~_{t−1} (zeros before the first step), or
          None without input feeding
    attn: (B, S) attention of the last step, or None before the first step
    """

    h: Tensor
    c: Tensor
    feed: Tensor | None = None
    attn: Tensor | None = None


def uniform_lstm(input_size: int, hidden_size: int, num_layers: int,
                 dropout: float = 0.0) -> nn.LSTM:
    """A batch-first ``nn.LSTM`` with every weight ~ U(−0.1, 0.1)."""
    m = nn.LSTM(input_size, hidden_size, num_layers, batch_first=True,
                dropout=dropout if num_layers > 1 else 0.0)
    for p in m.parameters():
        nn.init.uniform_(p, -INIT_SCALE, INIT_SCALE)
    return m


def uniform_embedding(num_embeddings: int, dim: int, pad_id: int) -> nn.Embedding:
    m = nn.Embedding(num_embeddings, dim, padding_idx=pad_id)
    nn.init.uniform_(m.weight, -INIT_SCALE, INIT_SCALE)
    nn.init.zeros_(m.weight[pad_id])
    return m


def uniform_linear(in_features: int, out_features: int, bias: bool = True) -> nn.Linear:
    m = nn.Linear(in_features, out_features, bias=bias)
    nn.init.uniform_(m.weight, -INIT_SCALE, INIT_SCALE)
    if bias:
        nn.init.uniform_(m.bias, -INIT_SCALE, INIT_SCALE)
    return m


def _gather_rows(x: Tensor, index: Tensor) -> Tensor:
    """x (B, S, ...) with row b's positions permuted: out[b, i] = x[b, index[b, i]]."""
    return x.gather(1, index.view(*index.shape, *([1] * (x.dim() - 2))).expand_as(x))


def _reversal(lens: Tensor, length: int) -> Tensor:
    """(B, S) index reversing the first lens[b] positions of each row, the rest in place."""
    pos = torch.arange(length, device=lens.device).expand(lens.size(0), length)
    last = lens.unsqueeze(1) - 1
    return torch.where(pos <= last, last - pos, pos)


def _source_order(pad_mask: Tensor, lens: Tensor, reverse: bool) -> Tensor | None:
    """The per-row permutation (B, S) that right-pads the source (rotating left-padded rows) and,
    if ``reverse``, reverses each row's real tokens; None when it is the identity."""
    batch, length = pad_mask.shape
    lead = (~pad_mask).long().argmax(1)  # leading pads per row
    if not reverse and not bool(lead.any()):
        return None
    pos = torch.arange(length, device=pad_mask.device).expand(batch, length)
    order = (pos + lead.unsqueeze(1)) % length
    return order.gather(1, _reversal(lens, length)) if reverse else order


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
        self.dropout_in = nn.Dropout(cfg.encoder_dropout_in)
        self.dropout_out = nn.Dropout(cfg.encoder_dropout_out)
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
            out, h, c = self._bidirectional(x, stairs, _reversal(lens.to(src.device), src.size(1)))
        else:
            out, h, c = stairs(self.lstm, x)  # (B, S, H), (L, B, H)
        unsort = rows.argsort()
        out = out.index_select(0, unsort)
        if order is not None:  # back to the positions of the caller's src
            positions = torch.arange(order.size(1), device=order.device).expand_as(order)
            out = _gather_rows(out, torch.empty_like(order).scatter_(1, order, positions))
        h, c = (s.index_select(1, unsort).transpose(0, 1) for s in (h, c))
        return self.dropout_out(out), h, c

    def _bidirectional(self, x: Tensor, stairs: Staircase,
                       reverse: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        final_h, final_c = [], []
        for i, (fwd, bwd) in enumerate(zip(self.forward_lstms, self.backward_lstms)):
            if i > 0:
                x = self.dropout_out(x)
            out_f, h_f, c_f = stairs(fwd, x)
            out_b, h_b, c_b = stairs(bwd, _gather_rows(x, reverse))
            x = torch.cat((out_f, _gather_rows(out_b, reverse)), dim=2)  # (B, S, 2H)
            final_h.append(torch.cat((h_f, h_b), dim=2))
            final_c.append(torch.cat((c_f, c_b), dim=2))
        return x, torch.cat(final_h), torch.cat(final_c)


class LSTMDecoder(nn.Module):
    """Embedding -> [input feeding] -> multi-layer LSTM -> global attention -> output layer."""

    def __init__(self, cfg: LSTMConfig, embed_tokens: nn.Embedding):
        super().__init__()
        hidden, source = cfg.decoder_hidden_size, cfg.encoder_output_size
        self.layers, self.input_feeding = cfg.decoder_layers, cfg.input_feeding
        self.share_layers = cfg.encoder_layers == cfg.decoder_layers
        self.embed_tokens = embed_tokens
        self.dropout_in = nn.Dropout(cfg.decoder_dropout_in)
        self.dropout_out = nn.Dropout(cfg.decoder_dropout_out)
        self.encoder_hidden_proj = self.encoder_cell_proj = None
        if source != hidden:
            self.encoder_hidden_proj = uniform_linear(source, hidden)
            self.encoder_cell_proj = uniform_linear(source, hidden)
        feed = hidden if cfg.input_feeding else 0
        self.lstm = uniform_lstm(cfg.decoder_embed_dim + feed, hidden, cfg.decoder_layers,
                                 dropout=cfg.decoder_dropout_out)
        self.attention = GlobalAttention(hidden, source, score=cfg.attention,
                                         attention_dim=cfg.attention_dim or None,
                                         init_scale=INIT_SCALE)
        self.additional_fc = (uniform_linear(hidden, cfg.decoder_out_embed_dim)
                              if cfg.decoder_out_embed_dim != hidden else None)
        self.fc_out = uniform_linear(cfg.decoder_out_embed_dim, cfg.tgt_vocab_size)
        if cfg.tie_output:
            self.fc_out.weight = embed_tokens.weight
            nn.init.zeros_(self.fc_out.bias)

    def initial_state(self, enc: LSTMEncoderOut) -> LSTMState:
        """Decoder layer i from encoder layer i (or from the top one), projected if need be."""
        h, c = enc.final_h, enc.final_c  # (B, L_enc, U)
        if not self.share_layers:
            h, c = (s[:, -1:].expand(-1, self.layers, -1) for s in (h, c))
        if self.encoder_hidden_proj is not None:
            h, c = self.encoder_hidden_proj(h), self.encoder_cell_proj(c)
        feed = h.new_zeros(h.size(0), h.size(2)) if self.input_feeding else None
        return LSTMState(h=h, c=c, feed=feed)

    def forward(self, tokens: Tensor, state: LSTMState,
                enc: LSTMEncoderOut) -> tuple[Tensor, LSTMState]:
        """tokens (B, T) from ``state`` on -> (h~ after dropout (B, T, H), the state after step T).

        Teacher forcing and incremental decoding (T = 1) both come through here."""
        x = self.dropout_in(self.embed_tokens(tokens))  # (B, T, E)
        hx = (state.h.transpose(0, 1).contiguous(), state.c.transpose(0, 1).contiguous())
        bias = attention_bias(enc.pad_mask)  # (B, 1, S)
        if not self.input_feeding:
            y, hx = self.lstm(x, hx)  # (B, T, H)
            out, attn = self.attention(y, enc.keys, enc.values, bias)
            out, feed = self.dropout_out(out), None
        else:
            feed, outs = state.feed.unsqueeze(1), []  # (B, 1, H)
            for x_t in x.split(1, dim=1):  # one backward concatenation, not T zero-filled copies
                y, hx = self.lstm(torch.cat((x_t, feed.type_as(x_t)), dim=2), hx)
                feed, attn = self.attention(y, enc.keys, enc.values, bias)
                feed = self.dropout_out(feed)
                outs.append(feed)
            out, feed = torch.cat(outs, dim=1), feed.squeeze(1)
        h, c = (s.transpose(0, 1) for s in hx)
        return out, LSTMState(h=h, c=c, feed=feed, attn=attn[:, -1])

    def output_layer(self, x: Tensor) -> Tensor:
        """h~ (B, T, H) -> logits (B, T, V)."""
        if self.additional_fc is not None:
            x = self.dropout_out(self.additional_fc(x))
        return self.fc_out(x)


class AttentionLSTMDecoding(Seq2SeqModel[LSTMEncoderOut, LSTMState]):
    """The decoding half of the contract for any encoder feeding :class:`LSTMDecoder`: subclasses
    build ``self.encoder`` and ``self.decoder`` and implement :meth:`encode`."""

    decoder: LSTMDecoder

    @staticmethod
    def embeddings(cfg) -> tuple[nn.Embedding, nn.Embedding]:
        """Source and target token tables (one table when ``cfg.share_embeddings``)."""
        src_embed = uniform_embedding(cfg.src_vocab_size, cfg.encoder_embed_dim, cfg.pad_id)
        tgt_embed = (src_embed if cfg.share_embeddings else
                     uniform_embedding(cfg.tgt_vocab_size, cfg.decoder_embed_dim, cfg.pad_id))
        return src_embed, tgt_embed

    def forward(self, src: Tensor, src_lens: Tensor, tgt_in: Tensor) -> Tensor:
        """src (B, S), src_lens (B,) with eos, tgt_in (B, T) -> logits (B, T, V)."""
        enc = self.encode(src, src_lens)
        out, _ = self.decoder(tgt_in, self.init_state(enc), enc)
        return self.decoder.output_layer(out)

    def init_state(self, enc: LSTMEncoderOut) -> LSTMState:
        return self.decoder.initial_state(enc)

    def decode_step(self, prev_tokens: Tensor, state: LSTMState,
                    enc: LSTMEncoderOut) -> tuple[Tensor, LSTMState]:
        out, state = self.decoder(prev_tokens.unsqueeze(1), state, enc)
        return self.log_probs(self.decoder.output_layer(out).squeeze(1)), state


class LSTMModel(AttentionLSTMDecoding):
    """The full model (see the module docstring)."""

    def __init__(self, cfg: LSTMConfig):
        super().__init__()
        cfg.validate()
        self.cfg = cfg
        src_embed, tgt_embed = self.embeddings(cfg)
        self.encoder = LSTMEncoder(cfg, src_embed)
        self.decoder = LSTMDecoder(cfg, tgt_embed)

    def encode(self, src: Tensor, src_lens: Tensor | None = None) -> LSTMEncoderOut:
        if src_lens is None:
            src_lens = src.ne(self.cfg.pad_id).sum(1)
        out, h, c = self.encoder(src, src_lens)
        keys, values = self.decoder.attention.prepare(out)
        return LSTMEncoderOut(keys=keys, values=values, pad_mask=src.eq(self.cfg.pad_id),
                              final_h=h, final_c=c)


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
