"""Checkpoint file names in a save directory, and pruning of old ones.

``checkpoint_last`` and ``checkpoint_best`` always stay; epoch checkpoints ``checkpoint{E}`` and
update checkpoints ``checkpoint_{E}_{U}`` are kept ``keep_last`` at a time (newest first).
"""

from __future__ import annotations

import re
from pathlib import Path

SUFFIX = ".safetensors"
LAST = "checkpoint_last" + SUFFIX
BEST = "checkpoint_best" + SUFFIX
_NUMBERED = re.compile(r"^checkpoint(\d+)\.safetensors$|^checkpoint_(\d+)_(\d+)\.safetensors$")


def epoch_name(epoch: int) -> str:
    return f"checkpoint{epoch}{SUFFIX}"


def interval_name(epoch: int, update: int) -> str:
    return f"checkpoint_{epoch}_{update}{SUFFIX}"


def numbered(save_dir: Path) -> list[tuple[tuple[int, int], Path]]:
    """Epoch and update checkpoints with a sort key (epoch, update), oldest first."""
    found = []
    for path in save_dir.glob(f"checkpoint*{SUFFIX}"):
        m = _NUMBERED.match(path.name)
        if m is None:
            continue
        if m.group(1) is not None:
            key = (int(m.group(1)), 1 << 62)  # an epoch checkpoint is the end of its epoch
        else:
            key = (int(m.group(2)), int(m.group(3)))
        found.append((key, path))
    return sorted(found)


def prune(save_dir: Path, keep_last: int) -> None:
    if keep_last < 0:
        return
    old = numbered(save_dir)
    for _, path in old[: max(len(old) - keep_last, 0)]:
        path.unlink(missing_ok=True)
