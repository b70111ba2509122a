"""The LSTM decoder with global attention and input feeding (Luong, Pham & Manning 2015), as
fairseq's ``lstm`` builds it; shared by every encoder that feeds it (the LSTM and Dilated-RNN
families).

token embedding -> dropout_in -> [input feeding: concatenate h~_{t−1}] -> a multi-layer ``nn.LSTM``
(dropout_out between layers) -> global attention of the top layer's h_t over the encoder outputs,
h~_t = tanh(W_c [c_t; h_t]) (:mod:`nmt.modules.rnn_attention`) -> dropout_out ->
[``additional_fc`` to ``out_embed_dim`` -> dropout_out] -> ``fc_out`` to the vocabulary (its weight
is the embedding table when ``tie_output``).

The initial state comes from the encoder's final states: decoder layer i starts from the final
(h, c) of encoder layer i when the layer counts are equal, otherwise every decoder layer starts from
the top encoder layer's; ``encoder_hidden_proj`` / ``encoder_cell_proj`` map them when the sizes
differ. h~_0 = 0. Every weight starts ~ U(−0.1, 0.1) (Luong et al. §4.1; fairseq).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from nmt.errors import NmtError
from nmt.modules.dropout import Dropout
from nmt.modules.joined_rows import cat_padded
from nmt.modules.linear import Linear
from nmt.modules.rnn_attention import SCORES, GlobalAttention, attention_bias

INIT_SCALE = 0.1  # uniform init range of every weight (Luong et al. §4.1; fairseq)


def uniform_lstm(input_size: int, hidden_size: int, num_layers: int,
                 dropout: float = 0.0) -> nn.LSTM:
    """A batch-first ``nn.LSTM`` with every weight ~ U(−0.1, 0.1)."""
    m = nn.LSTM(input_size, hidden_size, num_layers, batch_first=True,
                dropout=dropout if num_layers > 1 else 0.0)
    for p in m.parameters():
        nn.init.uniform_(p, -INIT_SCALE, INIT_SCALE)
    return m


def uniform_linear(in_features: int, out_features: int, bias: bool = True) -> nn.Linear:
    m = Linear(in_features, out_features, bias=bias)
    nn.init.uniform_(m.weight, -INIT_SCALE, INIT_SCALE)
    if bias:
        nn.init.uniform_(m.bias, -INIT_SCALE, INIT_SCALE)
    return m


@dataclass
class LuongDecoderConfig:
    """The decoder's own sizes and options (the LSTM family names them ``decoder_*``).

    ``attention``: 'dot' | 'general' | 'concat'; ``attention_dim`` the hidden width of 'concat'
    (0: ``hidden_size``). ``out_embed_dim`` adds a linear map from h~ before the output layer
    when it differs from ``hidden_size``.
    """

    embed_dim: int = 256
    hidden_size: int = 256
    layers: int = 1
    out_embed_dim: int = 256
    dropout_in: float = 0.1
    dropout_out: float = 0.1
    attention: str = "general"
    attention_dim: int = 0
    input_feeding: bool = True

    def validate(self, source_size: int, prefix: str = "decoder.") -> None:
        """Errors name the fields as the user spells them: ``prefix`` + field name."""
        for name in ("embed_dim", "hidden_size", "layers", "out_embed_dim"):
            if getattr(self, name) < 1:
                raise NmtError(f"{prefix}{name} must be >= 1, got {getattr(self, name)}")
        for name in ("dropout_in", "dropout_out"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise NmtError(f"{prefix}{name} must be in [0, 1), got {getattr(self, name)}")
        if self.attention not in SCORES:
            raise NmtError(f"attention must be one of {', '.join(SCORES)}, got {self.attention!r}")
        if self.attention == "dot" and self.hidden_size != source_size:
            raise NmtError(f"attention 'dot' needs {prefix}hidden_size == encoder output size "
                           f"({source_size}); use 'general'")


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


class LSTMDecoder(nn.Module):
    """Embedding -> [input feeding] -> multi-layer LSTM -> global attention -> output layer.

    ``source_size``: the width of the encoder outputs and final states; ``encoder_layers``: how
    many final states the encoder hands over.
    """

    def __init__(self, cfg: LuongDecoderConfig, embed_tokens: nn.Embedding, *, vocab_size: int,
                 source_size: int, encoder_layers: int, tie_output: bool = False):
        super().__init__()
        hidden = cfg.hidden_size
        self.layers, self.input_feeding = cfg.layers, cfg.input_feeding
        self.share_layers = encoder_layers == cfg.layers
        self.embed_tokens = embed_tokens
        self.dropout_in = Dropout(cfg.dropout_in)
        self.dropout_out = Dropout(cfg.dropout_out)
        self.encoder_hidden_proj = self.encoder_cell_proj = None
        if source_size != hidden:
            self.encoder_hidden_proj = uniform_linear(source_size, hidden)
            self.encoder_cell_proj = uniform_linear(source_size, hidden)
        feed = hidden if cfg.input_feeding else 0
        self.lstm = uniform_lstm(cfg.embed_dim + feed, hidden, cfg.layers, dropout=cfg.dropout_out)
        self.attention = GlobalAttention(hidden, source_size, score=cfg.attention,
                                         attention_dim=cfg.attention_dim or None,
                                         init_scale=INIT_SCALE)
        self.additional_fc = (uniform_linear(hidden, cfg.out_embed_dim)
                              if cfg.out_embed_dim != hidden else None)
        self.fc_out = uniform_linear(cfg.out_embed_dim, vocab_size)
        if tie_output:
            self.fc_out.weight = embed_tokens.weight
            nn.init.zeros_(self.fc_out.bias)

    def encoder_out(self, outputs: Tensor, pad_mask: Tensor, final_h: Tensor,
                    final_c: Tensor) -> LSTMEncoderOut:
        """Wraps an encoder's outputs (B, S, U) and final states (B, L_enc, U) with the
        attention's source side computed once."""
        keys, values = self.attention.prepare(outputs)
        return LSTMEncoderOut(keys=keys, values=values, pad_mask=pad_mask, final_h=final_h,
                              final_c=final_c)

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

    def teacher_forced(self, tgt_in: Tensor, enc: LSTMEncoderOut) -> Tensor:
        """tgt_in (B, T) -> logits (B, T, V), from the initial state."""
        out, _ = self(tgt_in, self.initial_state(enc), enc)
        return self.output_layer(out)

    def step(self, prev_tokens: Tensor, state: LSTMState,
             enc: LSTMEncoderOut) -> tuple[Tensor, LSTMState]:
        """prev_tokens (B,) -> logits (B, V) and the next state."""
        out, state = self(prev_tokens.unsqueeze(1), state, enc)
        return self.output_layer(out).squeeze(1), state


class LuongDecoding:
    """The decoding half of the model contract for a model whose ``self.decoder`` is an
    :class:`LSTMDecoder`; mixed into the LSTM and Dilated-RNN models before ``Seq2SeqModel``,
    which provides ``log_probs``. The model implements ``encode``."""

    decoder: LSTMDecoder

    def forward(self, src: Tensor, src_lens: Tensor, tgt_in: Tensor) -> Tensor:
        """src (B, S), src_lens (B,), tgt_in (B, T) -> logits (B, T, V)."""
        return self.decoder.teacher_forced(tgt_in, self.encode(src, src_lens))

    def init_state(self, enc: LSTMEncoderOut) -> LSTMState:
        return self.decoder.initial_state(enc)

    def decode_step(self, prev_tokens: Tensor, state: LSTMState,
                    enc: LSTMEncoderOut) -> tuple[Tensor, LSTMState]:
        logits, state = self.decoder.step(prev_tokens, state, enc)
        return self.log_probs(logits), state

    supports_joining = True  # the state has no position: rows at different steps stack as they are
    shares_encoder_rows = True  # GlobalAttention groups each sentence's rows

    def concat_encoder_out(self, encs: list[LSTMEncoderOut]) -> LSTMEncoderOut:
        """Sources right-padded to the longest: keys and values 0 there, pad_mask True (never
        attended)."""
        return LSTMEncoderOut(keys=cat_padded([e.keys for e in encs], dim=2),
                              values=cat_padded([e.values for e in encs]),
                              pad_mask=cat_padded([e.pad_mask for e in encs], True),
                              final_h=torch.cat([e.final_h for e in encs]),
                              final_c=torch.cat([e.final_c for e in encs]))

    def concat_states(self, states: list[LSTMState]) -> LSTMState:
        """h, c and the input feed stacked; ``attn`` (the last step's) is left out: search reads
        it from the state :meth:`decode_step` returns."""
        feed = None if states[0].feed is None else torch.cat([s.feed for s in states])
        return LSTMState(h=torch.cat([s.h for s in states]), c=torch.cat([s.c for s in states]),
                         feed=feed)
