"""ConvS2S: Convolutional Sequence to Sequence Learning (Gehring et al. 2017).

Numerically the same function as fairseq's ``fconv`` on the same weights (see
:mod:`nmt.models.fairseq_import`); the state-dict names follow fairseq's where the structure allows,
with the conv, its residual projection and its attention grouped per layer:

    {encoder,decoder}.embed_tokens / embed_positions / fc1 / fc2
    {encoder,decoder}.layers.{i}.conv.conv        weight-normalised Conv1d, weight (2C, C_in, k)
    {encoder,decoder}.layers.{i}.projection       only where the residual width changes
    decoder.layers.{i}.attention.{in,out}_projection
    decoder.fc3                                   output layer (its weight is the decoder embedding
                                                  table when ``tie_output``)
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
from nmt.modules.glu_conv import GLUConv1d
from nmt.modules.grad_multiply import grad_multiply
from nmt.modules.joined_rows import cat_padded
from nmt.modules.linear import Linear
from nmt.modules.multistep_attention import (
    SQRT_HALF,
    AttentionSource,
    MultiStepAttention,
)
from nmt.modules.weight_norm import wn_linear


class LayerSpec(NamedTuple):
    """One conv block: output width, kernel width, and how many blocks back its residual comes
    from (1: the previous block, 0: no residual), as in fairseq's ``(out, kernel, residual)``."""

    channels: int
    kernel: int
    residual: int = 1


_LAYER_KEYS = ("channels", "kernel", "repeat", "residual")


def _fairseq_default_stack() -> list[dict]:
    return [{"channels": 512, "kernel": 3, "repeat": 20}]


def expand_layers(stack: list) -> list[LayerSpec]:
    """Expand a layer stack given as data into one :class:`LayerSpec` per block.

    Items are dicts ``{channels, kernel, repeat=1, residual=1}`` (the config form, e.g.
    ``[{channels: 512, kernel: 3, repeat: 9}, {channels: 1024, kernel: 3, repeat: 4}]``) or
    sequences ``(channels, kernel[, residual])`` (fairseq's form after parsing).
    """
    try:
        specs = [spec for item in stack for spec in _expand_item(item)]
    except (TypeError, ValueError):
        msg = f"bad layer stack {stack!r}: channels, kernel, repeat, residual must be ints"
        raise NmtError(msg) from None
    if not specs:
        raise NmtError("a ConvS2S layer stack needs at least one layer")
    for i, s in enumerate(specs):
        if s.channels < 1 or s.kernel < 1 or not 0 <= s.residual <= i + 1:
            raise NmtError(f"bad layer {i} {tuple(s)}: need channels >= 1, kernel >= 1 "
                           f"and 0 <= residual <= {i + 1}")
    return specs


def _expand_item(item) -> list[LayerSpec]:
    if isinstance(item, dict):
        if set(item) - set(_LAYER_KEYS) or "channels" not in item or "kernel" not in item:
            raise NmtError(f"bad layer {item!r}: keys are channels, kernel, repeat, residual")
        residual = int(item.get("residual", 1))
        return [LayerSpec(int(item["channels"]), int(item["kernel"]), residual)] * int(
            item.get("repeat", 1))
    if isinstance(item, (list, tuple)) and len(item) in (2, 3):
        return [LayerSpec(*(int(v) for v in item))]
    raise NmtError(f"bad layer {item!r}: expected {{channels, kernel, repeat}} or a tuple")


def compress_layers(specs: list[LayerSpec]) -> list[dict]:
    """The inverse of :func:`expand_layers`: runs of equal blocks as ``{.., repeat: n}`` dicts."""
    out: list[dict] = []
    for s in specs:
        d = {"channels": s.channels, "kernel": s.kernel}
        if s.residual != 1:
            d["residual"] = s.residual
        if out and {k: v for k, v in out[-1].items() if k != "repeat"} == d:
            out[-1]["repeat"] = out[-1].get("repeat", 1) + 1
        else:
            out.append(d)
    return out


@dataclass
class ConvS2SConfig:
    """Architecture of a ConvS2S model. The defaults are fairseq's ``fconv`` base architecture.

    ``decoder_attention`` is one bool for every decoder layer or one bool per layer.
    ``max_*_positions`` are the rows of the learned position tables; a sequence may have up to
    ``rows − pad_id − 1`` tokens (1022 with 1024 rows). ``share_embeddings`` uses one token table
    for source and target (same vocabulary and embed dim); ``tie_output`` uses the decoder token
    table as the output layer's weight (fairseq ``--share-input-output-embed``; needs
    ``decoder_out_embed_dim == decoder_embed_dim``).
    """

    src_vocab_size: int = 0
    tgt_vocab_size: int = 0
    encoder_embed_dim: int = 512
    encoder_layers: list = field(default_factory=_fairseq_default_stack)
    decoder_embed_dim: int = 512
    decoder_layers: list = field(default_factory=_fairseq_default_stack)
    decoder_out_embed_dim: int = 256
    decoder_attention: bool | list[bool] = True
    dropout: float = 0.1
    share_embeddings: bool = False
    tie_output: bool = False
    max_source_positions: int = 1024
    max_target_positions: int = 1024
    pad_id: int = PAD_ID

    def encoder_specs(self) -> list[LayerSpec]:
        return expand_layers(self.encoder_layers)

    def decoder_specs(self) -> list[LayerSpec]:
        return expand_layers(self.decoder_layers)

    def attention_layers(self) -> list[bool]:
        n = len(self.decoder_specs())
        flags = self.decoder_attention
        flags = [bool(flags)] * n if isinstance(flags, bool) else [bool(f) for f in flags]
        if len(flags) != n:
            raise NmtError(f"decoder_attention has {len(flags)} entries for {n} decoder layers")
        return flags

    def validate(self) -> None:
        if self.src_vocab_size < 1 or self.tgt_vocab_size < 1:
            raise NmtError("ConvS2SConfig needs src_vocab_size and tgt_vocab_size (from the data)")
        if not 0.0 <= self.dropout < 1.0:
            raise NmtError(f"dropout must be in [0, 1), got {self.dropout}")
        if self.tie_output and self.decoder_out_embed_dim != self.decoder_embed_dim:
            raise NmtError("tie_output needs decoder_out_embed_dim == decoder_embed_dim")
        if self.share_embeddings and (self.src_vocab_size != self.tgt_vocab_size
                                      or self.encoder_embed_dim != self.decoder_embed_dim):
            raise NmtError("share_embeddings needs equal vocabulary sizes and embed dims")
        self.attention_layers()
        self.encoder_specs()


# What the decoder reads from the source: z, (z + e)·√½ and the pad mask.
ConvS2SEncoderOut = AttentionSource


@dataclass
class ConvS2SState:
    """Incremental decoder state.

    windows:    per decoder layer, (B, k_l − 1, C_in_l): the last k_l − 1 inputs of its convolution
    step:       number of target tokens consumed so far (the next token has position step + pad + 1),
                one int for all rows or (B,) long per row (rows that joined a search at different
                steps)
    layer_attn: the last step's attention (B, S) of each attention layer, and ``layers`` the number
                of decoder layers; :attr:`attn` averages them only when a search asks for it
    """

    windows: list[Tensor]
    step: int | Tensor = 0
    layer_attn: list[Tensor] = field(default_factory=list)
    layers: int = 1

    @property
    def attn(self) -> Tensor | None:
        """(B, S) the last step's attention averaged over the layers, or None."""
        return average_attention(self.layer_attn, self.layers)


def average_attention(attns: list[Tensor], layers: int) -> Tensor | None:
    """fairseq's average of the attention layers' probabilities over all ``layers`` decoder
    layers: Σ_l a_l / layers, summed in layer order (None without attention layers)."""
    avg = None
    for attn in attns:
        attn = attn / layers
        avg = attn if avg is None else avg + attn
    return avg


class ConvS2SLayer(nn.Module):
    """One residual block: ``h^l = [attention](v(conv(h^{l−1}))) + h^{l−r}`` scaled by √½ (§3.2).

    The residual comes from ``residual`` blocks back (through a weight-normalised ``projection``
    where the widths differ); :meth:`residual_input` picks it from the list of block outputs.
    """

    def __init__(self, in_channels: int, spec: LayerSpec, residual_channels: int, *,
                 causal: bool, dropout: float, attention_dim: int | None = None):
        super().__init__()
        self.residual = spec.residual
        self.projection = (wn_linear(residual_channels, spec.channels)
                           if spec.residual and residual_channels != spec.channels else None)
        self.conv = GLUConv1d(in_channels, spec.channels, spec.kernel, causal=causal,
                              dropout=dropout)
        self.attention = (MultiStepAttention(spec.channels, attention_dim)
                          if attention_dim is not None else None)

    def residual_input(self, outputs: list[Tensor]) -> Tensor | None:
        if not self.residual:
            return None
        x = outputs[-self.residual]
        return x if self.projection is None else self.projection(x)


def build_layers(in_channels: int, specs: list[LayerSpec], *, causal: bool, dropout: float,
                 attention_dims: list[int | None]) -> nn.ModuleList:
    widths = [in_channels]  # input width of the stack, then each block's output width
    layers = nn.ModuleList()
    for spec, attention_dim in zip(specs, attention_dims, strict=True):
        residual_channels = widths[-spec.residual] if spec.residual else spec.channels
        layers.append(ConvS2SLayer(widths[-1], spec, residual_channels, causal=causal,
                                   dropout=dropout, attention_dim=attention_dim))
        widths.append(spec.channels)
    return layers


class ConvS2SEncoder(nn.Module):
    """Embeddings -> fc1 -> centred GLU conv blocks -> fc2, giving z and (z + e)·√½ (§3.1–3.2)."""

    def __init__(self, cfg: ConvS2SConfig, embed_tokens: nn.Embedding):
        super().__init__()
        specs, dim = cfg.encoder_specs(), cfg.encoder_embed_dim
        self.pad_id = cfg.pad_id
        self.embed_tokens = embed_tokens
        self.embed_positions = position_embedding(cfg.max_source_positions, dim, cfg.pad_id)
        self.dropout = Dropout(cfg.dropout)
        self.fc1 = wn_linear(dim, specs[0].channels, dropout=cfg.dropout)
        self.layers = build_layers(specs[0].channels, specs, causal=False, dropout=cfg.dropout,
                                   attention_dims=[None] * len(specs))
        self.fc2 = wn_linear(specs[-1].channels, dim)
        self.grad_scale = 1.0  # set by the model to 1 / (2 · #attention layers)

    def forward(self, src: Tensor) -> ConvS2SEncoderOut:
        """src (B, S) long, padded on either side with ``pad_id``."""
        pad_mask = src.eq(self.pad_id)  # (B, S)
        pads = pad_mask.unsqueeze(-1) if bool(pad_mask.any()) else None  # (B, S, 1)
        e = self.dropout(self.embed_tokens(src) + self.embed_positions(src))  # (B, S, D)
        x = self.fc1(e)  # (B, S, C_0)
        outputs = [x]
        for layer in self.layers:
            residual = layer.residual_input(outputs)
            x = layer.conv(_zero_pads(x, pads))  # pads must not leak into real positions
            if residual is not None:
                x = (x + residual) * SQRT_HALF
            outputs.append(x)
        z = _zero_pads(self.fc2(x), pads)  # (B, S, D)
        z = grad_multiply(z, self.grad_scale)  # backward only; e keeps its full gradient below
        return ConvS2SEncoderOut(z=z, ze=(z + e) * SQRT_HALF, pad_mask=pad_mask)


def _zero_pads(x: Tensor, pads: Tensor | None) -> Tensor:
    """x (B, S, C) with 0 where ``pads`` (B, S, 1) is True; x itself when nothing is padded (a
    lone sentence, as a server's joining sentences often are)."""
    return x if pads is None else x.masked_fill(pads, 0.0)


class ConvS2SDecoder(nn.Module):
    """Embeddings -> fc1 -> causal GLU conv blocks with attention -> fc2 -> fc3 (§3.2–3.3)."""

    def __init__(self, cfg: ConvS2SConfig, embed_tokens: nn.Embedding):
        super().__init__()
        specs, dim = cfg.decoder_specs(), cfg.decoder_embed_dim
        self.embed_tokens = embed_tokens
        self.embed_positions = position_embedding(cfg.max_target_positions, dim, cfg.pad_id)
        self.dropout = Dropout(cfg.dropout)
        self.fc1 = wn_linear(dim, specs[0].channels, dropout=cfg.dropout)
        attention_dims = [dim if a else None for a in cfg.attention_layers()]
        self.layers = build_layers(specs[0].channels, specs, causal=True, dropout=cfg.dropout,
                                   attention_dims=attention_dims)
        self.num_attention_layers = sum(a is not None for a in attention_dims)
        self.fc2 = wn_linear(specs[-1].channels, cfg.decoder_out_embed_dim)
        if cfg.tie_output:
            self.fc3 = Linear(cfg.decoder_out_embed_dim, cfg.tgt_vocab_size)
            self.fc3.weight = embed_tokens.weight
            nn.init.zeros_(self.fc3.bias)
        else:
            self.fc3 = wn_linear(cfg.decoder_out_embed_dim, cfg.tgt_vocab_size, dropout=cfg.dropout)

    def forward(self, tgt_in: Tensor, enc: ConvS2SEncoderOut) -> tuple[Tensor, Tensor | None]:
        """Teacher forcing: tgt_in (B, T) -> logits (B, T, V), average attention (B, T, S)."""
        g = self.dropout(self.embed_tokens(tgt_in) + self.embed_positions(tgt_in))  # (B, T, D)
        x, attns, _ = self._blocks(self.fc1(g), g, enc, windows=None)
        return self._output(x), average_attention(attns, len(self.layers))

    def step(self, prev_tokens: Tensor, state: ConvS2SState,
             enc: ConvS2SEncoderOut) -> tuple[Tensor, ConvS2SState]:
        """One incremental step: prev_tokens (B,) -> logits (B, V) and the next state."""
        batch_size = prev_tokens.size(0)
        tokens = prev_tokens.unsqueeze(1)  # (B, 1)
        pos = self.embed_positions.at_step(state.step, batch_size)  # (B, 1, D)
        g = self.dropout(self.embed_tokens(tokens) + pos)  # (B, 1, D)
        x, attns, windows = self._blocks(self.fc1(g), g, enc, windows=state.windows)
        attns = [a.squeeze(1) for a in attns]  # (B, S) each
        return (self._output(x).squeeze(1),
                ConvS2SState(windows, state.step + 1, attns, len(self.layers)))

    def _blocks(self, x: Tensor, g: Tensor, enc: ConvS2SEncoderOut, windows: list[Tensor] | None):
        """The conv blocks over x (B, T, C_0); with ``windows`` (incremental, T = 1) each conv
        takes its left context from its window instead of zero padding.

        Returns x (B, T, C_L), each attention layer's attention (B, T, S) and the new windows."""
        outputs, new_windows, attns = [x], [], []
        for i, layer in enumerate(self.layers):
            residual = layer.residual_input(outputs)
            if windows is None:
                x = layer.conv(x)
            else:
                x, window = layer.conv.step(x, windows[i])
                new_windows.append(window)
            if layer.attention is not None:
                x, attn = layer.attention(x, g, enc.z, enc.ze, enc.pad_mask, enc.scale)
                attns.append(attn)
            if residual is not None:
                x = (x + residual) * SQRT_HALF
            outputs.append(x)
        return x, attns, new_windows

    def _output(self, x: Tensor) -> Tensor:
        return self.fc3(self.dropout(self.fc2(x)))


class ConvS2SModel(Seq2SeqModel[ConvS2SEncoderOut, ConvS2SState]):
    """The full model. Gradients flowing into the encoder output z are scaled by
    1/(2·#attention layers) (§3.4); the source embeddings keep their gradient through (z + e)."""

    output_layer = "decoder.fc3"

    def __init__(self, cfg: ConvS2SConfig):
        super().__init__()
        cfg.validate()
        self.cfg = cfg
        src_embed = normal_embedding(cfg.src_vocab_size, cfg.encoder_embed_dim, cfg.pad_id)
        tgt_embed = (src_embed if cfg.share_embeddings else
                     normal_embedding(cfg.tgt_vocab_size, cfg.decoder_embed_dim, cfg.pad_id))
        self.encoder = ConvS2SEncoder(cfg, src_embed)
        self.decoder = ConvS2SDecoder(cfg, tgt_embed)
        n = self.decoder.num_attention_layers
        self.encoder.grad_scale = 1.0 / (2.0 * n) if n else 1.0

    def forward(self, src: Tensor, src_lens: Tensor, tgt_in: Tensor) -> Tensor:
        """src (B, S), src_lens (B,) (unused: the pad mask comes from the tokens), tgt_in (B, T)
        -> logits (B, T, V)."""
        return self.decoder(tgt_in, self.encode(src, src_lens))[0]

    def encode(self, src: Tensor, src_lens: Tensor | None = None) -> ConvS2SEncoderOut:
        return self.encoder(src)

    def init_state(self, enc: ConvS2SEncoderOut) -> ConvS2SState:
        batch_size = enc.z.size(0)
        windows = [layer.conv.initial_window(batch_size, enc.z) for layer in self.decoder.layers]
        return ConvS2SState(windows=windows)

    def decode_step(self, prev_tokens: Tensor, state: ConvS2SState,
                    enc: ConvS2SEncoderOut) -> tuple[Tensor, ConvS2SState]:
        logits, state = self.decoder.step(prev_tokens, state, enc)
        return self.log_probs(logits), state

    supports_joining = True
    shares_encoder_rows = True  # MultiStepAttention groups each sentence's rows

    def concat_encoder_out(self, encs: list[ConvS2SEncoderOut]) -> ConvS2SEncoderOut:
        """Sources right-padded to the longest: z and ze 0 there, pad_mask True (never attended)."""
        return ConvS2SEncoderOut(z=cat_padded([e.z for e in encs]),
                                 ze=cat_padded([e.ze for e in encs]),
                                 pad_mask=cat_padded([e.pad_mask for e in encs], True),
                                 scale=torch.cat([e.scale for e in encs]))

    def concat_states(self, states: list[ConvS2SState]) -> ConvS2SState:
        """Windows stacked, steps per row; the last step's attention is left out: search reads it
        from the state :meth:`decode_step` returns."""
        windows = [torch.cat(layer) for layer in zip(*(s.windows for s in states))]
        steps = [s.step if isinstance(s.step, Tensor) else
                 torch.full((s.windows[0].size(0),), s.step, device=s.windows[0].device)
                 for s in states]
        return ConvS2SState(windows, torch.cat(steps))

    def max_positions(self) -> tuple[int, int]:
        return (self.encoder.embed_positions.max_positions,
                self.decoder.embed_positions.max_positions)


# -- presets ------------------------------------------------------------------------------------
# Vocabulary sizes stay 0: the trainer fills them in from the data directory.


def _stack(*blocks: tuple[int, int, int]) -> list[dict]:
    """Layer stacks as data: (channels, kernel, repeat) triples."""
    return [{"channels": c, "kernel": k, "repeat": r} for c, k, r in blocks]


def convs2s_iwslt_de_en() -> ConvS2SConfig:
    """ConvS2S at fairseq's fconv_iwslt_de_en size: embed 256, encoder 4 x (256, k3), decoder 3 x (256, k3)."""
    return ConvS2SConfig(
        encoder_embed_dim=256, encoder_layers=_stack((256, 3, 4)),
        decoder_embed_dim=256, decoder_layers=_stack((256, 3, 3)),
        decoder_out_embed_dim=256, dropout=0.2,
    )


def convs2s_small() -> ConvS2SConfig:
    """ConvS2S for Multi30k on a CPU: the IWSLT size with the output layer tied to the target embedding."""
    return replace(convs2s_iwslt_de_en(), tie_output=True)


def convs2s_wmt14_en_de() -> ConvS2SConfig:
    """ConvS2S WMT'14 En-De as the paper's text says: 15+15 layers, 10 x 512, 3 x 768, 2 x (2048, k1); embed 512."""
    layers = _stack((512, 3, 10), (768, 3, 3), (2048, 1, 2))
    return ConvS2SConfig(
        encoder_embed_dim=512, encoder_layers=layers, decoder_embed_dim=512,
        decoder_layers=[dict(b) for b in layers], decoder_out_embed_dim=512, dropout=0.2,
    )


def convs2s_wmt14_en_fr() -> ConvS2SConfig:
    """ConvS2S WMT'14 En-Fr (paper §5.1 read as 15 layers): 6 x 512, 4 x 768, 3 x 1024, (2048, k1), (4096, k1); embed 512."""
    layers = _stack((512, 3, 6), (768, 3, 4), (1024, 3, 3), (2048, 1, 1), (4096, 1, 1))
    return ConvS2SConfig(
        encoder_embed_dim=512, encoder_layers=layers, decoder_embed_dim=512,
        decoder_layers=[dict(b) for b in layers], decoder_out_embed_dim=512, dropout=0.1,
    )


def convs2s_wmt16_en_ro() -> ConvS2SConfig:
    """ConvS2S WMT'16 En-Ro (paper §5.1): 20+20 layers of (512, k3), embed 512."""
    layers = _stack((512, 3, 20))
    return ConvS2SConfig(
        encoder_embed_dim=512, encoder_layers=layers, decoder_embed_dim=512,
        decoder_layers=[dict(b) for b in layers], decoder_out_embed_dim=512, dropout=0.2,
    )


PRESETS = [convs2s_iwslt_de_en, convs2s_small, convs2s_wmt14_en_de, convs2s_wmt14_en_fr,
           convs2s_wmt16_en_ro]
