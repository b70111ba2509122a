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
# The update number an epoch checkpoint sorts under: after every update checkpoint of its epoch.
END_OF_EPOCH = 1 << 62
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
            key = (int(m.group(1)), END_OF_EPOCH)
        else:
            key = (int(m.group(2)), int(m.group(3)))
        found.append((key, path))
    return sorted(found)


def is_epoch_checkpoint(key: tuple[int, int]) -> bool:
    """Whether a sort key from :func:`numbered` is an epoch checkpoint's (not an update one's)."""
    return key[1] == END_OF_EPOCH


def prune(save_dir: Path, keep_last: int) -> None:
    if keep_last < 0:
        return
    old = numbered(save_dir)
    for _, path in old[: max(len(old) - keep_last, 0)]:
        path.unlink(missing_ok=True)
