"""Token-bucket batching: batches of similar-length sentences under a ``--max-tokens`` budget.

A batch's size is counted as fairseq counts it: ``number of sentences x longest sentence``
(source or target, eos included), i.e. the padded tensor size, so ``--max-tokens`` bounds memory.
Each epoch reshuffles from ``seed + epoch``: sentences of equal length change partners, and the
batch order is shuffled; every sentence appears exactly once per epoch (over all ranks).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from nmt.data.dataset import Batch, ParallelDataset
from nmt.errors import NmtError


def make_batches(
    src_sizes: np.ndarray,
    tgt_sizes: np.ndarray,
    max_tokens: int | None,
    max_sentences: int | None = None,
    rng: np.random.Generator | None = None,
) -> list[np.ndarray]:
    """Group sentence indices into batches bounded by ``max_tokens`` and ``max_sentences``.

    Sentences are sorted by (target, source) length, with ties broken at random when ``rng`` is
    given, then cut greedily. A sentence longer than ``max_tokens`` on its own is an error.
    """
    if max_tokens is None and max_sentences is None:
        raise NmtError("give --max-tokens or --batch-size (or both)")
    n = len(src_sizes)
    sizes = np.maximum(src_sizes, tgt_sizes)  # (n,)
    if max_tokens is not None and n and sizes.max() > max_tokens:
        i = int(sizes.argmax())
        raise NmtError(
            f"sentence {i} has {int(sizes[i])} tokens (with eos), more than --max-tokens {max_tokens}; "
            "raise --max-tokens or preprocess with a smaller --max-len"
        )
    tiebreak = rng.permutation(n) if rng is not None else np.arange(n)
    order = np.lexsort((tiebreak, src_sizes, tgt_sizes))  # last key sorts first
    return _cut(order, sizes, max_tokens or np.iinfo(np.int64).max, max_sentences or n or 1)


def _cut(order: np.ndarray, sizes: np.ndarray, max_tokens: int, max_sentences: int) -> list[np.ndarray]:
    batches, start, longest = [], 0, 0
    for pos, i in enumerate(order):
        longest_with = max(longest, int(sizes[i]))
        count = pos - start + 1
        if count > max_sentences or longest_with * count > max_tokens:
            batches.append(order[start:pos])
            start, longest_with = pos, int(sizes[i])
        longest = longest_with
    if start < len(order):
        batches.append(order[start:])
    return batches


class BatchIterator:
    """The batches of one split, epoch by epoch, for one rank of ``world_size``.

    Rank r takes batches r, r + world, r + 2*world, ... of the epoch's shuffled order.
    """

    def __init__(
        self,
        dataset: ParallelDataset,
        max_tokens: int | None,
        max_sentences: int | None = None,
        seed: int = 1,
        shuffle: bool = True,
        rank: int = 0,
        world_size: int = 1,
    ):
        if not 0 <= rank < world_size:
            raise NmtError(f"rank {rank} is outside a world of size {world_size}")
        self.dataset = dataset
        self.max_tokens, self.max_sentences = max_tokens, max_sentences
        self.seed, self.shuffle = seed, shuffle
        self.rank, self.world_size = rank, world_size

    def epoch_batches(self, epoch: int) -> list[np.ndarray]:
        """This rank's batches (arrays of sentence indices) for ``epoch`` (1-based)."""
        rng = np.random.default_rng((self.seed, epoch)) if self.shuffle else None
        batches = make_batches(
            self.dataset.src_sizes, self.dataset.tgt_sizes, self.max_tokens, self.max_sentences, rng
        )
        if rng is not None:
            batches = [batches[i] for i in rng.permutation(len(batches))]
        return batches[self.rank :: self.world_size]

    def __call__(self, epoch: int, start: int = 0) -> Iterator[Batch]:
        """Collated batches of ``epoch``, skipping the first ``start`` (to resume mid-epoch)."""
        for indices in self.epoch_batches(epoch)[start:]:
            yield self.dataset.collate(indices)
