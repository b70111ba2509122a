"""Dynamic batching: requests that arrive together are translated together.

Each HTTP request becomes a :class:`Job` (its sentences and search options) in one queue per
model. One worker thread takes the oldest job, then adds every queued job with the same search
options while the batch stays within ``max_batch_tokens`` source words, waiting up to
``max_wait_ms`` after the oldest job arrived for more to come.

Where the model can (``nmt.Model.continuous``: ConvS2S, LSTM and Dilated-RNN beam search
without a target prefix), batching is continuous: the batch's sentences form a running beam search
(:mod:`nmt.search.continuous`), jobs that arrive later join it at the next decoder step (again
with the same options, within ``max_batch_tokens`` source words in flight), and each job is
answered as soon as its own sentences are done. A small batch no longer runs on for its longest
sentence while its finished clients wait, and every step carries every waiting sentence.
Otherwise a batch is translated whole with one call of the Python API (the code path of
`nmt translate`, which sorts by length and searches in sub-batches) and each job gets its own
translations; while it runs, new requests queue up, so under load batches fill without waiting.

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

STREAM_TURN = 0.05  # seconds a running search steps before the worker looks at the queue again


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
    attention: bool = False  # keep the attention (for the answer's heatmap or alignments)


@dataclass
class Job:
    lines: list[str]
    options: SearchOptions
    future: asyncio.Future
    loop: asyncio.AbstractEventLoop
    prefixes: list[str] | None = None  # a target prefix per line ('' for none)
    tokens: int = 0  # source words + one end-of-sentence per line: the batch budget's unit
    enqueued: float = field(default_factory=time.monotonic)
    # in a running search: when it joined, its lines' outputs, how many are left, the search's size
    admitted: float = 0.0
    found: list = field(default_factory=list)
    left: int = 0
    batch_sentences: int = 0

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
                 max_queue: int = 256, metrics: Metrics | None = None, name: str = "",
                 continuous: bool = True):
        self.model, self.name = model, name
        self.continuous = continuous and max_batch_tokens > 0
        self.stream = None  # the running continuous search (nmt.translation.ContinuousTranslator)
        self.stream_options: SearchOptions | None = None
        self._jobs: dict[int, Job] = {}  # the jobs in the running search, by id
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
        while work := self._next_work():
            continuous, jobs = work
            if continuous:
                on_torch_thread(self._run_stream, jobs)
            else:
                self._translate_batch(jobs)

    def _next_work(self) -> tuple[bool, list[Job]] | None:
        """What the worker does next: (True, jobs joining the running search), or (False, a batch
        to translate whole); None once closed with nothing queued or running."""
        with self.cond:
            if self.stream is not None and len(self.stream):
                return True, self._take_compatible(self.stream_options, self._tokens_in_flight(),
                                                   None, continuous=True)
            first = self._pop_live()
            while first is None:
                if self.closed:
                    return None
                self.cond.wait()
                first = self._pop_live()
            deadline = first.enqueued + self.max_wait
            continuous = self.continuous and not any(first.prefixes) and self._start_stream(first.options)
            return continuous, [first, *self._take_compatible(first.options, first.tokens, deadline,
                                                              continuous)]

    def _take_compatible(self, options: SearchOptions, tokens: int, wait_until: float | None,
                         continuous: bool) -> list[Job]:
        """Queued jobs with ``options`` (and no target prefix when ``continuous``) while the source
        words stay within ``max_batch_tokens`` (``tokens`` taken already), waiting for more until
        ``wait_until`` (None: take what is queued now). Called with the lock held."""
        taken = []
        while tokens < self.max_batch_tokens:
            for job in list(self.queue):
                fits = (job.options == options and not (continuous and any(job.prefixes))
                        and tokens + job.tokens <= self.max_batch_tokens)
                if continuous and not fits:
                    break  # first come, first served: later jobs wait for this one's turn
                if fits:
                    self.queue.remove(job)
                    if not job.future.cancelled():
                        taken.append(job)
                        tokens += job.tokens
            wait = -1 if wait_until is None else wait_until - time.monotonic()
            if wait <= 0 or self.closed:
                break
            self.cond.wait(wait)
        self.metrics.queue_length.labels(self.name).set(len(self.queue))
        return taken

    def _start_stream(self, options: SearchOptions) -> bool:
        """A running search for ``options`` (the last one if its options match); False where the
        model cannot search continuously."""
        if self.stream is None or self.stream_options != options:
            start = getattr(self.model, "continuous", None)
            self.stream = start(**asdict(options)) if start is not None else None
            self.stream_options = options
        return self.stream is not None

    def _tokens_in_flight(self) -> int:
        return sum(job.tokens for job in self._jobs.values())

    # -- continuous batching, on the torch thread --------------------------------------------------

    def _run_stream(self, jobs: list[Job]) -> None:
        """Let ``jobs`` join the running search, then step it for up to ``STREAM_TURN`` seconds
        (other checkpoints' batches take turns on the torch thread), taking the jobs queued
        meanwhile in at every step; answer each job once its sentences are done."""
        stream = self.stream
        try:
            self._admit(stream, jobs)
            until = time.monotonic() + STREAM_TURN
            while len(stream) and time.monotonic() < until:
                if self.queue:
                    with self.cond:  # held briefly: request handlers take it to queue their jobs
                        joining = self._take_compatible(
                            self.stream_options, self._tokens_in_flight(), None, continuous=True)
                    self._admit(stream, joining)  # text processing and encoding, lock released
                started, sentences = time.monotonic(), len(stream)
                finished = stream.step()
                self.metrics.observe_step(self.name, sentences, time.monotonic() - started)
                for tag, outputs in finished:
                    self._line_done(tag, outputs)
        except Exception as e:  # delivered to every job in the search (a 500 each)
            for job in self._jobs.values():
                _deliver(job, error=e)
            self._jobs.clear()
            self.stream = None

    def _admit(self, stream, jobs: list[Job]) -> None:
        """Start ``jobs``' lines in the running search, encoded together (one encoder call however
        many jobs join at a step); empty lines are done at once."""
        lines = [line for job in jobs for line in job.lines]
        tags = [(id(job), i) for job in jobs for i in range(len(job.lines))]
        sentences = len(stream) + len(lines)
        for job in jobs:
            job.admitted, job.found, job.left = time.monotonic(), [None] * len(job.lines), len(job.lines)
            job.batch_sentences = sentences
            self._jobs[id(job)] = job
            if not job.lines:
                self._line_done((id(job), -1), [])
        for tag, outputs in stream.add(lines, tags):
            self._line_done(tag, outputs)

    def _line_done(self, tag: tuple[int, int], outputs: list) -> None:
        """Line ``tag[1]`` of job ``tag[0]`` is translated; the job is answered with its last."""
        job = self._jobs[tag[0]]
        if job.lines:
            job.found[tag[1]] = outputs
            job.left -= 1
        if job.left <= 0:
            del self._jobs[tag[0]]
            now = time.monotonic()
            self.metrics.count_translated(self.name, len(job.lines), job.tokens)
            _deliver(job, (job.found, Timing(1000 * (job.admitted - job.enqueued),
                                             1000 * (now - job.admitted), job.batch_sentences)))

    # -- whole batches -----------------------------------------------------------------------------

    def _translate_batch(self, batch: list[Job]) -> None:
        lines = [line for job in batch for line in job.lines]
        prefixes = [p for job in batch for p in job.prefixes]
        started = time.monotonic()
        try:  # on the one torch thread (see nmt.serve.torch_thread)
            found = on_torch_thread(self.model.translate_nbest, lines, **asdict(batch[0].options),
                                    prefixes=prefixes if any(prefixes) else None)
        except Exception as e:  # delivered to every waiting request (a 500 each)
            for job in batch:
                _deliver(job, error=e)
            return
        elapsed = time.monotonic() - started
        self.metrics.observe_batch(self.name, len(lines), sum(j.tokens for j in batch), elapsed)
        start = 0
        for job in batch:
            timing = Timing(1000 * (started - job.enqueued), 1000 * elapsed, len(lines))
            _deliver(job, (found[start: start + len(job.lines)], timing))
            start += len(job.lines)

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
