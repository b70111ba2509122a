"""Measurements behind `nmt bench`: each returns a JSON-ready dict of medians over repeats.

Speed is measured in-process over repeated windows after a warm-up; quote medians, and compare two
variants in one run (the machine is shared and noisy).
"""

from __future__ import annotations

import resource
import statistics
import time
from pathlib import Path

from nmt.data.batching import BatchIterator
from nmt.data.dataset import ParallelDataset


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MiB (Linux reports KiB)."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def bench_data(data_dir: str | Path, split: str = "train", max_tokens: int = 4000,
               batch_size: int | None = None, repeats: int = 3) -> dict:
    """Batching + collation throughput: one full epoch per repeat, as the trainer consumes it."""
    t0 = time.perf_counter()
    dataset = ParallelDataset(data_dir, split)
    open_s = time.perf_counter() - t0
    it = BatchIterator(dataset, max_tokens, batch_size, seed=1)
    rates, sent_rates, tok_rates, n_batches = [], [], [], 0
    for epoch in range(1, repeats + 1):
        t = time.perf_counter()
        n_batches = sentences = tokens = 0
        for batch in it(epoch):
            n_batches += 1
            sentences += len(batch)
            tokens += batch.ntokens
        dt = time.perf_counter() - t
        rates.append(n_batches / dt)
        sent_rates.append(sentences / dt)
        tok_rates.append(tokens / dt)
    return {
        "benchmark": "data",
        "data": str(data_dir),
        "split": split,
        "max_tokens": max_tokens,
        "batches_per_epoch": n_batches,
        "open_seconds": round(open_s, 4),
        "batches_per_s": round(statistics.median(rates), 1),
        "sentences_per_s": round(statistics.median(sent_rates), 1),
        "target_tokens_per_s": round(statistics.median(tok_rates), 1),
        "repeats": repeats,
        "peak_rss_mb": peak_rss_mb(),
    }
