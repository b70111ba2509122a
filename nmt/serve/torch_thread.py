"""The server's torch work, all on one thread: loading the checkpoints and translating every batch.

PyTorch's CPU operations run their parallel parts on OpenMP (GNU libgomp in the PyPI wheels), and
libgomp gives every thread that starts parallel work a team of its own. Once it manages more
threads than there are cores, libgomp throttles its workers' spinning: they go to sleep between
parallel regions at once, and a decoding step, a few hundred small parallel operations, pays for
waking them each time. A model loaded on the main thread and used on a batcher's thread makes
two teams, four threads on a 2-core machine. Measured on Intel(R) Xeon(R) Processor, 2 threads,
fairseq's Multi30k model, 640 test sentences in the batches a 16-client server forms: loaded and
translated on one thread 91-118 sentences/s; loaded on one and translated on another 81-92
(docs/results.md). So the checkpoints are loaded here and every batcher translates here; the
event loop's thread does no torch work. Batches of different checkpoints take turns on it (they
would share the same cores anyway).
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")

_EXECUTOR = ThreadPoolExecutor(max_workers=1, thread_name_prefix="nmt-torch")


def run(fn: Callable[..., T], *args, **kwargs) -> T:
    """``fn(*args, **kwargs)`` on the torch thread; its result, or its exception raised here."""
    return _EXECUTOR.submit(fn, *args, **kwargs).result()
