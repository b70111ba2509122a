"""Architecture presets and model families.

A preset is a zero-argument function returning a typed model config; a derived preset calls
another and ``dataclasses.replace``s fields. ``nmt train --list-archs`` prints them with the first
line of their docstring. A family maps a config class to the model class that builds from it.
Vocabulary sizes are left at 0 in presets: the trainer fills them in from the data directory.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, fields, replace

from nmt.errors import NmtError
from nmt.models import char_qrnn, dilated_rnn, lstm, qrnn, tcn
from nmt.models.base import Seq2SeqModel
from nmt.models.convs2s import ConvS2S, ConvS2SConfig

# family name -> (config class, model class)
FAMILIES: dict[str, tuple[type, type[Seq2SeqModel]]] = {
    "convs2s": (ConvS2SConfig, ConvS2S),
    "lstm": (lstm.LSTMConfig, lstm.LSTMModel),
    "qrnn": (qrnn.QRNNConfig, qrnn.QRNNModel),
    "tcn": (tcn.TCNConfig, tcn.TCN),
    "dilated_rnn": (dilated_rnn.DilatedRNNConfig, dilated_rnn.DilatedRNNModel),
}

ARCHS: dict[str, Callable[[], object]] = {}


def register(fn: Callable[[], object]) -> Callable[[], object]:
    ARCHS[fn.__name__] = fn
    return fn


def preset(name: str) -> object:
    """The config of preset ``name``; an unknown name lists the closest ones."""
    if name not in ARCHS:
        import difflib

        close = difflib.get_close_matches(name, list(ARCHS), n=3, cutoff=0.4)
        hint = f"; did you mean {', '.join(close)}?" if close else "; see `nmt train --list-archs`"
        raise NmtError(f"unknown architecture {name!r}{hint}")
    return ARCHS[name]()


def describe_archs() -> list[tuple[str, str]]:
    return [(name, (fn.__doc__ or "").strip().splitlines()[0]) for name, fn in sorted(ARCHS.items())]


def family_of(cfg: object) -> str:
    for name, (cfg_cls, _) in FAMILIES.items():
        if isinstance(cfg, cfg_cls):
            return name
    raise NmtError(f"no model family for config type {type(cfg).__name__}")


def config_from_dict(family: str, values: dict) -> object:
    """Rebuild a model config from its ``asdict`` form (as stored in checkpoints)."""
    if family not in FAMILIES:
        raise NmtError(f"unknown model family {family!r} (checkpoint from a newer nmt?)")
    cfg_cls = FAMILIES[family][0]
    known = {f.name for f in fields(cfg_cls)}
    unknown = set(values) - known
    if unknown:
        raise NmtError(f"model config has unknown keys {sorted(unknown)} (checkpoint from a newer nmt?)")
    return cfg_cls(**values)


def config_to_dict(cfg: object) -> dict:
    return asdict(cfg)


def build_model(cfg: object) -> Seq2SeqModel:
    model_cls = FAMILIES[family_of(cfg)][1]
    if hasattr(cfg, "validate"):
        cfg.validate()
    return model_cls(cfg)


# -- ConvS2S (Gehring et al. 2017) ------------------------------------------------------------


def _stack(*blocks: tuple[int, int, int]) -> list[dict]:
    """Layer stacks as data: (channels, kernel, repeat) triples."""
    return [{"channels": c, "kernel": k, "repeat": r} for c, k, r in blocks]


@register
def convs2s_iwslt_de_en() -> ConvS2SConfig:
    """ConvS2S at fairseq's fconv_iwslt_de_en size: embed 256, encoder 4 x (256, k3), decoder 3 x (256, k3)."""
    return ConvS2SConfig(
        encoder_embed_dim=256, encoder_layers=_stack((256, 3, 4)),
        decoder_embed_dim=256, decoder_layers=_stack((256, 3, 3)),
        decoder_out_embed_dim=256, dropout=0.2,
    )


@register
def convs2s_small() -> ConvS2SConfig:
    """ConvS2S for Multi30k on a CPU: the IWSLT size with the output layer tied to the target embedding."""
    return replace(convs2s_iwslt_de_en(), tie_output=True)


@register
def convs2s_wmt14_en_de() -> ConvS2SConfig:
    """ConvS2S WMT'14 En-De as the paper's text says: 15+15 layers, 10 x 512, 3 x 768, 2 x (2048, k1); embed 512."""
    layers = _stack((512, 3, 10), (768, 3, 3), (2048, 1, 2))
    return ConvS2SConfig(
        encoder_embed_dim=512, encoder_layers=layers, decoder_embed_dim=512,
        decoder_layers=[dict(b) for b in layers], decoder_out_embed_dim=512, dropout=0.2,
    )


@register
def convs2s_wmt14_en_fr() -> ConvS2SConfig:
    """ConvS2S WMT'14 En-Fr (paper §5.1 read as 15 layers): 6 x 512, 4 x 768, 3 x 1024, (2048, k1), (4096, k1); embed 512."""
    layers = _stack((512, 3, 6), (768, 3, 4), (1024, 3, 3), (2048, 1, 1), (4096, 1, 1))
    return ConvS2SConfig(
        encoder_embed_dim=512, encoder_layers=layers, decoder_embed_dim=512,
        decoder_layers=[dict(b) for b in layers], decoder_out_embed_dim=512, dropout=0.1,
    )


@register
def convs2s_wmt16_en_ro() -> ConvS2SConfig:
    """ConvS2S WMT'16 En-Ro (paper §5.1): 20+20 layers of (512, k3), embed 512."""
    layers = _stack((512, 3, 20))
    return ConvS2SConfig(
        encoder_embed_dim=512, encoder_layers=layers, decoder_embed_dim=512,
        decoder_layers=[dict(b) for b in layers], decoder_out_embed_dim=512, dropout=0.2,
    )


# -- the other families: presets live next to their models -------------------------------------

for _module in (lstm, qrnn, char_qrnn, tcn, dilated_rnn):
    for _preset in _module.PRESETS:
        register(_preset)
