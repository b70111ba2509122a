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

    def __init__(self, directory: str | Path, split: str, lang: str):
        tok_path, off_path = split_paths(directory, split, lang)
        for p in (tok_path, off_path):
            if not p.is_file():
                raise NmtError(f"split {split!r} ({lang}) is missing from {directory}: no {p.name}")
        try:
            self.tokens = np.load(tok_path, mmap_mode="r")
            self.offsets = np.load(off_path)
        except ValueError as e:
            raise NmtError(f"{tok_path.parent}: corrupt binarized split {split}.{lang}: {e}") from None
        if self.offsets.ndim != 1 or int(self.offsets[-1]) != len(self.tokens):
            raise NmtError(f"{off_path} does not match {tok_path.name}: corrupt binarized split")
        self.sizes = np.diff(self.offsets)  # (n,) sentence lengths without eos

    def __len__(self) -> int:
        return len(self.sizes)

    def __getitem__(self, i: int) -> np.ndarray:
        return np.asarray(self.tokens[self.offsets[i] : self.offsets[i + 1]], dtype=np.int64)
