"""Architecture presets and model families.

A preset is a zero-argument function returning a typed model config; a derived preset calls
another and ``dataclasses.replace``s fields. ``nmt train --list-archs`` prints them with the first
line of their docstring. A family maps a config class to the model class that builds from it.
Vocabulary sizes are left at 0 in presets: the trainer fills them in from the data directory.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import MISSING, asdict, fields, is_dataclass

from nmt.errors import NmtError
from nmt.models import char_qrnn, convs2s, dilated_rnn, lstm, qrnn, tcn
from nmt.models.base import Seq2SeqModel

# Any family's model config (what `TrainConfig.model` holds).
ModelConfig = (convs2s.ConvS2SConfig | lstm.LSTMConfig | qrnn.QRNNConfig | tcn.TCNConfig
               | dilated_rnn.DilatedRNNConfig)

# family name -> (config class, model class)
FAMILIES: dict[str, tuple[type, type[Seq2SeqModel]]] = {
    "convs2s": (convs2s.ConvS2SConfig, convs2s.ConvS2SModel),
    "lstm": (lstm.LSTMConfig, lstm.LSTMModel),
    "qrnn": (qrnn.QRNNConfig, qrnn.QRNNModel),
    "tcn": (tcn.TCNConfig, tcn.TCNModel),
    "dilated_rnn": (dilated_rnn.DilatedRNNConfig, dilated_rnn.DilatedRNNModel),
}

# family -> the optimiser and schedule a bare `nmt train --arch NAME` uses (TrainConfig keys,
# merged under the recipe YAML and the flags). ConvS2S keeps TrainConfig's own defaults, the
# paper's NAG (lr 0.25, momentum 0.99, clip-norm 0.1, lr / 10 on a plateau); the recurrent and
# TCN families train with Adam 1e-3, clip-norm 5 and lr / 10 on a plateau, as their recipes do.
_ADAM = {"optim": {"name": "adam", "lr": 1e-3, "betas": [0.9, 0.999], "clip_norm": 5.0},
         "schedule": {"name": "reduce_on_plateau", "patience": 0, "min_lr": 1e-5}}
TRAIN_DEFAULTS: dict[str, dict] = {"convs2s": {}, "lstm": _ADAM, "qrnn": _ADAM, "tcn": _ADAM,
                                   "dilated_rnn": _ADAM}

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


def train_defaults(cfg: object) -> dict:
    """The training settings (TrainConfig keys) a model config's family trains with by default."""
    return TRAIN_DEFAULTS.get(family_of(cfg), {})


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
    if hasattr(cfg_cls, "upgrade"):  # a family whose stored form changed: old forms upgrade
        values = cfg_cls.upgrade(values)
    return _from_dict(cfg_cls, values)


def _from_dict(cls: type, values: dict) -> object:
    """``cls(**values)`` with nested config dataclasses (e.g. the Dilated RNN's decoder) rebuilt."""
    unknown = set(values) - {f.name for f in fields(cls)}
    if unknown:
        raise NmtError(f"model config has unknown keys {sorted(unknown)} (checkpoint from a newer nmt?)")
    kwargs = {}
    for f in fields(cls):
        if f.name not in values:
            continue
        value = values[f.name]
        default = f.default_factory() if f.default_factory is not MISSING else None
        if is_dataclass(default) and isinstance(value, dict):
            value = _from_dict(type(default), value)
        kwargs[f.name] = value
    return cls(**kwargs)


def config_to_dict(cfg: object) -> dict:
    return asdict(cfg)


def build_model(cfg: object) -> Seq2SeqModel:
    model_cls = FAMILIES[family_of(cfg)][1]
    if hasattr(cfg, "validate"):
        cfg.validate()
    return model_cls(cfg)


# -- every family's presets live next to its model ---------------------------------------------

for _module in (convs2s, lstm, qrnn, char_qrnn, tcn, dilated_rnn):
    for _preset in _module.PRESETS:
        register(_preset)
