"""Translation streams: whole batches searched side by side, one worker process per stream.

One process searching on all the cores of a small CPU spends part of every step waiting: the
intra-op threads split each small matrix product and meet at a barrier after it, and the search's
Python and dispatch work (a fifth of a beam-5 step, docs/results.md) runs on one core while the
others idle. ``Streams(n, load)`` starts n processes instead, each with its own copy of the model
on ``threads // n`` intra-op threads. Batches go to whichever stream is free; their n-best lists
come back in the order the batches were given. Each batch is searched exactly as in one process
(same batch, same search code), so the translations are the same.

Workers are spawned, each a fresh interpreter: forking a process whose OpenMP threads have run is
not safe. Each builds its model once by calling ``load()``, which must be picklable (a
module-level function, or a ``functools.partial`` of one) and return ``(model, shortlist or
None)``. Tensors travel as numpy arrays, copied by value. Ctrl-C is left to the parent, which
shuts the streams down.
"""

from __future__ import annotations

import multiprocessing
import signal
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

import numpy as np
import torch
from torch import Tensor

from nmt.errors import NmtError
from nmt.models.base import Seq2SeqModel
from nmt.search import BoundShortlist, Hypothesis, SearchConfig, search

Loader = Callable[[], "tuple[Seq2SeqModel, BoundShortlist | None]"]
Job = tuple[Tensor, Tensor, SearchConfig, "Tensor | None"]  # src (B, S), lens (B,), cfg, prefix (B, P)

_worker: dict = {}  # in a worker process: its model and shortlist


def _start(load: Loader, threads: int) -> None:
    """A worker's initializer: the parent handles Ctrl-C; denormals flushed as `nmt` does."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    torch.set_num_threads(threads)
    torch.set_flush_denormal(True)
    _worker["model"], _worker["shortlist"] = load()


def _search(src: np.ndarray, lens: np.ndarray, cfg: SearchConfig,
            prefix: np.ndarray | None) -> list[list[tuple]]:
    """In a worker: one batch's n-best lists, as plain (tokens, score, positional scores,
    attention) tuples of numpy arrays."""
    nbest_lists = search(_worker["model"], torch.from_numpy(src), torch.from_numpy(lens), cfg,
                         None if prefix is None else torch.from_numpy(prefix), _worker["shortlist"])
    return [[(h.tokens.numpy(), h.score, h.positional_scores.numpy(),
              None if h.attention is None else h.attention.float().numpy()) for h in hyps]
            for hyps in nbest_lists]


def _hypotheses(plain: list[list[tuple]]) -> list[list[Hypothesis]]:
    return [[Hypothesis(torch.from_numpy(tokens), score, torch.from_numpy(positional),
                        None if attention is None else torch.from_numpy(attention))
             for tokens, score, positional, attention in hyps]
            for hyps in plain]


class Streams:
    """``count`` worker processes searching batches side by side (CPU only); close when done."""

    def __init__(self, count: int, load: Loader, threads: int | None = None):
        if count < 1:
            raise NmtError(f"streams must be >= 1, got {count}")
        self.count = count
        self.threads_each = max(1, (threads or torch.get_num_threads()) // count)
        self._pool = ProcessPoolExecutor(count, mp_context=multiprocessing.get_context("spawn"),
                                         initializer=_start, initargs=(load, self.threads_each))

    def search(self, jobs: Iterable[Job]) -> Iterator[list[list[Hypothesis]]]:
        """Each job's n-best lists, in the jobs' order. All jobs are handed out at once; results
        are yielded as the batch they belong to, and those before it, are done."""
        futures = [self._pool.submit(_search, src.cpu().numpy(), lens.cpu().numpy(), cfg,
                                     None if prefix is None else prefix.cpu().numpy())
                   for src, lens, cfg, prefix in jobs]
        return self._results(futures)

    def _results(self, futures: list[Future]) -> Iterator[list[list[Hypothesis]]]:
        try:
            for future in futures:
                yield _hypotheses(future.result())
        except BrokenProcessPool:
            raise NmtError("a translation stream stopped (killed, or out of memory?); "
                           "translate with fewer streams") from None
        finally:
            for future in futures:
                future.cancel()

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> Streams:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
