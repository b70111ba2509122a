"""One training run per save directory.

`nmt train` holds an exclusive ``flock`` on ``SAVE_DIR/.lock`` from before it reads or writes
anything in the directory until it exits. A second run on the same directory is refused in one
line naming the holder's process id. The kernel drops the lock when its holder dies (even by
kill -9), so a lock is never stale: the file stays behind, but nothing holds it.
"""

from __future__ import annotations

import fcntl
import os
from contextlib import contextmanager
from pathlib import Path

from nmt.errors import NmtError

LOCK_FILE = ".lock"


@contextmanager
def save_dir_lock(save_dir: str | Path):
    """Hold the lock on ``save_dir`` (created if missing) for the ``with`` block."""
    save_dir = Path(save_dir)
    if save_dir.exists() and not save_dir.is_dir():
        raise NmtError(f"--save-dir {save_dir} exists and is not a directory")
    save_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(save_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "unknown"
            raise NmtError(f"{save_dir} is in use by another nmt train (pid {holder}); wait for it "
                           "to end or give another --save-dir") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)  # closing the descriptor drops the lock
