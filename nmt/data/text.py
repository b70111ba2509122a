"""Reading parallel text safely: UTF-8 checked line by line, both sides in lockstep.

Every problem a user can cause (missing file, bad UTF-8, unequal line counts) becomes an
:class:`~nmt.errors.NmtError` whose message names the file and the line.
"""

from __future__ import annotations

from collections.abc import Iterator
from itertools import zip_longest
from pathlib import Path

from nmt.errors import NmtError


def require_file(path: str | Path, what: str = "input file") -> Path:
    path = Path(path)
    if not path.is_file():
        raise NmtError(f"{what} not found: {path}")
    return path


def decode_line(raw: bytes, path: str | Path, lineno: int) -> str:
    """One line of bytes to text without its line ending; bad UTF-8 names file and line."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise NmtError(f"{path}, line {lineno}: invalid UTF-8 (byte {e.start + 1} of the line)") from None
    return text.rstrip("\r\n")


def read_lines(path: str | Path) -> Iterator[str]:
    """Yield the lines of a UTF-8 file, without line endings."""
    path = require_file(path)
    with open(path, "rb") as f:
        for lineno, raw in enumerate(f, 1):
            yield decode_line(raw, path, lineno)


def count_lines(path: str | Path) -> int:
    with open(path, "rb") as f:
        return sum(1 for _ in f)


def read_parallel(src_path: str | Path, tgt_path: str | Path) -> Iterator[tuple[str, str]]:
    """Yield aligned (source, target) lines; unequal line counts name both files and both counts."""
    src_path, tgt_path = require_file(src_path), require_file(tgt_path)
    with open(src_path, "rb") as fs, open(tgt_path, "rb") as ft:
        for n, (rs, rt) in enumerate(zip_longest(fs, ft), 1):
            if rs is None or rt is None:
                ns, nt = n - 1 + (rs is not None) + sum(1 for _ in fs), n - 1 + (rt is not None) + sum(1 for _ in ft)
                raise NmtError(f"unequal line counts: {src_path} has {ns} lines, {tgt_path} has {nt}")
            yield decode_line(rs, src_path, n), decode_line(rt, tgt_path, n)
