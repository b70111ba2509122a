"""Binarized corpora: one flat token array per split and language, plus an offsets index.

Files (numpy ``.npy``, opened memory-mapped so a corpus larger than memory costs nothing to open):

- ``{split}.{lang}.tokens.npy``: every sentence's ids back to back, no eos (uint16 when the
  dictionary has fewer than 65,536 entries, else int32);
- ``{split}.{lang}.offsets.npy``: int64, ``n + 1`` entries; sentence i is
  ``tokens[offsets[i]:offsets[i + 1]]``.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np

from nmt.errors import NmtError


def token_dtype(vocab_size: int) -> np.dtype:
    return np.dtype(np.uint16) if vocab_size < 2**16 else np.dtype(np.int32)


def split_paths(directory: str | Path, split: str, lang: str) -> tuple[Path, Path]:
    directory = Path(directory)
    return (directory / f"{split}.{lang}.tokens.npy", directory / f"{split}.{lang}.offsets.npy")


def write_split(
    directory: str | Path, split: str, lang: str, sentences: Iterable[list[int]], vocab_size: int
) -> int:
    """Write a split's id sequences; returns the number of tokens written."""
    dtype = token_dtype(vocab_size)
    chunks: list[np.ndarray] = []
    lengths: list[int] = []
    for ids in sentences:
        chunks.append(np.asarray(ids, dtype=dtype))
        lengths.append(len(ids))
    offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    tokens = np.concatenate(chunks) if chunks else np.zeros(0, dtype=dtype)
    tok_path, off_path = split_paths(directory, split, lang)
    np.save(tok_path, tokens)
    np.save(off_path, offsets)
    return int(offsets[-1])


class TokenArray:
    """A memory-mapped split of one language: ``len()``, ``[i]`` -> int64 ids, ``sizes``."""

    def __init__(self, directory: str | Path, split: str, lang: str, vocab_size: int | None = None):
        tok_path, off_path = split_paths(directory, split, lang)
        for p in (tok_path, off_path):
            if not p.is_file():
                raise NmtError(f"split {split!r} ({lang}) is missing from {directory}: no {p.name}")
        try:
            self.tokens = np.load(tok_path, mmap_mode="r")
            self.offsets = np.load(off_path)
        except (ValueError, EOFError, OSError) as e:
            raise NmtError(f"{tok_path.parent}: corrupt binarized split {split}.{lang} "
                           f"({str(e).splitlines()[0] or type(e).__name__})") from None
        problem = _problem(self.tokens, self.offsets, vocab_size)
        if problem:
            raise NmtError(f"{tok_path.parent}: corrupt binarized split {split}.{lang}: {problem}; "
                           "preprocess the data again")
        self.sizes = np.diff(self.offsets)  # (n,) sentence lengths without eos

    def __len__(self) -> int:
        return len(self.sizes)

    def __getitem__(self, i: int) -> np.ndarray:
        return np.asarray(self.tokens[self.offsets[i] : self.offsets[i + 1]], dtype=np.int64)


def _problem(tokens: np.ndarray, offsets: np.ndarray, vocab_size: int | None) -> str | None:
    """What is wrong with a split's arrays, in words, or None: both 1-D integer arrays, offsets
    from 0 up to the token count without going back, every id inside the dictionary."""
    if tokens.ndim != 1 or tokens.dtype.kind not in "iu":
        return f"the tokens are a {tokens.dtype} array of {tokens.ndim} dimensions, not 1-D integers"
    if offsets.ndim != 1 or offsets.dtype.kind not in "iu" or len(offsets) == 0:
        return "the offsets are not a non-empty 1-D integer array"
    if offsets[0] != 0 or offsets[-1] != len(tokens) or (np.diff(offsets) < 0).any():
        return "the offsets do not index the tokens (they must rise from 0 to the token count)"
    if vocab_size is not None and len(tokens):
        low, high = int(tokens.min()), int(tokens.max())
        if low < 0 or high >= vocab_size:
            return f"token id {high if high >= vocab_size else low} is outside the dictionary of {vocab_size}"
    return None
