"""Token and position embedding tables with the initialisations the families' papers use.

Every table has a zero row at ``pad_id`` (never trained). The families differ only in the
distribution of the other rows:

- ConvS2S and the TCN: ~ N(0, 0.1) (Gehring et al. 2017, §3.1 and appendix), positions too;
- the LSTM family: ~ U(−0.1, 0.1) (Luong et al. 2015, §4.1), like every other LSTM weight;
- the QRNN with ``scale_embeddings``: ~ N(0, 1/dim), read times √dim by the model (Vaswani et al.
  2017, §3.4), so the encoder sees unit-variance inputs.
"""

from __future__ import annotations

from torch import nn

from nmt.modules.learned_positions import LearnedPositionalEmbedding

CONV_EMBED_STD = 0.1  # ConvS2S's N(0, 0.1) for token and position tables
UNIFORM_SCALE = 0.1  # the LSTM family's U(−0.1, 0.1)


def _zero_pad_row(m: nn.Embedding, pad_id: int) -> nn.Embedding:
    nn.init.zeros_(m.weight[pad_id])
    return m


def normal_embedding(num_embeddings: int, dim: int, pad_id: int,
                     std: float = CONV_EMBED_STD) -> nn.Embedding:
    """A token table ~ N(0, std) with a zero pad row."""
    m = nn.Embedding(num_embeddings, dim, padding_idx=pad_id)
    nn.init.normal_(m.weight, mean=0.0, std=std)
    return _zero_pad_row(m, pad_id)


def uniform_embedding(num_embeddings: int, dim: int, pad_id: int,
                      scale: float = UNIFORM_SCALE) -> nn.Embedding:
    """A token table ~ U(−scale, scale) with a zero pad row."""
    m = nn.Embedding(num_embeddings, dim, padding_idx=pad_id)
    nn.init.uniform_(m.weight, -scale, scale)
    return _zero_pad_row(m, pad_id)


def position_embedding(num_positions: int, dim: int, pad_id: int,
                       std: float = CONV_EMBED_STD) -> LearnedPositionalEmbedding:
    """A learned position table (fairseq's numbering) ~ N(0, std) with a zero pad row."""
    m = LearnedPositionalEmbedding(num_positions, dim, pad_id)
    nn.init.normal_(m.weight, mean=0.0, std=std)
    return _zero_pad_row(m, pad_id)
