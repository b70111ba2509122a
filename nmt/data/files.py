"""Writing files safely: every file the toolkit writes goes through here.

- :func:`atomic_write`: a regular file (or a new path) is written to a temporary file beside it,
  fsynced and renamed into place, so a reader or a crash sees the old file or the new one, never
  a torn one. A symlink is followed: its target is replaced and the link stays a link.
- :func:`open_output`: ``-`` is stdout; a FIFO or a character device (``/dev/null``, a terminal)
  is written in place, never replaced by a regular file; anything else is :func:`atomic_write`.
- :func:`check_output_path`: refuses a directory (or a path under a file) before any work.
- :func:`no_space_left`: a full disk becomes one line naming the path, not a traceback.
- :func:`remove_stale_temporaries`: a temporary file or directory is named
  ``.NAME.PID[.RANDOM].tmp|partial|old`` after the destination NAME and the process that made it;
  one whose process is gone (killed) is removed at the next write to the same destination.
"""

from __future__ import annotations

import errno
import os
import re
import shutil
import stat
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path

from nmt.errors import NmtError

DISK_FULL = (errno.ENOSPC, errno.EDQUOT)

# .NAME.PID.tmp, .NAME.PID.RANDOM.tmp, .NAME.PID.partial, .NAME.PID.old (this version); and what
# earlier versions left: .NAME.tmpPID (checkpoints), .NAME.XXXXXXXX.tmp (mkstemp), .NAME.partial
_OURS = re.compile(r"^\.(?P<name>.+)\.(?P<pid>\d+)(\.[A-Za-z0-9_]+)?\.(tmp|partial|old)$")
_EARLIER = (re.compile(r"^\.(?P<name>.+\.safetensors)\.tmp(?P<pid>\d+)$"),
            re.compile(r"^\.(?P<name>.+)\.[a-z0-9_]{8}\.tmp$"),
            re.compile(r"^\.(?P<name>.+)\.(partial|old)$"))


def temporary_path(path: Path, kind: str = "tmp") -> Path:
    """The name this process uses for a temporary ``kind`` (tmp, partial, old) of ``path``."""
    return path.with_name(f".{path.name}.{os.getpid()}.{kind}")


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def _stale_owner(entry: str) -> str | None:
    """The destination name of a temporary left by a process that is gone, else None."""
    m = _OURS.match(entry)
    if m:
        pid = int(m["pid"])
        return m["name"] if pid != os.getpid() and not _process_alive(pid) else None
    for pattern in _EARLIER:
        m = pattern.match(entry)
        if m and not ("pid" in m.groupdict() and _process_alive(int(m["pid"]))):
            return m["name"]
    return None


def remove_stale_temporaries(directory: str | Path, name: str | None = None) -> list[Path]:
    """Remove our temporaries of destination ``name`` (None: of any destination) in ``directory``
    whose process is gone; never a file outside our naming pattern. Returns what was removed."""
    directory, removed = Path(directory), []
    try:
        entries = os.listdir(directory)
    except OSError:
        return removed
    for entry in entries:
        owner = _stale_owner(entry)
        if owner is None or (name is not None and owner != name):
            continue
        path = directory / entry
        if path.is_symlink() or path.is_file():
            path.unlink(missing_ok=True)
        elif path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        removed.append(path)
    return removed


def new_file_mode(path: Path) -> int:
    """The permissions ``path`` gets when written anew: an existing file's own, else what the
    umask leaves of rw-rw-rw- (as ``open(path, "w")`` would create it)."""
    try:
        return stat.S_IMODE(path.stat().st_mode)
    except OSError:
        umask = os.umask(0o022)  # read it (there is no other portable way) and put it back
        os.umask(umask)
        return 0o666 & ~umask


def is_disk_full(e: BaseException) -> bool:
    """An OSError for a full disk or quota, or a safetensors error wrapping one."""
    if isinstance(e, OSError):
        return e.errno in DISK_FULL
    text = str(e)
    return "StorageFull" in text or "No space left" in text or "code: 28," in text


@contextmanager
def no_space_left(path: str | Path) -> Iterator[None]:
    """Turn a full disk while writing ``path`` into one NmtError line naming it."""
    try:
        yield
    except NmtError:
        raise
    except Exception as e:
        if is_disk_full(e):
            raise NmtError(f"no space left on the device holding {path}") from None
        raise


def check_output_path(path: str | Path, what: str = "--output", special_ok: bool = True) -> None:
    """Refuse, before any work, an output path that cannot be written: a directory, a path under
    a regular file, a socket or a block device; a FIFO or a character device too unless
    ``special_ok`` (text streams are written into them; a checkpoint or a data file is not)."""
    if str(path) == "-":
        return
    path = Path(path)
    if path.is_dir():
        raise NmtError(f"{what} {path} is a directory; give a file name")
    parent = next((p for p in path.parents if p.exists()), Path("."))
    if not parent.is_dir():
        raise NmtError(f"{what} {path}: {parent} is not a directory")
    if path.exists():
        mode = path.stat().st_mode
        if stat.S_ISSOCK(mode) or stat.S_ISBLK(mode):
            kind = "a socket" if stat.S_ISSOCK(mode) else "a block device"
            raise NmtError(f"{what} {path} is {kind}; refusing to write to it")
        if not special_ok and is_special(path):
            raise NmtError(f"{what} {path} is a FIFO or a device; this output must be a regular file")


def is_special(path: Path) -> bool:
    """A FIFO or a character device (after following symlinks): written in place, never replaced."""
    try:
        mode = path.stat().st_mode
    except OSError:
        return False
    return stat.S_ISFIFO(mode) or stat.S_ISCHR(mode)


@contextmanager
def atomic_write(path: str | Path, mode: str = "w", encoding: str | None = "utf-8"):
    """Write to a temporary file next to ``path``; fsync and rename into place only on success.
    A symlink's target is replaced (the link stays). The file keeps normal permissions
    (:func:`new_file_mode`), not the temporary file's 0600."""
    path = Path(os.path.realpath(path)) if Path(path).is_symlink() else Path(path)
    check_output_path(path, "output")
    with no_space_left(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        remove_stale_temporaries(path.parent, path.name)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}.", suffix=".tmp", dir=path.parent)
        try:
            os.chmod(fd, new_file_mode(path))
            with os.fdopen(fd, mode, encoding=None if "b" in mode else encoding) as f:
                yield f
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


@contextmanager
def _in_place(path: Path, mode: str, encoding: str | None):
    with no_space_left(path), open(path, mode, encoding=None if "b" in mode else encoding) as f:
        yield f
        f.flush()


def open_output(path: str | Path, mode: str = "w", encoding: str | None = "utf-8"):
    """The context manager to write an output at ``path``: stdout for ``-``, in place for a FIFO
    or a character device, else :func:`atomic_write`."""
    if str(path) == "-":
        return nullcontext(sys.stdout)
    path = Path(path)
    check_output_path(path)
    if is_special(path):
        return _in_place(path, mode, encoding)
    return atomic_write(path, mode, encoding)
