"""Checkpoint averaging (as in fairseq's ``average_checkpoints.py``): the mean of each weight."""

from __future__ import annotations

from pathlib import Path

from nmt.checkpoint import Checkpoint, files, load_checkpoint
from nmt.errors import NmtError


def average_checkpoints(paths: list[str | Path]) -> Checkpoint:
    """A checkpoint whose weights are the element-wise mean of those of ``paths`` (same model,
    same pipeline); config, pipeline and assets come from the first one, optimiser state is dropped."""
    if not paths:
        raise NmtError("nothing to average: give at least one checkpoint")
    first = load_checkpoint(paths[0], with_optimizer=False)
    sums = {k: v.double() if v.is_floating_point() else v for k, v in first.model.items()}
    for path in paths[1:]:
        ckpt = load_checkpoint(path, with_optimizer=False)
        for key in ("family", "model_config", "pipeline"):
            if ckpt.meta.get(key) != first.meta.get(key):
                raise NmtError(f"{path} differs from {paths[0]} in its {key.replace('_', ' ')}: cannot average")
        if ckpt.model.keys() != sums.keys():
            raise NmtError(f"{path} has other weights than {paths[0]}: cannot average")
        for k, v in ckpt.model.items():
            if v.is_floating_point():
                sums[k] += v.double()
    model = {k: (v / len(paths)).to(first.model[k].dtype) if v.is_floating_point() else v for k, v in sums.items()}
    meta = {k: v for k, v in first.meta.items() if k not in ("optimizer", "assets")}
    meta["averaged_from"] = [str(p) for p in paths]
    return Checkpoint(meta=meta, model=model, assets=first.assets, rng=None)


def last_checkpoints(save_dir: str | Path, n: int, by_updates: bool = False) -> list[Path]:
    """The newest ``n`` epoch checkpoints (or update checkpoints) of a save directory."""
    found = [p for key, p in files.numbered(Path(save_dir))
             if files.is_epoch_checkpoint(key) != by_updates]
    if len(found) < n:
        raise NmtError(f"{save_dir} has {len(found)} such checkpoints, fewer than {n}")
    return found[-n:]


