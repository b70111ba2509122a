"""Character-level QRNN encoder-decoder (Bradbury et al. 2017, §3.3): presets over the QRNN model.

Patent notice: QRNN encoder-decoders are covered by patents held by Salesforce (e.g. US 11,080,595
B2). Check whether that matters for your use before you use this model.

The paper's IWSLT German–English setting, fully character-level (inputs from
``nmt preprocess --bpe char``), as we read §3.3:

- a four-layer encoder–decoder QRNN with 320 units per layer, fo-pooling;
- the encoder's first layer has convolution width k = 6, its other layers k = 2; the decoder
  uses k = 2 throughout;
- "inputs were supplied to the encoder reversed, while the encoder convolutions were not
  masked": a single-direction encoder over the reversed source (``reverse_source``; only the
  real characters of each row are reversed, pads stay, and the encoder outputs are put back in
  source order so attention alignments index the source as given) whose convolutions are centred
  rather than causal (``encoder_causal=False``);
- the decoder of §2.1 (encoder final states added to every decoder layer's gate pre-activations,
  attention in the last layer; see :mod:`nmt.models.qrnn`);
- no dropout or L2 regularisation; no dense connections (the paper uses those for its
  sentiment model, §3.1, and does not mention them for translation);
- training (recipe, not model, settings): Adam with α = 0.001, β1 = 0.9, β2 = 0.999, ε = 1e-8,
  gradient rescaling to a maximum norm of 5, minibatches of 16 sentences, 10 epochs; training
  sentences longer than 300 characters removed; one unified character vocabulary (187 code points).

The paper reports 19.41 BLEU on IWSLT de-en for this model against 16.53 for a four-layer
character-level LSTM baseline of the same width, and about 1.0 versus 4.2 hours per epoch on a GPU.
The paper does not give the character embedding size; we use the layer width (320). Nor does it give
the embeddings' initialisation: ours are ~ N(0, 1/d) read times √d (``scale_embeddings``), so
the first convolutions see unit-variance inputs (see :mod:`nmt.models.qrnn`).
"""

from __future__ import annotations

from dataclasses import replace

from nmt.models.qrnn import QRNNConfig, QRNNModel

CharQRNNModel = QRNNModel  # the same model class; the character-level setting is its configuration

__all__ = ["CharQRNNModel", "PRESETS", "char_qrnn_iwslt_de_en", "char_qrnn_small"]


def char_qrnn_iwslt_de_en() -> QRNNConfig:
    """Character-level QRNN (paper §3.3): 4+4 layers of 320, encoder k 6 then 2, source reversed; Adam 1e-3, clip 5, batch 16."""
    return QRNNConfig(
        embed_dim=320, hidden_size=320, layers=4,
        encoder_kernels=[6, 2, 2, 2], decoder_kernels=2, pooling="fo",
        zoneout=0.0, dropout=0.0, dense=False,
        bidirectional=False, encoder_causal=False, reverse_source=True, scale_embeddings=True,
        max_source_positions=1024, max_target_positions=1024,
    )


def char_qrnn_small() -> QRNNConfig:
    """Character-level QRNN for Multi30k on a CPU: 2+2 layers of 256, embed 128, encoder k 6 then 2, source reversed, dropout 0.1."""
    return replace(char_qrnn_iwslt_de_en(), embed_dim=128, hidden_size=256, layers=2,
                   encoder_kernels=[6, 2], zoneout=0.1, dropout=0.1)


PRESETS = [char_qrnn_iwslt_de_en, char_qrnn_small]
