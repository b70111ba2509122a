"""Architecture presets and model families.

A preset is a zero-argument function returning a typed model config; a derived preset calls
another and ``dataclasses.replace``s fields. ``nmt train --list-archs`` prints them with the first
line of their docstring. A family maps a config class to the model class that builds from it.
Vocabulary sizes are left at 0 in presets: the trainer fills them in from the data directory.
"""

from __future__ import annotations

import contextlib
import math
import types
import typing
from collections.abc import Callable
from dataclasses import MISSING, asdict, fields, is_dataclass

import torch

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
    """Rebuild a model config from its ``asdict`` form (as stored in checkpoints); every value
    must have its field's type (ints are ints, not bools, strings or floats; floats take ints)."""
    if not isinstance(family, str) or family not in FAMILIES:
        shown = repr(family) if isinstance(family, str) else f"of type {type(family).__name__}"
        raise NmtError(f"unknown model family {shown[:60]} (checkpoint from a newer nmt?)")
    if not isinstance(values, dict):
        raise NmtError("model config must be a mapping of fields")
    cfg_cls = FAMILIES[family][0]
    if hasattr(cfg_cls, "upgrade"):  # a family whose stored form changed: old forms upgrade
        values = cfg_cls.upgrade(values)
    return _from_dict(cfg_cls, values)


def _from_dict(cls: type, values: dict, where: str = "") -> object:
    """``cls(**values)`` with nested config dataclasses (e.g. the Dilated RNN's decoder) rebuilt."""
    unknown = set(values) - {f.name for f in fields(cls)}
    if unknown:
        raise NmtError(f"model config has unknown keys {sorted(unknown)} (checkpoint from a newer nmt?)")
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for f in fields(cls):
        if f.name not in values:
            continue
        value, tp = values[f.name], hints.get(f.name, typing.Any)
        if not fits(value, tp):
            raise NmtError(f"model config field {where + f.name!r} must be {describe_type(tp)}, "
                           f"found {kind_of(value)}")
        default = f.default_factory() if f.default_factory is not MISSING else None
        if is_dataclass(default) and isinstance(value, dict):
            value = _from_dict(type(default), value, f"{where}{f.name}.")
        kwargs[f.name] = value
    return cls(**kwargs)


def fits(value: object, tp: object) -> bool:
    """Whether a JSON value has annotated type ``tp``: bool is not int, int is a float, a
    ``list[X]``'s items are X, a config dataclass is a mapping."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if tp is typing.Any:
        return True
    if origin in (typing.Union, types.UnionType):
        return any(fits(value, arm) for arm in args)
    if tp is type(None):
        return value is None
    if tp is bool:
        return isinstance(value, bool)
    if tp in (int, float):
        allowed = (int,) if tp is int else (int, float)
        return isinstance(value, allowed) and not isinstance(value, bool)
    if tp is str:
        return isinstance(value, str)
    if tp is list or origin is list:
        return isinstance(value, list) and (not args or all(fits(v, args[0]) for v in value))
    if tp is dict or origin is dict or is_dataclass(tp):
        return isinstance(value, dict)
    return True


def describe_type(tp: object) -> str:
    """An annotation in words: ``int | list[int]`` -> 'an integer or a list of integers'."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(describe_type(arm) for arm in args)
    if origin is list and args:
        plural = {int: "integers", float: "numbers", bool: "booleans", str: "strings"}
        return "a list of " + plural.get(args[0], "items")
    words = {int: "an integer", float: "a number", bool: "true or false", str: "a string",
             list: "a list", dict: "a mapping", type(None): "null"}
    return words.get(tp, "a mapping" if is_dataclass(tp) else str(tp))


def kind_of(value: object) -> str:
    """A value's JSON kind in words (never the value: it may be long or private)."""
    kinds = ((bool, "a boolean"), (int, "an integer"), (float, "a floating-point number"),
             (str, "a string"), (list, "a list"), (dict, "a mapping"), (type(None), "null"))
    return next((words for tp, words in kinds if isinstance(value, tp)), type(value).__name__)


# -- weights against a config, without building the model ---------------------------------------

# Any config number up to this is allowed whatever the weights (e.g. max_source_positions of a
# recurrent family, which only bounds search and has no table).
_SMALL = 1 << 16


class _TooManyModules(Exception):
    pass


@contextlib.contextmanager
def _module_budget(limit: int):
    """Raise _TooManyModules once more than ``limit`` submodules have been registered."""
    count = 0

    def hook(*_):
        nonlocal count
        count += 1
        if count > limit:
            raise _TooManyModules

    handle = torch.nn.modules.module.register_module_module_registration_hook(hook)
    try:
        yield
    finally:
        handle.remove()


def _largest_int(value: object, where: str = "") -> tuple[str, int] | None:
    """The largest integer anywhere in a config dict (nested lists and dicts), with its place."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return where, value
    items = value.items() if isinstance(value, dict) else enumerate(value) \
        if isinstance(value, list) else ()
    found = [_largest_int(v, f"{where}.{k}" if where else str(k)) for k, v in items]
    return max((f for f in found if f is not None), key=lambda f: f[1], default=None)


def weights_misfit(cfg: object, shapes: dict[str, tuple[int, ...]]) -> str | None:
    """How the weights a model of ``cfg`` has differ from ``shapes`` (name -> shape, e.g. those
    in a checkpoint), in words, or None when they fit. Nothing is allocated: no number in the
    config may exceed the count of weights given, and the model is built on the meta device."""
    total = sum(math.prod(s) for s in shapes.values())
    largest = _largest_int(asdict(cfg))
    if largest is not None and largest[1] > max(total, _SMALL):
        return (f"model config field {largest[0]!r} is {largest[1]}, more than the "
                f"{total:,} weights there are")
    try:
        with torch.device("meta"), _module_budget(8 * len(shapes) + 256):
            expected = {k: tuple(v.shape) for k, v in build_model(cfg).state_dict().items()}
    except _TooManyModules:
        return "the model config describes far more layers than there are weights"
    except (RuntimeError, ValueError, TypeError) as e:  # e.g. a negative size
        return f"the model config cannot be built ({str(e).splitlines()[0][:120]})"
    for name in sorted(expected.keys() | shapes.keys()):
        if name not in shapes:
            return f"the config's weight {name!r} is missing"
        if name not in expected:
            return f"weight {name[:60]!r} is not part of the config's model"
        if tuple(shapes[name]) != expected[name]:
            return (f"weight {name!r} is {_shape(shapes[name])}, the config makes it "
                    f"{_shape(expected[name])}")
    return None


def config_for_weights(family: object, values: object,
                       shapes: dict[str, tuple[int, ...]]) -> object:
    """:func:`config_from_dict`, then :func:`weights_misfit`: a stored config checked against the
    stored weights before any model is built (an NmtError says what does not fit)."""
    cfg = config_from_dict(family, values)
    misfit = weights_misfit(cfg, shapes)
    if misfit:
        raise NmtError(f"the weights do not fit the model config: {misfit}")
    return cfg


def _shape(shape: tuple[int, ...]) -> str:
    return "x".join(map(str, shape)) or "a scalar"


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
