"""Typed configuration: dataclasses, YAML, ``--set a.b=c`` overrides, and their precedence.

Precedence is fixed (:func:`resolve_train_config`): preset (a function returning a dataclass) <
recipe YAML < overrides (the fairseq-named flags of ``nmt train``, then ``--set``).
Merging is by field name into the existing dataclass, recursively; an unknown key is an error that
names the closest valid key. Values from ``--set`` are parsed as YAML scalars/lists
(``--set optim.lr=0.1``, ``--set model.encoder_layers='[{channels: 256, kernel: 3, repeat: 4}]'``).
"""

from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

from nmt import registry
from nmt.errors import NmtError
from nmt.training.options import TrainConfig

# Names people bring from other toolkits -> ours (looked up before spelling matches).
SYNONYMS = {"learning_rate": "lr", "optimizer": "name", "scheduler": "name", "lr_scheduler": "name",
            "max_epochs": "max_epoch", "max_updates": "max_update", "clip_grad_norm": "clip_norm",
            "gradient_clip": "clip_norm"}


def _unknown_key(key: str, valid: list[str], where: str) -> NmtError:
    synonym = SYNONYMS.get(key)
    close = ([synonym] if synonym in valid else
             difflib.get_close_matches(key, valid, n=1, cutoff=0.5))
    hint = (f"; did you mean {where + close[0]!r}?" if close
            else f"; valid keys here: {', '.join(sorted(valid))}")
    return NmtError(f"unknown config key {where + key!r}{hint}")


def _field_types(cls) -> dict[str, Any]:
    hints = typing.get_type_hints(cls)
    return {f.name: hints.get(f.name, Any) for f in dataclasses.fields(cls)}


_KIND = {int: "an integer", float: "a number", str: "a string", bool: "true or false",
         type(None): "null"}


def _coerce(value: Any, tp: Any, where: str) -> Any:
    """Check/convert a YAML value against a field's annotation (int -> float is allowed)."""
    origin = typing.get_origin(tp)
    if tp is Any or value is None:
        return value
    if origin in (typing.Union, types.UnionType):
        for arm in typing.get_args(tp):
            if arm is type(None):
                continue
            try:
                return _coerce(value, arm, where)
            except NmtError:
                pass
        kinds = [_KIND.get(arm, getattr(arm, "__name__", str(arm))) for arm in typing.get_args(tp)]
        raise NmtError(f"config key {where!r} must be {' or '.join(kinds)}, got {value!r}")
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if tp in (int, float, str, bool):
        if not isinstance(value, tp) or (tp is int and isinstance(value, bool)):
            raise NmtError(f"config key {where!r} must be {_KIND[tp]}, got {value!r}")
        return value
    if origin is list and not isinstance(value, list):
        raise NmtError(f"config key {where!r} must be a list, got {value!r}")
    if origin is dict and not isinstance(value, dict):
        raise NmtError(f"config key {where!r} must be a mapping, got {value!r}")
    return value


def merge(obj: Any, updates: dict, where: str = "") -> Any:
    """A copy of dataclass ``obj`` with ``updates`` (a nested dict) applied by field name."""
    if not isinstance(updates, dict):
        raise NmtError(f"config section {where.rstrip('.') or '<root>'} must be a mapping")
    types_ = _field_types(type(obj))
    changes = {}
    for key, value in updates.items():
        if key not in types_:
            raise _unknown_key(key, list(types_), where)
        current = getattr(obj, key)
        if dataclasses.is_dataclass(current) and isinstance(value, dict):
            changes[key] = merge(current, value, f"{where}{key}.")
        else:
            changes[key] = _coerce(value, types_[key], f"{where}{key}")
    return dataclasses.replace(obj, **changes)


def parse_override(text: str) -> dict:
    """``a.b=c`` -> ``{"a": {"b": c}}`` with ``c`` parsed as YAML."""
    key, sep, raw = text.partition("=")
    if not sep or not key:
        raise NmtError(f"--set expects key=value, got {text!r}")
    try:
        value = yaml.safe_load(raw) if raw != "" else ""
    except yaml.YAMLError as e:
        raise NmtError(f"--set {key}: cannot parse value {raw!r}: {e}") from None
    nested: dict = {}
    node = nested
    parts = key.split(".")
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    node[parts[-1]] = value
    return nested


def load_yaml(path: str | Path) -> dict:
    path = Path(path)
    if not path.is_file():
        raise NmtError(f"config file not found: {path}")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as e:
        raise NmtError(f"{path}: not valid YAML: {str(e).splitlines()[0]}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise NmtError(f"{path}: the top level must be a mapping of config keys")
    return data


def to_dict(obj: Any) -> dict:
    return dataclasses.asdict(obj)


def dump_yaml(obj: Any) -> str:
    return yaml.safe_dump(to_dict(obj), sort_keys=False, allow_unicode=True)


def resolve_train_config(arch: str | None, recipe: str | Path | None,
                         overrides: Iterable[str] = ()) -> TrainConfig:
    """The training config: preset ``arch`` (or the recipe's ``arch:``) with its family's
    optimiser and schedule (:data:`nmt.registry.TRAIN_DEFAULTS`) < recipe YAML < ``overrides``
    (``key=value`` strings as ``--set`` takes them, applied in order)."""
    values = load_yaml(recipe) if recipe else {}
    arch = arch or values.get("arch")
    if not arch:
        raise NmtError("no architecture: give --arch NAME or `arch:` in the --config YAML")
    model = registry.preset(arch)
    cfg = merge(TrainConfig(arch=arch, model=model), registry.train_defaults(model))
    cfg = merge(cfg, {k: v for k, v in values.items() if k != "arch"})
    for item in overrides:
        cfg = merge(cfg, parse_override(item))
    return cfg
