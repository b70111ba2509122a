"""Dynamic batching: requests that arrive together are translated together.

Each HTTP request becomes a :class:`Job` (its sentences and search options) in one queue per
model. One worker thread takes the oldest job, then adds every queued job with the same search
options while the batch stays within ``max_batch_tokens`` source words, waiting up to
``max_wait_ms`` after the oldest job arrived for more to come. It translates the whole batch with
one call of the Python API (the code path of `nmt translate`, which sorts by length and searches
in sub-batches) and hands each job its own translations. While a batch is being translated, new
requests queue up, so under load batches fill without waiting at all.

``max_batch_tokens`` 0 turns batching off: every request is translated on its own (its own
sentences still form one batch). The queue is bounded (``max_queue`` jobs): a full queue refuses
new work at once, which the server answers with 429. A job whose caller gave up (a timed-out
request) is dropped before it is translated.
"""

from __future__ import annotations

import asyncio
import collections
import threading
import time
from dataclasses import asdict, dataclass, field

from nmt.serve.metrics import Metrics
from nmt.serve.torch_thread import run as on_torch_thread


class QueueFull(Exception):
    """The queue holds ``max_queue`` jobs already."""


class Closed(Exception):
    """The batcher is shutting down and takes no new work."""


@dataclass(frozen=True)
class SearchOptions:
    """Search options that must agree for requests to share a batch."""

    beam: int = 5
    nbest: int = 1
    lenpen: float = 1.0
    max_len_a: float = 0.0
    max_len_b: int = 200


@dataclass
class Job:
    lines: list[str]
    options: SearchOptions
    future: asyncio.Future
    loop: asyncio.AbstractEventLoop
    prefixes: list[str] | None = None  # a target prefix per line ('' for none)
    tokens: int = 0  # source words + one end-of-sentence per line: the batch budget's unit
    enqueued: float = field(default_factory=time.monotonic)

    def __post_init__(self):
        self.tokens = sum(len(line.split()) + 1 for line in self.lines)
        self.prefixes = self.prefixes or [""] * len(self.lines)


@dataclass
class Timing:
    """Where a job's time went, in milliseconds."""

    queue_ms: float
    translate_ms: float
    batch_sentences: int


class Batcher:
    """One model's queue and worker thread; :meth:`translate` is awaited by request handlers."""

    def __init__(self, model, max_batch_tokens: int = 2048, max_wait_ms: float = 10.0,
                 max_queue: int = 256, metrics: Metrics | None = None, name: str = ""):
        self.model, self.name = model, name
        self.max_batch_tokens, self.max_wait = max_batch_tokens, max_wait_ms / 1000
        self.max_queue = max_queue
        self.metrics = metrics or Metrics()
        self.queue: collections.deque[Job] = collections.deque()
        self.cond = threading.Condition()
        self.closed = False
        self.thread = threading.Thread(target=self._work, name=f"batcher-{name}", daemon=True)
        self.thread.start()

    async def translate(self, lines: list[str], options: SearchOptions,
                        prefixes: list[str] | None = None) -> tuple[list, Timing]:
        """Per line its n-best translations (``nmt.Translation``), each starting with its line's
        target prefix when given, and the job's timing."""
        loop = asyncio.get_running_loop()
        job = Job(lines, options, loop.create_future(), loop, prefixes)
        with self.cond:
            if self.closed:
                raise Closed
            if len(self.queue) >= self.max_queue:
                raise QueueFull
            self.queue.append(job)
            self.metrics.queue_length.labels(self.name).set(len(self.queue))
            self.cond.notify()
        return await job.future

    def close(self, timeout: float | None = None) -> None:
        """Take no new work; finish what is queued; stop the worker."""
        with self.cond:
            self.closed = True
            self.cond.notify_all()
        self.thread.join(timeout)

    # -- the worker thread -----------------------------------------------------------------------

    def _work(self) -> None:
        while batch := self._next_batch():
            lines = [line for job in batch for line in job.lines]
            prefixes = [p for job in batch for p in job.prefixes]
            started = time.monotonic()
            try:  # on the one torch thread (see nmt.serve.torch_thread)
                found = on_torch_thread(self.model.translate_nbest, lines, **asdict(batch[0].options),
                                        prefixes=prefixes if any(prefixes) else None)
            except Exception as e:  # delivered to every waiting request (a 500 each)
                for job in batch:
                    _deliver(job, error=e)
                continue
            elapsed = time.monotonic() - started
            self.metrics.observe_batch(self.name, len(lines), sum(j.tokens for j in batch), elapsed)
            start = 0
            for job in batch:
                timing = Timing(1000 * (started - job.enqueued), 1000 * elapsed, len(lines))
                _deliver(job, (found[start: start + len(job.lines)], timing))
                start += len(job.lines)

    def _next_batch(self) -> list[Job]:
        """The oldest live job and the compatible jobs that fit with it; [] once closed and empty."""
        with self.cond:
            first = self._pop_live()
            while first is None:
                if self.closed:
                    return []
                self.cond.wait()
                first = self._pop_live()
            batch, tokens = [first], first.tokens
            deadline = first.enqueued + self.max_wait
            while self.max_batch_tokens > 0 and tokens < self.max_batch_tokens:
                for job in list(self.queue):
                    if job.options == first.options and tokens + job.tokens <= self.max_batch_tokens:
                        self.queue.remove(job)
                        if not job.future.cancelled():
                            batch.append(job)
                            tokens += job.tokens
                wait = deadline - time.monotonic()
                if wait <= 0 or self.closed:
                    break
                self.cond.wait(wait)
            self.metrics.queue_length.labels(self.name).set(len(self.queue))
            return batch

    def _pop_live(self) -> Job | None:
        while self.queue:
            job = self.queue.popleft()
            if not job.future.cancelled():
                return job
        return None


def _deliver(job: Job, result=None, error: Exception | None = None) -> None:
    """Hand a result (or an error) to the job's waiting request on its event loop."""
    def settle():
        if job.future.done():  # the request timed out meanwhile
            return
        if error is not None:
            job.future.set_exception(error)
        else:
            job.future.set_result(result)

    try:
        job.loop.call_soon_threadsafe(settle)
    except RuntimeError:  # the loop is closed: nobody is waiting any more
        pass
