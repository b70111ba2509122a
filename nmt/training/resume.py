"""Checks of a checkpoint's training state, made before a run resumes (or fine-tunes) from it.

Everything is checked before anything is applied, so a refused resume leaves the model, the
optimiser, the RNG and the save directory as they were (checkpoint_last is not rewritten). Each
``*_problem`` function returns what is wrong in words, or None.
"""

from __future__ import annotations

import math
import typing
from pathlib import Path

import torch

from nmt import registry
from nmt.checkpoint import Checkpoint
from nmt.checkpoint.schema import short
from nmt.config import to_dict
from nmt.errors import NmtError
from nmt.training.finetune import pipeline_mismatch
from nmt.training.schedule import LRSchedule

# Progress fields every resumable checkpoint has (the others default, for older checkpoints).
REQUIRED_PROGRESS = ("epoch", "update", "batch_in_epoch")


def check_resume(path: Path, ckpt: Checkpoint, trainer) -> None:
    """Refuse (one NmtError) to resume ``trainer`` from ``ckpt`` (read from ``path``) unless its
    data pipeline, model config, progress, schedule, weights, optimiser state and RNG state all
    fit the run."""
    meta = ckpt.meta
    if "pipeline" not in meta:
        refuse(path, "its metadata lacks the data pipeline ('pipeline')")
    difference = pipeline_mismatch(meta, ckpt.assets, trainer.pipeline)
    if difference:
        refuse(path, f"it was trained on data processed otherwise: {difference}",
               "give the data directory it was trained on, or start a new run with another "
               "--save-dir")
    if meta.get("model_config") != to_dict(trainer.model_cfg):
        refuse(path, "it was trained with another model config")
    problem = (progress_problem(meta, type(trainer.progress)) or schedule_problem(meta)
               or weights_problem(ckpt.model, trainer.model)
               or optimizer_problem(ckpt.optimizer, trainer.optimizer) or rng_problem(ckpt.rng))
    if problem:
        refuse(path, problem)


def refuse(path: Path, what: str, advice: str = "start a new run with another --save-dir") -> None:
    """Raise the one-line refusal to resume from ``path``."""
    raise NmtError(f"{path}: cannot resume: {what}; {advice}")


def _field_problem(where: str, value: object, tp: object) -> str | None:
    if registry.fits(value, tp):
        return None
    return f"'{where}' must be {registry.describe_type(tp)}, found {registry.kind_of(value)}"


def progress_problem(meta: dict, progress_cls: type) -> str | None:
    """The ``progress`` object: present, known fields of the right types, counts not negative."""
    if "progress" not in meta:
        return "its metadata lacks the training progress ('progress')"
    progress = meta["progress"]
    if not isinstance(progress, dict):
        return f"'progress' must be an object, found {registry.kind_of(progress)}"
    types = typing.get_type_hints(progress_cls)
    for key, value in progress.items():
        if key not in types:
            return f"'progress' has the unknown field {short(key)}"
        problem = _field_problem(f"progress.{key}", value, types[key])
        if problem:
            return problem
        if key == "best_loss" or value is None:
            continue
        floor = 1 if key == "epoch" else 0
        if not (math.isfinite(value) and value >= floor):
            return f"'progress.{key}' must be a finite number of at least {floor}"
    missing = [key for key in REQUIRED_PROGRESS if key not in progress]
    return f"'progress' lacks {', '.join(missing)}" if missing else None


def schedule_problem(meta: dict) -> str | None:
    """The ``schedule`` object: exactly the learning-rate schedule's state fields, typed."""
    if "schedule" not in meta:
        return "its metadata lacks the learning-rate schedule state ('schedule')"
    state = meta["schedule"]
    if not isinstance(state, dict):
        return f"'schedule' must be an object, found {registry.kind_of(state)}"
    types = LRSchedule.STATE_TYPES
    unknown, missing = sorted(set(state) - set(types)), sorted(set(types) - set(state))
    if unknown:
        return f"'schedule' has the unknown field {short(unknown[0])}"
    if missing:
        return f"'schedule' lacks {', '.join(missing)}"
    for key, tp in types.items():
        problem = _field_problem(f"schedule.{key}", state[key], tp)
        if problem:
            return problem
    if not all(math.isfinite(state[k]) and state[k] >= 0 for k in ("lr", "base_lr", "bad_epochs")):
        return "'schedule' holds a negative or non-finite learning rate or count"
    return None


def weights_problem(weights: dict[str, torch.Tensor], model: torch.nn.Module) -> str | None:
    """The weights are the model's (names and shapes) and finite."""
    expected = model.state_dict()
    for name in sorted(expected.keys() | weights.keys()):
        if name not in weights:
            return f"its weights lack {name!r}"
        if name not in expected:
            return f"it holds the weight {short(name)}, which the model does not have"
        if weights[name].shape != expected[name].shape:
            return (f"its weight {name!r} has shape {list(weights[name].shape)}, the model's "
                    f"{list(expected[name].shape)}")
        if weights[name].is_floating_point() and not bool(torch.isfinite(weights[name]).all()):
            return f"its weight {name!r} holds NaN or infinite values"
    return None


def optimizer_problem(state: dict | None, optimizer: torch.optim.Optimizer) -> str | None:
    """The optimiser state has the optimiser's parameter groups and parameter count, and each
    per-parameter tensor is a scalar or has its parameter's shape. None (saved without optimiser
    state) is fine: the optimiser starts afresh."""
    if state is None:
        return None
    saved, mine = state["param_groups"], optimizer.param_groups
    if not saved:
        return "its optimizer state has no parameter groups"
    if len(saved) != len(mine):
        return f"its optimizer state has {len(saved)} parameter groups, the optimizer {len(mine)}"
    ids = [i for group in saved for i in group["params"]]
    params = [p for group in mine for p in group["params"]]
    sizes = [(len(a["params"]), len(b["params"])) for a, b in zip(saved, mine)]
    if len(ids) != len(params) or any(a != b for a, b in sizes):
        return f"its optimizer state covers {len(ids)} parameters, the model has {len(params)}"
    if len(set(ids)) != len(ids):
        return "its optimizer state names a parameter twice"
    problem = _hyperparameter_problem(saved, mine)
    if problem:
        return problem
    by_id = dict(zip(ids, params))
    for idx, entries in state["state"].items():
        if idx not in by_id:
            return f"its optimizer state has entries for parameter {idx}, which does not exist"
        for key, value in entries.items():
            problem = _state_value_problem(idx, key, value, by_id[idx])
            if problem:
                return problem
    return None


def _hyperparameter_problem(saved: list[dict], mine: list[dict]) -> str | None:
    """Each saved hyper-parameter has the kind of the optimiser's own (a number, a flag, ...)."""
    for i, (group, own) in enumerate(zip(saved, mine)):
        for key, value in group.items():
            if key == "params" or key not in own or own[key] is None:
                continue
            want = own[key]
            if isinstance(want, (list, tuple)):  # betas
                ok = isinstance(value, (list, tuple)) and len(value) == len(want)
            elif isinstance(want, bool):
                ok = isinstance(value, bool)
            elif isinstance(want, (int, float)):
                ok = isinstance(value, (int, float)) and not isinstance(value, bool)
            else:
                ok = True
            if not ok:
                return (f"its optimizer hyper-parameter {key!r} (group {i}) is "
                        f"{registry.kind_of(value)}, unlike the optimizer's")
    return None


def _state_value_problem(idx: int, key: str, value: object, param: torch.Tensor) -> str | None:
    if isinstance(value, torch.Tensor):
        if value.dim() and value.shape != param.shape:
            return (f"its optimizer state {short(key)} of parameter {idx} has shape "
                    f"{list(value.shape)}, the parameter {list(param.shape)}")
        if value.is_floating_point() and not bool(torch.isfinite(value).all()):
            return f"its optimizer state {short(key)} of parameter {idx} holds NaN or infinity"
        return None
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return f"its optimizer state {short(key)} of parameter {idx} is {registry.kind_of(value)}"
    return None


def rng_problem(rng: torch.Tensor | None) -> str | None:
    """The RNG state, when saved, is as long as this torch's (``torch.get_rng_state()``)."""
    if rng is None:
        return None
    want = torch.get_rng_state().numel()
    if rng.numel() != want:
        return f"its RNG state has {rng.numel()} bytes, torch's has {want}"
    return None


def check_parent_state(path: Path, parent: Checkpoint, trainer, optimizer: bool,
                       schedule: bool) -> None:
    """Fine-tuning's first start: the parent's weights, and its optimiser and schedule state
    when they are taken (``optimizer``, ``schedule``), fit the new run."""
    problem = (weights_problem(parent.model, trainer.model)
               or (optimizer and optimizer_problem(parent.optimizer, trainer.optimizer))
               or (schedule and "schedule" in parent.meta and schedule_problem(parent.meta)))
    if problem:
        raise NmtError(f"{path}: cannot fine-tune from it: {problem}")

