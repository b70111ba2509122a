"""A parallel dataset over a binarized data directory, and collation into padded batches.

Each sentence becomes what the model sees by :func:`nmt.data.dictionary.source_sequence` and
:func:`~nmt.data.dictionary.target_sequences` (fairseq's conventions, so imported fairseq models see
the inputs they were trained on). Batches are batch-first and right-padded with ``<pad>``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from nmt.data.binarized import TokenArray
from nmt.data.dictionary import PAD_ID, source_sequence, target_sequences
from nmt.data.pipeline import Pipeline
from nmt.errors import NmtError


@dataclass
class Batch:
    """One padded batch. ``B`` sentences, ``S`` source and ``T`` target positions."""

    ids: torch.Tensor  # (B,) sentence indices in the split
    src: torch.Tensor  # (B, S) long, right-padded, each row ends with eos
    src_lens: torch.Tensor  # (B,) long, eos included
    tgt_in: torch.Tensor  # (B, T) long: eos y_1 .. y_m, right-padded
    tgt_out: torch.Tensor  # (B, T) long: y_1 .. y_m eos, right-padded
    ntokens: int  # non-pad target tokens (the loss normaliser)

    def to(self, device: torch.device | str) -> Batch:
        return Batch(
            self.ids, self.src.to(device), self.src_lens.to(device), self.tgt_in.to(device),
            self.tgt_out.to(device), self.ntokens,
        )

    def __len__(self) -> int:
        return len(self.ids)


class ParallelDataset:
    """Source and target sides of one split; sizes include the eos each side gets."""

    def __init__(self, data_dir: str | Path, split: str, pipeline: Pipeline | None = None):
        data_dir = Path(data_dir)
        self.pipeline = pipeline or Pipeline.load(data_dir)
        self.split = split
        src, tgt = self.pipeline.source, self.pipeline.target
        if src.dictionary is None or tgt.dictionary is None:
            raise NmtError(f"{data_dir}: the pipeline description names no dictionary for "
                           f"{src.lang if src.dictionary is None else tgt.lang}")
        self.src = TokenArray(data_dir, split, src.lang, len(src.dictionary))
        self.tgt = TokenArray(data_dir, split, tgt.lang, len(tgt.dictionary))
        if len(self.src) != len(self.tgt):
            raise NmtError(f"{data_dir}: split {split!r} has {len(self.src)} source and {len(self.tgt)} target sentences")
        self.src_sizes = self.src.sizes + 1  # (n,) with eos
        self.tgt_sizes = self.tgt.sizes + 1  # (n,) with eos

    def __len__(self) -> int:
        return len(self.src)

    def collate(self, indices) -> Batch:
        """Gather sentences ``indices`` into one right-padded :class:`Batch`."""
        indices = np.asarray(indices, dtype=np.int64)
        b = len(indices)
        s_len, t_len = self.src_sizes[indices], self.tgt_sizes[indices]
        src = np.full((b, int(s_len.max())), PAD_ID, dtype=np.int64)  # (B, S)
        tgt_in = np.full((b, int(t_len.max())), PAD_ID, dtype=np.int64)  # (B, T)
        tgt_out = np.full_like(tgt_in, PAD_ID)
        for row, i in enumerate(indices):
            x = source_sequence(self.src[i])
            y_in, y_out = target_sequences(self.tgt[i])
            src[row, : len(x)] = x
            tgt_in[row, : len(y_in)] = y_in
            tgt_out[row, : len(y_out)] = y_out
        return Batch(
            ids=torch.from_numpy(indices),
            src=torch.from_numpy(src),
            src_lens=torch.from_numpy(s_len.astype(np.int64)),
            tgt_in=torch.from_numpy(tgt_in),
            tgt_out=torch.from_numpy(tgt_out),
            ntokens=int(t_len.sum()),
        )
