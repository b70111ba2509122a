"""TCN encoder-decoder: the generic temporal convolutional network of Bai, Kolter & Koltun (2018)
as a translation model.

- **Encoder**: token embedding (+ learned positions, optional) -> dropout -> a stack of *centred*
  (non-causal) dilated :class:`~nmt.modules.tcn_block.TemporalBlock` s, dilation ``2^i`` at level
  ``i`` -> ``fc2`` to the embedding width, giving ``z`` (the attention keys) and ``(z + e)·√½``
  (the values, ``e`` the source embedding), as ConvS2S. The source pad mask comes from the tokens
  and every convolution zeroes padded inputs, so padding on either side never changes ``z``.
- **Decoder**: token embedding (+ positions) -> dropout -> *causal* dilated temporal blocks;
  after the blocks chosen by ``decoder_attention`` (default: every block, ConvS2S's multi-step
  attention) :class:`~nmt.modules.multistep_attention.MultiStepAttention` over ``(z, (z+e)·√½)``
  with the target embedding ``g``: ``x ← (W_o c + x)·√½``. Then ``fc2`` to
  ``decoder_out_embed_dim`` -> dropout -> ``fc3`` to the vocabulary (its weight is the target
  embedding table when ``tie_output``). Attention is pointwise in time, so it adds nothing to the
  decoder's receptive field. As in ConvS2S, gradients into ``z`` are scaled by
  1/(2·#attention layers).
- **Receptive field** (:meth:`TCNModel.receptive_field`): the decoder's output ``t`` depends on
  ``tgt_in[t − H … t]`` and on no earlier token, ``H = Σ_blocks 2·(k_i − 1)·d_i`` (two
  convolutions per block); we report ``H + 1`` positions. The encoder's ``z_t`` reads the source
  from ``t − H_left`` to ``t + H_right`` (``H_left + H_right = H_enc``), also ``H_enc + 1``.
- **Incremental decoding**: the state keeps, per decoder convolution, a window of its last
  ``(k−1)·d`` inputs, nothing more; a step is one matrix product per convolution.

State-dict names: ``{encoder,decoder}.embed_tokens / embed_positions``,
``encoder.tcn.blocks.{i}.{conv1,conv2}.conv`` (weight-normalised Conv1d, weight (C_out, C_in, k)),
``...blocks.{i}.downsample`` (the 1x1 residual conv, only where widths differ), ``encoder.fc2``,
``decoder.tcn.blocks.{i}...``, ``decoder.attention.{i}`` (only blocks with attention),
``decoder.fc2``, ``decoder.fc3``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import NamedTuple

import torch
from torch import Tensor, nn

from nmt.data.dictionary import PAD_ID
from nmt.errors import NmtError
from nmt.models.base import Seq2SeqModel
from nmt.modules.dropout import Dropout
from nmt.modules.embeddings import normal_embedding, position_embedding
from nmt.modules.grad_multiply import grad_multiply
from nmt.modules.linear import Linear
from nmt.modules.multistep_attention import (
    SQRT_HALF,
    AttentionSource,
    MultiStepAttention,
)
from nmt.modules.tcn_block import TemporalConvNet, tcn_dilations
from nmt.modules.weight_norm import wn_linear

_LEVEL_KEYS = ("channels", "kernel", "repeat")
ATTENTION_CHOICES = ("all", "last")


class TCNLevel(NamedTuple):
    """One temporal block: output width, kernel width and dilation."""

    channels: int
    kernel: int
    dilation: int


def expand_levels(stack: list, cycle: int = 0) -> list[TCNLevel]:
    """A block stack given as data, ``[{channels, kernel, repeat=1}, ...]``, as one
    :class:`TCNLevel` per block; block ``i`` (counted over the whole stack) gets dilation ``2^i``,
    or ``2^(i mod cycle)`` with a ``cycle``."""
    items: list[tuple[int, int]] = []
    for item in stack if isinstance(stack, (list, tuple)) else [stack]:
        if (not isinstance(item, dict) or set(item) - set(_LEVEL_KEYS)
                or not {"channels", "kernel"} <= set(item)):
            raise NmtError(f"bad TCN level {item!r}: expected {{channels, kernel, repeat}}")
        try:
            spec = (int(item["channels"]), int(item["kernel"]))
            repeat = int(item.get("repeat", 1))
        except (TypeError, ValueError):
            raise NmtError(f"bad TCN level {item!r}: channels, kernel, repeat must be ints") from None
        if spec[0] < 1 or spec[1] < 1 or repeat < 0:
            raise NmtError(f"bad TCN level {item!r}: need channels >= 1, kernel >= 1, repeat >= 0")
        items.extend([spec] * repeat)
    if not items:
        raise NmtError("a TCN stack needs at least one block")
    dilations = tcn_dilations(len(items), cycle)
    return [TCNLevel(c, k, d) for (c, k), d in zip(items, dilations)]


def _default_stack() -> list[dict]:
    return [{"channels": 256, "kernel": 3, "repeat": 5}]


@dataclass
class TCNConfig:
    """Architecture of a TCN encoder-decoder.

    ``encoder_layers`` / ``decoder_layers``: block stacks as data, ``[{channels, kernel, repeat}]``;
    block ``i`` has dilation ``2^i`` (``2^(i mod dilation_cycle)`` when ``dilation_cycle > 0``).
    ``embed_dim`` is the width of both embeddings and of the attention (keys, values, queries).
    ``decoder_attention``: ``"all"`` (after every decoder block), ``"last"`` (after the last one)
    or one bool per decoder block. ``dropout`` is the spatial dropout inside the blocks,
    ``embed_dropout`` the ordinary dropout on the embeddings and before the output layer.
    ``positions``: add learned position embeddings (``max_*_positions`` rows each, holding
    ``rows − pad_id − 1`` tokens); without them ``max_*_positions`` only bound search.
    ``tie_output`` needs ``decoder_out_embed_dim == embed_dim``.
    """

    src_vocab_size: int = 0
    tgt_vocab_size: int = 0
    pad_id: int = PAD_ID
    embed_dim: int = 256
    encoder_layers: list = field(default_factory=_default_stack)
    decoder_layers: list = field(default_factory=_default_stack)
    dilation_cycle: int = 0
    decoder_attention: str | list[bool] = "all"
    decoder_out_embed_dim: int = 256
    dropout: float = 0.1
    embed_dropout: float = 0.1
    positions: bool = True
    tie_output: bool = False
    share_embeddings: bool = False
    max_source_positions: int = 1024
    max_target_positions: int = 1024

    def encoder_levels(self) -> list[TCNLevel]:
        return expand_levels(self.encoder_layers, self.dilation_cycle)

    def decoder_levels(self) -> list[TCNLevel]:
        return expand_levels(self.decoder_layers, self.dilation_cycle)

    def attention_layers(self) -> list[bool]:
        n, flags = len(self.decoder_levels()), self.decoder_attention
        if isinstance(flags, str):
            if flags not in ATTENTION_CHOICES:
                raise NmtError(f"decoder_attention must be 'all', 'last' or one bool per decoder "
                               f"block, got {flags!r}")
            return [True] * n if flags == "all" else [False] * (n - 1) + [True]
        flags = [bool(f) for f in flags]
        if len(flags) != n or not any(flags):
            raise NmtError(f"decoder_attention needs {n} flags (one per decoder block), at least "
                           f"one True; got {self.decoder_attention!r}")
        return flags

    def validate(self) -> None:
        if self.src_vocab_size < 1 or self.tgt_vocab_size < 1:
            raise NmtError("TCNConfig needs src_vocab_size and tgt_vocab_size (from the data)")
        for name in ("embed_dim", "decoder_out_embed_dim", "max_source_positions",
                     "max_target_positions"):
            if getattr(self, name) < 1:
                raise NmtError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.positions and min(self.max_source_positions,
                                  self.max_target_positions) <= self.pad_id + 1:
            raise NmtError(f"max_*_positions must be > pad_id + 1 = {self.pad_id + 1}")
        if self.dilation_cycle < 0:
            raise NmtError(f"dilation_cycle must be >= 0, got {self.dilation_cycle}")
        for name in ("dropout", "embed_dropout"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise NmtError(f"{name} must be in [0, 1), got {getattr(self, name)}")
        if self.tie_output and self.decoder_out_embed_dim != self.embed_dim:
            raise NmtError("tie_output needs decoder_out_embed_dim == embed_dim")
        if self.share_embeddings and self.src_vocab_size != self.tgt_vocab_size:
            raise NmtError("share_embeddings needs equal source and target vocabulary sizes")
        self.encoder_levels()
        self.attention_layers()


# The decoder reads the same things from the source as ConvS2S's: z (B, S, D), the attention keys;
# ze = (z + e)·√½ (B, S, D), the values; pad_mask (B, S).
TCNEncoderOut = AttentionSource


@dataclass
class TCNState:
    """Incremental decoder state.

    windows: per decoder convolution (two per block, in order), (B, (k−1)·d, C_in): the last
             (k−1)·d inputs of that convolution (zeros before the first step)
    step:    number of target tokens consumed so far
    attn:    (B, S) attention of the last step averaged over the attention layers, or None
    """

    windows: list[Tensor]
    step: int = 0
    attn: Tensor | None = None


def _stack(input_size: int, levels: list[TCNLevel], *, causal: bool,
           dropout: float) -> TemporalConvNet:
    return TemporalConvNet(input_size, [lv.channels for lv in levels],
                           [lv.kernel for lv in levels], causal=causal, dropout=dropout,
                           dilations=[lv.dilation for lv in levels])


class TCNEncoder(nn.Module):
    """Embeddings -> centred dilated temporal blocks -> fc2, giving z and (z + e)·√½."""

    def __init__(self, cfg: TCNConfig, embed_tokens: nn.Embedding):
        super().__init__()
        self.pad_id = cfg.pad_id
        self.embed_tokens = embed_tokens
        self.embed_positions = (position_embedding(cfg.max_source_positions, cfg.embed_dim,
                                                   cfg.pad_id) if cfg.positions else None)
        self.dropout = Dropout(cfg.embed_dropout)
        levels = cfg.encoder_levels()
        self.tcn = _stack(cfg.embed_dim, levels, causal=False, dropout=cfg.dropout)
        self.fc2 = wn_linear(levels[-1].channels, cfg.embed_dim)
        self.grad_scale = 1.0  # set by the model to 1 / (2 · #attention layers)

    def forward(self, src: Tensor) -> TCNEncoderOut:
        """src (B, S) long, padded on either side with ``pad_id``."""
        pad_mask = src.eq(self.pad_id)
        e = self.embed_tokens(src)
        if self.embed_positions is not None:
            e = e + self.embed_positions(src)
        e = self.dropout(e)  # (B, S, D)
        x = self.tcn(e, ~pad_mask)  # (B, S, C)
        z = self.fc2(x).masked_fill(pad_mask.unsqueeze(-1), 0.0)
        z = grad_multiply(z, self.grad_scale)
        return TCNEncoderOut(z=z, ze=(z + e) * SQRT_HALF, pad_mask=pad_mask)


class TCNDecoder(nn.Module):
    """Embeddings -> causal dilated temporal blocks with attention -> fc2 -> fc3."""

    def __init__(self, cfg: TCNConfig, embed_tokens: nn.Embedding):
        super().__init__()
        self.embed_tokens = embed_tokens
        self.embed_positions = (position_embedding(cfg.max_target_positions, cfg.embed_dim,
                                                   cfg.pad_id) if cfg.positions else None)
        self.dropout = Dropout(cfg.embed_dropout)
        levels = cfg.decoder_levels()
        self.tcn = _stack(cfg.embed_dim, levels, causal=True, dropout=cfg.dropout)
        self.attention = nn.ModuleDict({
            str(i): MultiStepAttention(levels[i].channels, cfg.embed_dim)
            for i, flag in enumerate(cfg.attention_layers()) if flag})
        self.fc2 = wn_linear(levels[-1].channels, cfg.decoder_out_embed_dim)
        if cfg.tie_output:
            self.fc3 = Linear(cfg.decoder_out_embed_dim, cfg.tgt_vocab_size)
            self.fc3.weight = embed_tokens.weight
            nn.init.zeros_(self.fc3.bias)
        else:
            self.fc3 = wn_linear(cfg.decoder_out_embed_dim, cfg.tgt_vocab_size,
                                 dropout=cfg.embed_dropout)

    def embed(self, tokens: Tensor, step: int | None = None) -> Tensor:
        """tokens (B, T) -> g (B, T, D); ``step`` (incremental, T = 1) picks the position."""
        g = self.embed_tokens(tokens)
        if self.embed_positions is not None:
            g = g + (self.embed_positions(tokens) if step is None else
                     self.embed_positions.at_step(step, tokens.size(0)))
        return self.dropout(g)

    def forward(self, tgt_in: Tensor, enc: TCNEncoderOut) -> tuple[Tensor, Tensor]:
        """Teacher forcing: tgt_in (B, T) -> logits (B, T, V), average attention (B, T, S)."""
        g = self.embed(tgt_in)
        x, attns = g, []
        scale = enc.scale  # (B, 1, 1)
        for i, block in enumerate(self.tcn.blocks):
            x = block(x)
            x = self._attend(i, x, g, enc, scale, attns)
        return self._output(x), torch.stack(attns).mean(0)

    def step(self, prev_tokens: Tensor, state: TCNState,
             enc: TCNEncoderOut) -> tuple[Tensor, TCNState]:
        """One incremental step: prev_tokens (B,) -> logits (B, V) and the next state."""
        g = self.embed(prev_tokens.unsqueeze(1), state.step)  # (B, 1, D)
        x, attns, windows = g, [], []
        scale = enc.scale  # (B, 1, 1)
        for i, block in enumerate(self.tcn.blocks):
            x, ws = block.step(x, state.windows[2 * i : 2 * i + 2])
            windows.extend(ws)
            x = self._attend(i, x, g, enc, scale, attns)
        attn = torch.stack(attns).mean(0).squeeze(1)  # (B, S)
        return self._output(x).squeeze(1), TCNState(windows, state.step + 1, attn)

    def _attend(self, i: int, x: Tensor, g: Tensor, enc: TCNEncoderOut, scale: Tensor,
                attns: list[Tensor]) -> Tensor:
        layer = self.attention[str(i)] if str(i) in self.attention else None
        if layer is None:
            return x
        x, attn = layer(x, g, enc.z, enc.ze, enc.pad_mask, scale)
        attns.append(attn)
        return x

    def _output(self, x: Tensor) -> Tensor:
        return self.fc3(self.dropout(self.fc2(x)))


class TCNModel(Seq2SeqModel[TCNEncoderOut, TCNState]):
    """The TCN encoder-decoder (see the module docstring)."""

    output_layer = "decoder.fc3"

    def __init__(self, cfg: TCNConfig):
        super().__init__()
        cfg.validate()
        self.cfg = cfg
        src_embed = normal_embedding(cfg.src_vocab_size, cfg.embed_dim, cfg.pad_id)
        tgt_embed = (src_embed if cfg.share_embeddings else
                     normal_embedding(cfg.tgt_vocab_size, cfg.embed_dim, cfg.pad_id))
        self.encoder = TCNEncoder(cfg, src_embed)
        self.decoder = TCNDecoder(cfg, tgt_embed)
        self.encoder.grad_scale = 1.0 / (2.0 * len(self.decoder.attention))

    def receptive_field(self) -> tuple[int, int]:
        """(source, target) positions one output reads: ``1 + Σ_blocks 2·(k_i − 1)·d_i`` each.
        The decoder's output t reads ``tgt_in[t − H … t]``, ``H = receptive_field()[1] − 1``; the
        encoder's z_t reads ``src[t − a … t + b]`` with ``(a, b) = encoder.tcn.context``."""
        return self.encoder.tcn.receptive_field, self.decoder.tcn.receptive_field

    def forward(self, src: Tensor, src_lens: Tensor, tgt_in: Tensor) -> Tensor:
        """src (B, S), src_lens (B,) (unused: the pad mask comes from the tokens), tgt_in (B, T)
        -> logits (B, T, V)."""
        return self.decoder(tgt_in, self.encode(src, src_lens))[0]

    def encode(self, src: Tensor, src_lens: Tensor | None = None) -> TCNEncoderOut:
        return self.encoder(src)

    def init_state(self, enc: TCNEncoderOut) -> TCNState:
        return TCNState(windows=self.decoder.tcn.initial_windows(enc.z.size(0), enc.z))

    def decode_step(self, prev_tokens: Tensor, state: TCNState,
                    enc: TCNEncoderOut) -> tuple[Tensor, TCNState]:
        logits, state = self.decoder.step(prev_tokens, state, enc)
        return self.log_probs(logits), state


    def max_positions(self) -> tuple[int, int]:
        if not self.cfg.positions:
            return self.cfg.max_source_positions, self.cfg.max_target_positions
        return (self.encoder.embed_positions.max_positions,
                self.decoder.embed_positions.max_positions)


# -- presets ------------------------------------------------------------------------------------


def _blocks(channels: int, kernel: int, repeat: int) -> list[dict]:
    return [{"channels": channels, "kernel": kernel, "repeat": repeat}]


def tcn_iwslt_de_en() -> TCNConfig:
    """TCN for IWSLT'14 de-en BPE: embed 256, 6+6 blocks of (256, k3), dilations 1..32 (receptive field 253), attention in every block."""
    # Our choice (the paper has no translation model): the ConvS2S IWSLT width; 6 levels so the
    # decoder's history (2·2·63 = 252 tokens) and the encoder's ±126 cover IWSLT's sentences.
    return TCNConfig(embed_dim=256, encoder_layers=_blocks(256, 3, 6),
                     decoder_layers=_blocks(256, 3, 6), decoder_attention="all",
                     decoder_out_embed_dim=256, dropout=0.2, embed_dropout=0.2)


def tcn_small() -> TCNConfig:
    """TCN for Multi30k on a CPU: embed 256, 5+5 blocks of (256, k3), dilations 1..16 (receptive field 125), tied output."""
    return replace(tcn_iwslt_de_en(), encoder_layers=_blocks(256, 3, 5),
                   decoder_layers=_blocks(256, 3, 5), tie_output=True, dropout=0.2,
                   embed_dropout=0.2)


PRESETS = [tcn_iwslt_de_en, tcn_small]
