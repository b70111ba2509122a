"""Dilated RNN encoder with an LSTM attention decoder (Chang et al., NeurIPS 2017, *Dilated
Recurrent Neural Networks*).

**Dilated recurrent layer.** Layer ``l`` with dilation ``s`` connects each step to the one ``s``
before it: ``c_t = f(x_t, c_{t−s})`` (paper eq. 1), with ``f`` any cell: an LSTM or GRU cell, or
a QRNN layer (:class:`nmt.modules.qrnn.QRNNLayer`, whose convolution then also runs over the
dilated sub-sequence, i.e. is a dilated convolution). Dilations are ``1, 2, 4, …`` by default
(``2^l`` at layer ``l``, as in the paper), so the top layer sees the whole prefix through the
layers below while its own recurrence spans only ``T/s`` steps.

**Efficient computation** (the paper's parallel form): the steps ``j, j+s, j+2s, …`` form ``s``
independent sub-sequences, so the sequence, padded to a multiple of ``s``, is interleaved into a
batch of ``B·s`` sequences of ``T/s`` steps, ``(B, T, C) -> (B·s, T/s, C)``; one fused ``nn.LSTM`` /
``nn.GRU`` call (or one QRNN layer) runs over them and the outputs are put back in place.

**Padding.** The encoder first rotates left-padded rows to right padding (and its outputs back).
Interleaving a right-padded row gives sub-sequences whose real steps are again a *prefix*, so a
forward recurrence never reads a pad before a real step; the backward direction of a
bidirectional layer reverses each sub-sequence's real prefix in place (pads stay at the end), runs
the same way and reverses back. Outputs at pads are 0. So padding never changes real outputs; no
packing is needed and every call takes the fused path.

**Encoder-decoder.** Token embedding -> dropout_in -> dilated layers (dropout_out between them and
on the output) -> the LSTM attention decoder of :mod:`nmt.modules.luong_decoder` (Luong attention,
input feeding), the LSTM family's, configured by the nested ``decoder``. The decoder's initial
state: per encoder layer, its output at the last real step (forward direction) and at the first
(backward direction), concatenated, as ``h`` (the top layer's last state has read the whole source
through the dilation-1 layer below); ``c`` starts from 0 (through the decoder's
``encoder_cell_proj`` when sizes differ, i.e. a learned constant) because a GRU or QRNN encoder
has no LSTM cell state to hand over. State-dict names: ``encoder.embed_tokens``,
``encoder.rnn.layers.{l}.{direction}`` (an ``nn.LSTM`` / ``nn.GRU`` / ``QRNNLayer``), and the
LSTM decoder's ``decoder.*``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import torch
from torch import Tensor, nn

from nmt.data.dictionary import PAD_ID
from nmt.errors import NmtError
from nmt.models.base import Seq2SeqModel
from nmt.modules.dropout import Dropout
from nmt.modules.embeddings import uniform_embedding
from nmt.modules.luong_decoder import (
    INIT_SCALE,
    LSTMDecoder,
    LSTMEncoderOut,
    LSTMState,
    LuongDecoderConfig,
    LuongDecoding,
)
from nmt.modules.step_order import gather_steps, reverse_real_steps

CELLS = ("lstm", "gru", "qrnn")


# -- interleaving -------------------------------------------------------------------------------


def interleave(x: Tensor, s: int) -> Tensor:
    """(B, T, …) -> (B·s, ⌈T/s⌉, …): row ``b·s + j`` holds steps ``j, j+s, j+2s, …`` of row b
    (the end padded with zeros to a multiple of s)."""
    B, T = x.shape[:2]
    n = -(-T // s)
    if n * s != T:
        x = torch.cat([x, x.new_zeros(B, n * s - T, *x.shape[2:])], dim=1)
    x = x.reshape(B, n, s, *x.shape[2:]).transpose(1, 2)  # (B, s, n, …)
    return x.reshape(B * s, n, *x.shape[3:])


def deinterleave(x: Tensor, s: int, length: int) -> Tensor:
    """The inverse of :func:`interleave`: (B·s, n, …) -> (B, length, …)."""
    Bs, n = x.shape[:2]
    x = x.reshape(Bs // s, s, n, *x.shape[2:]).transpose(1, 2)  # (B, n, s, …)
    return x.reshape(Bs // s, n * s, *x.shape[3:])[:, :length]


# -- the dilated recurrent stack ----------------------------------------------------------------


def make_cell(cell: str, input_size: int, hidden_size: int, *, qrnn_kernel: int = 2,
              qrnn_pooling: str = "fo", zoneout: float = 0.0) -> nn.Module:
    """One direction of one layer: a 1-layer batch-first ``nn.LSTM`` / ``nn.GRU`` (weights
    uniform in ±0.1, as the LSTM family) or a causal ``QRNNLayer``."""
    if cell in ("lstm", "gru"):
        rnn = (nn.LSTM if cell == "lstm" else nn.GRU)(input_size, hidden_size, batch_first=True)
        for p in rnn.parameters():
            nn.init.uniform_(p, -INIT_SCALE, INIT_SCALE)
        return rnn
    if cell == "qrnn":
        try:
            from nmt.modules.qrnn import QRNNLayer
        except ImportError as e:  # pragma: no cover - the QRNN module ships with the toolkit
            raise NmtError(f"cell 'qrnn' needs nmt.modules.qrnn.QRNNLayer ({e})") from None
        return QRNNLayer(input_size, hidden_size, qrnn_kernel, pooling=qrnn_pooling,
                         zoneout=zoneout, causal=True)
    raise NmtError(f"unknown recurrent cell {cell!r}; choose one of {', '.join(CELLS)}")


def run_cell(rnn: nn.Module, x: Tensor, mask: Tensor) -> Tensor:
    """Outputs (B, T, H) of one direction over rows whose real steps are a prefix (mask (B, T)).
    Trailing pads cannot reach a real output of a recurrence, so the fused call needs no mask;
    the QRNN layer takes it anyway (it zeroes padded inputs of its convolution)."""
    if isinstance(rnn, (nn.LSTM, nn.GRU)):
        return rnn(x)[0]
    return rnn(x, mask)[0]


class DilatedRecurrentLayer(nn.Module):
    """``c_t = f(x_t, c_{t−s})`` by interleaving into ``s`` sub-sequences; one or two directions
    (``directions.0`` forward, ``directions.1`` backward), outputs concatenated."""

    def __init__(self, cell: str, input_size: int, hidden_size: int, dilation: int, *,
                 bidirectional: bool = False, **cell_options):
        super().__init__()
        if dilation < 1:
            raise NmtError(f"dilations must be >= 1, got {dilation}")
        self.dilation = dilation
        self.directions = nn.ModuleList(
            make_cell(cell, input_size, hidden_size, **cell_options)
            for _ in range(2 if bidirectional else 1))
        self.output_size = hidden_size * len(self.directions)

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        """x (B, T, C) right-padded, mask (B, T) True at real steps -> (B, T, dirs·H), 0 at pads."""
        s, T = self.dilation, x.size(1)
        xs, ms = interleave(x, s), interleave(mask, s)  # (B·s, n, C), (B·s, n)
        outs = [run_cell(self.directions[0], xs, ms)]
        if len(self.directions) == 2:
            rev = reverse_real_steps(ms)
            back = run_cell(self.directions[1], gather_steps(xs, rev), ms)
            outs.append(gather_steps(back, rev))
        out = deinterleave(torch.cat(outs, dim=-1), s, T)
        return out.masked_fill(~mask.unsqueeze(-1), 0.0)


class DilatedRNN(nn.Module):
    """A stack of :class:`DilatedRecurrentLayer` s with ``dropout`` between layers.

    :meth:`forward` returns the top layer's outputs (B, T, dirs·H) and, per layer, its final
    state (B, dirs·H): the forward output at the last real step and the backward one at the first.
    """

    def __init__(self, input_size: int, hidden_size: int, dilations: list[int], *,
                 cell: str = "lstm", bidirectional: bool = False, dropout: float = 0.0,
                 **cell_options):
        super().__init__()
        self.hidden_size, self.dropout = hidden_size, Dropout(dropout)
        self.layers = nn.ModuleList()
        for d in dilations:
            self.layers.append(DilatedRecurrentLayer(cell, input_size, hidden_size, d,
                                                     bidirectional=bidirectional, **cell_options))
            input_size = self.layers[-1].output_size
        self.output_size = input_size

    def forward(self, x: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
        """x (B, T, C) right-padded, mask (B, T) -> outputs (B, T, U), finals (B, L, U)."""
        last = (mask.sum(1) - 1).clamp_min(0)  # (B,)
        finals = []
        for i, layer in enumerate(self.layers):
            if i > 0:
                x = self.dropout(x)
            x = layer(x, mask)
            fwd = x[torch.arange(x.size(0), device=x.device), last, : self.hidden_size]
            finals.append(torch.cat([fwd, x[:, 0, self.hidden_size :]], dim=-1))
        return x, torch.stack(finals, dim=1)


# -- the model ----------------------------------------------------------------------------------


# The flat decoder fields of configs saved before the decoder was nested, by their nested names.
_FLAT_DECODER_KEYS = {"decoder_embed_dim": "embed_dim", "decoder_hidden_size": "hidden_size",
                      "decoder_layers": "layers", "decoder_out_embed_dim": "out_embed_dim",
                      "decoder_dropout_in": "dropout_in", "decoder_dropout_out": "dropout_out",
                      "attention": "attention", "attention_dim": "attention_dim",
                      "input_feeding": "input_feeding"}


@dataclass
class DilatedRNNConfig:
    """Architecture of a Dilated RNN encoder with an LSTM attention decoder.

    ``cell``: 'lstm' | 'gru' | 'qrnn' for every encoder layer (QRNN layers use ``qrnn_kernel``,
    ``qrnn_pooling`` and ``zoneout``). ``encoder_dilations``: one per layer, or None for
    ``1, 2, 4, …`` over ``encoder_layers``. ``encoder_hidden_size`` is per direction.
    ``decoder``: the LSTM attention decoder's sizes and options
    (:class:`~nmt.modules.luong_decoder.LuongDecoderConfig`, e.g. ``--set model.decoder.layers=2``).
    ``tie_output`` needs ``decoder.out_embed_dim == decoder.embed_dim``; ``share_embeddings`` one
    vocabulary and equal embed dims. ``max_*_positions`` only bound search.
    """

    src_vocab_size: int = 0
    tgt_vocab_size: int = 0
    pad_id: int = PAD_ID
    cell: str = "lstm"
    encoder_embed_dim: int = 256
    encoder_hidden_size: int = 256
    encoder_layers: int = 3
    encoder_dilations: list[int] | None = None
    encoder_bidirectional: bool = True
    encoder_dropout_in: float = 0.1
    encoder_dropout_out: float = 0.1
    qrnn_kernel: int = 2
    qrnn_pooling: str = "fo"
    zoneout: float = 0.0
    decoder: LuongDecoderConfig = field(default_factory=LuongDecoderConfig)
    tie_output: bool = False
    share_embeddings: bool = False
    max_source_positions: int = 1024
    max_target_positions: int = 1024

    @staticmethod
    def upgrade(values: dict) -> dict:
        """A stored config dict in today's form: the flat ``decoder_*`` fields of older
        checkpoints move into ``decoder``."""
        flat = {k: values[k] for k in _FLAT_DECODER_KEYS if k in values}
        if not flat or not isinstance(values.get("decoder") or {}, dict):
            return values  # nothing to move, or a damaged 'decoder' the type check will name
        rest = {k: v for k, v in values.items() if k not in flat}
        nested = dict(rest.get("decoder") or {})
        nested.update({_FLAT_DECODER_KEYS[k]: v for k, v in flat.items()})
        return {**rest, "decoder": nested}

    def dilations(self) -> list[int]:
        if self.encoder_dilations is None:
            return [2**i for i in range(self.encoder_layers)]
        return [int(d) for d in self.encoder_dilations]

    @property
    def encoder_output_size(self) -> int:
        return self.encoder_hidden_size * (2 if self.encoder_bidirectional else 1)

    def validate(self) -> None:
        if self.src_vocab_size < 1 or self.tgt_vocab_size < 1:
            raise NmtError("DilatedRNNConfig needs src_vocab_size and tgt_vocab_size (from the data)")
        if self.cell not in CELLS:
            raise NmtError(f"cell must be one of {', '.join(CELLS)}, got {self.cell!r}")
        for name in ("encoder_embed_dim", "encoder_hidden_size", "encoder_layers",
                     "max_source_positions", "max_target_positions"):
            if getattr(self, name) < 1:
                raise NmtError(f"{name} must be >= 1, got {getattr(self, name)}")
        dilations = self.dilations()
        if len(dilations) != self.encoder_layers or min(dilations) < 1:
            raise NmtError(f"encoder_dilations needs {self.encoder_layers} values >= 1 (one per "
                           f"layer), got {self.encoder_dilations!r}")
        if self.qrnn_kernel < 1 or self.qrnn_pooling not in ("f", "fo", "ifo"):
            raise NmtError("qrnn_kernel must be >= 1 and qrnn_pooling one of f, fo, ifo")
        for name in ("encoder_dropout_in", "encoder_dropout_out", "zoneout"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise NmtError(f"{name} must be in [0, 1), got {getattr(self, name)}")
        self.decoder.validate(self.encoder_output_size)
        if self.tie_output and self.decoder.out_embed_dim != self.decoder.embed_dim:
            raise NmtError("tie_output needs decoder.out_embed_dim == decoder.embed_dim")
        if self.share_embeddings and (self.src_vocab_size != self.tgt_vocab_size
                                      or self.encoder_embed_dim != self.decoder.embed_dim):
            raise NmtError("share_embeddings needs equal vocabulary sizes and embed dims")


class DilatedRNNEncoder(nn.Module):
    """Embedding -> dropout_in -> dilated recurrent stack -> dropout_out (see module docstring)."""

    def __init__(self, cfg: DilatedRNNConfig, embed_tokens: nn.Embedding):
        super().__init__()
        self.pad_id = cfg.pad_id
        self.embed_tokens = embed_tokens
        self.dropout_in = Dropout(cfg.encoder_dropout_in)
        self.dropout_out = Dropout(cfg.encoder_dropout_out)
        self.rnn = DilatedRNN(cfg.encoder_embed_dim, cfg.encoder_hidden_size, cfg.dilations(),
                              cell=cfg.cell, bidirectional=cfg.encoder_bidirectional,
                              dropout=cfg.encoder_dropout_out, qrnn_kernel=cfg.qrnn_kernel,
                              qrnn_pooling=cfg.qrnn_pooling, zoneout=cfg.zoneout)

    def forward(self, src: Tensor) -> tuple[Tensor, Tensor]:
        """src (B, S) padded on either side -> outputs (B, S, U) at the positions of ``src`` (0 at
        pads), final states (B, L, U)."""
        mask, S = src.ne(self.pad_id), src.size(1)
        lead = mask.long().argmax(1, keepdim=True)  # leading pads per row
        pos = torch.arange(S, device=src.device).expand_as(src)
        rotated = bool(lead.any())
        if rotated:  # right padding from here on
            src = src.gather(1, (pos + lead) % S)
            mask = src.ne(self.pad_id)
        out, finals = self.rnn(self.dropout_in(self.embed_tokens(src)), mask)
        if rotated:  # back to the caller's positions
            out = gather_steps(out, (pos - lead) % S)
        return self.dropout_out(out), finals


class DilatedRNNModel(LuongDecoding, Seq2SeqModel[LSTMEncoderOut, LSTMState]):
    """Dilated RNN encoder + the LSTM attention decoder (see the module docstring)."""

    output_layer = "decoder.fc_out"

    def __init__(self, cfg: DilatedRNNConfig):
        super().__init__()
        cfg.validate()
        self.cfg = cfg
        src_embed = uniform_embedding(cfg.src_vocab_size, cfg.encoder_embed_dim, cfg.pad_id)
        tgt_embed = (src_embed if cfg.share_embeddings else
                     uniform_embedding(cfg.tgt_vocab_size, cfg.decoder.embed_dim, cfg.pad_id))
        self.encoder = DilatedRNNEncoder(cfg, src_embed)
        self.decoder = LSTMDecoder(cfg.decoder, tgt_embed, vocab_size=cfg.tgt_vocab_size,
                                   source_size=cfg.encoder_output_size,
                                   encoder_layers=cfg.encoder_layers, tie_output=cfg.tie_output)

    def encode(self, src: Tensor, src_lens: Tensor | None = None) -> LSTMEncoderOut:
        """src (B, S); ``src_lens`` is unused: the pad mask comes from the tokens."""
        out, finals = self.encoder(src)
        return self.decoder.encoder_out(out, src.eq(self.cfg.pad_id), finals,
                                        torch.zeros_like(finals))


# -- presets ------------------------------------------------------------------------------------


def dilated_lstm_iwslt_de_en() -> DilatedRNNConfig:
    """Dilated LSTM encoder for IWSLT'14 de-en: embed 256, 4 bi-LSTM layers of 2 x 256, dilations 1..8; LSTM attention decoder of 256."""
    # Our choice (Chang et al. do not translate): the lstm_wiseman_iwslt_de_en sizes with a
    # 4-layer dilated encoder, so no recurrent path is longer than T/8 steps at the top.
    return DilatedRNNConfig(
        cell="lstm", encoder_embed_dim=256, encoder_hidden_size=256, encoder_layers=4,
        encoder_bidirectional=True, encoder_dropout_in=0.1, encoder_dropout_out=0.2,
        decoder=LuongDecoderConfig(embed_dim=256, hidden_size=256, layers=1, out_embed_dim=256,
                                   dropout_in=0.1, dropout_out=0.2, attention="general"))


def dilated_rnn_small() -> DilatedRNNConfig:
    """Dilated GRU encoder for Multi30k on a CPU: embed 256, 3 bi-GRU layers of 2 x 256, dilations 1, 2, 4; LSTM decoder of 256, tied."""
    base = dilated_lstm_iwslt_de_en()
    return replace(base, cell="gru", encoder_layers=3, encoder_dropout_in=0.2,
                   encoder_dropout_out=0.2, tie_output=True,
                   decoder=replace(base.decoder, dropout_in=0.2, dropout_out=0.2))


PRESETS = [dilated_lstm_iwslt_de_en, dilated_rnn_small]
