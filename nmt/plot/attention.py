"""Where a model looked: source pieces x target pieces heatmaps of the attention its best
hypothesis used.

Every family gets the attention search recorded (``Translation.attention``: the decoder state's
``attn``, averaged over layers where there are several). Multi-step attention is ConvS2S's point
(Gehring et al. 2017 §3.3: every decoder layer attends on its own), so for the families built on
:class:`~nmt.modules.multistep_attention.MultiStepAttention` (ConvS2S, TCN) each decoder layer gets
its own panel: the best hypothesis is fed back teacher-forced, which gives the same attention
search saw step by step (the model contract's property), and each attention layer's weights are
read on the way.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from nmt.data.dictionary import EOS_ID
from nmt.errors import NmtError
from nmt.modules.multistep_attention import MultiStepAttention
from nmt.plot import new_figure
from nmt.search import SearchConfig
from nmt.translation import LoadedModel, Translator


@dataclass
class Attention:
    """source (S pieces), target (T pieces, then </s>), panels [(title, weights (T + 1, S))]."""

    source: list[str]
    target: list[str]
    panels: list[tuple[str, Tensor]]


def attention_of(loaded: LoadedModel, line: str, beam: int = 5) -> Attention:
    """The attention of the best translation of ``line`` (raw text) by ``loaded``."""
    translator = Translator(loaded, SearchConfig(beam=beam))
    src = translator.source(line)
    if src is None:
        raise NmtError("the source sentence is empty")
    best = translator.translate([line])[0][0]
    if best.attention is None:
        raise NmtError(f"a {loaded.meta.get('family', '?')} model exposes no attention")
    layers = per_layer(loaded, src.ids, best.pieces, len(src.pieces))
    panels = ([(f"decoder layer {i + 1}", a) for i, a in enumerate(layers)] if len(layers) > 1
              else [("attention", best.attention)])
    return Attention(src.pieces, [*best.pieces, "</s>"], panels)


def per_layer(loaded: LoadedModel, src_ids: list[int], pieces: list[str],
              n_source: int) -> list[Tensor]:
    """Each multi-step attention layer's weights (T + 1, S) for the hypothesis ``pieces``
    teacher-forced (empty for families without such layers)."""
    layers = [m for m in loaded.model.modules() if isinstance(m, MultiStepAttention)]
    if not layers:
        return []
    tgt = loaded.pipeline.target.dictionary.encode(pieces)
    tgt_in = torch.tensor([[EOS_ID, *tgt]])  # (1, T + 1)
    src = torch.tensor([src_ids])  # (1, S + 1), eos last
    seen: list[Tensor] = []
    hooks = [m.register_forward_hook(lambda _m, _i, out: seen.append(out[1].detach()))
             for m in layers]
    try:
        with torch.inference_mode():
            loaded.model(src, torch.tensor([len(src_ids)]), tgt_in)
    finally:
        for h in hooks:
            h.remove()
    return [a[0, :, :n_source].float() for a in seen]  # the source's </s> left out, as search does


def attention_figure(att: Attention):
    """One heatmap per panel, side by side (two rows when there are more than four)."""
    n = len(att.panels)
    cols = n if n <= 4 else (n + 1) // 2
    rows = 1 if n <= 4 else 2
    width = max(3.0, 0.32 * len(att.source) + 1.6)
    height = max(2.5, 0.28 * len(att.target) + 1.4)
    fig = new_figure(width * cols, height * rows)
    grid = fig.subplots(rows, cols, squeeze=False)
    for i, ax in enumerate(ax for row in grid for ax in row):
        if i >= n:
            ax.set_axis_off()
            continue
        title, weights = att.panels[i]
        image = ax.imshow(weights.numpy(), cmap="viridis", vmin=0.0, aspect="auto")
        ax.set_xticks(range(len(att.source)), att.source, rotation=70, fontsize=8)
        ax.set_yticks(range(len(att.target)), att.target, fontsize=8)
        ax.set_title(title, fontsize=9)
        fig.colorbar(image, ax=ax, shrink=0.8)
    return fig
