"""Checkpoint averaging (as in fairseq's ``average_checkpoints.py``): the mean of each weight."""

from __future__ import annotations

import json
from pathlib import Path

from nmt.checkpoint import Checkpoint, files, load_checkpoint, pipeline_sha256
from nmt.checkpoint.schema import check_finite
from nmt.errors import NmtError


def average_checkpoints(paths: list[str | Path]) -> Checkpoint:
    """A checkpoint whose weights are the element-wise mean of those of ``paths`` (same model,
    same pipeline); config, pipeline and assets come from the first one, optimiser state is dropped.
    Every file is checked before anything is written: its metadata, finite weights, and the
    same family, config, pipeline (description and files) and weight shapes as the first."""
    if not paths:
        raise NmtError("nothing to average: give at least one checkpoint")
    first = load_checkpoint(paths[0], with_optimizer=False)
    check_finite(paths[0], first.model)
    sums = {k: v.double() if v.is_floating_point() else v for k, v in first.model.items()}
    for path in paths[1:]:
        ckpt = load_checkpoint(path, with_optimizer=False)
        _check_compatible(path, ckpt, paths[0], first)
        check_finite(path, ckpt.model)
        for k, v in ckpt.model.items():
            if v.is_floating_point():
                sums[k] += v.double()
    model = {k: (v / len(paths)).to(first.model[k].dtype) if v.is_floating_point() else v for k, v in sums.items()}
    meta = {k: v for k, v in first.meta.items() if k not in ("optimizer", "assets")}
    meta["averaged_from"] = [str(p) for p in paths]
    if "pipeline" in meta:
        meta["pipeline_sha256"] = pipeline_sha256(meta["pipeline"], first.assets)
    return Checkpoint(meta=meta, model=model, assets=first.assets, rng=None)


def _check_compatible(path: str | Path, ckpt: Checkpoint, first_path: str | Path,
                      first: Checkpoint) -> None:
    """``ckpt`` can be averaged with ``first``: the same model and the same pipeline."""
    for key in ("family", "model_config", "pipeline"):  # compared as stored (16.0 is not 16)
        if _canonical(ckpt.meta.get(key)) != _canonical(first.meta.get(key)):
            raise NmtError(f"{path} differs from {first_path} in its {key.replace('_', ' ')}: "
                           "cannot average")
    if ckpt.assets != first.assets:
        raise NmtError(f"{path} differs from {first_path} in its pipeline files (dictionaries or "
                       "subword model): cannot average")
    if ckpt.model.keys() != first.model.keys():
        raise NmtError(f"{path} has other weights than {first_path}: cannot average")
    for k, v in ckpt.model.items():
        if v.shape != first.model[k].shape:
            raise NmtError(f"{path}: weight {k!r} has another shape than in {first_path}: "
                           "cannot average")


def _canonical(value: object) -> str:
    return json.dumps(value, sort_keys=True)


def last_checkpoints(save_dir: str | Path, n: int, by_updates: bool = False) -> list[Path]:
    """The newest ``n`` epoch checkpoints (or update checkpoints) of a save directory."""
    found = [p for key, p in files.numbered(Path(save_dir))
             if files.is_epoch_checkpoint(key) != by_updates]
    if len(found) < n:
        raise NmtError(f"{save_dir} has {len(found)} such checkpoints, fewer than {n}")
    return found[-n:]


