"""Parallel tokenization and segmentation for `nmt preprocess` (a process pool over line chunks).

Reading stays in the main process, so a bad line raises there with its file and line number;
chunks go to the workers with a bounded number in flight and come back in input order.
"""

from __future__ import annotations

import multiprocessing as mp
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from itertools import islice

from tqdm import tqdm

from nmt.data.subword import build_segmenter
from nmt.data.tokenizer import TextSteps, WordProcessor

CHUNK_LINES = 1000

# Per-process state, set once by the pool initializer (or directly when running in-process).
_state: dict = {}


def _chunks(items: Iterable, size: int = CHUNK_LINES) -> Iterator[list]:
    it = iter(items)
    while chunk := list(islice(it, size)):
        yield chunk


def _run(fn: Callable, init: Callable, initargs: tuple, items: Iterable, workers: int,
         total: int | None, desc: str) -> Iterator:
    """Apply ``fn`` to chunks of ``items`` (in a pool when ``workers > 1``); yield results in order."""
    with tqdm(total=total, desc=desc, unit=" lines", disable=None, leave=False) as bar:
        if workers <= 1:
            init(*initargs)
            for chunk in _chunks(items):
                yield from fn(chunk)
                bar.update(len(chunk))
            return
        ctx = mp.get_context("fork")
        with ctx.Pool(workers, initializer=init, initargs=initargs) as pool:
            pending: deque = deque()
            for chunk in _chunks(items):
                pending.append((len(chunk), pool.apply_async(fn, (chunk,))))
                if len(pending) > 2 * workers:
                    n, res = pending.popleft()
                    yield from res.get()
                    bar.update(n)
            while pending:
                n, res = pending.popleft()
                yield from res.get()
                bar.update(n)


def _init_tokenize(steps: dict[str, TextSteps], src: str, tgt: str) -> None:
    _state["src"] = WordProcessor(steps[src])
    _state["tgt"] = WordProcessor(steps[tgt])


def _tokenize_chunk(pairs: list[tuple[str, str]]) -> list[tuple[list[str], list[str]]]:
    s, t = _state["src"], _state["tgt"]
    return [(s.tokenize(a), t.tokenize(b)) for a, b in pairs]


def tokenize_pairs(pairs, steps, src, tgt, workers, total=None, desc="tokenize"):
    """(raw source, raw target) pairs -> (source tokens, target tokens), in order."""
    return _run(_tokenize_chunk, _init_tokenize, (steps, src, tgt), pairs, workers, total, desc)


def _init_segment(spec: dict, assets: dict[str, bytes]) -> None:
    _state["segmenter"] = build_segmenter(spec, assets)


def _segment_chunk(lines: list[list[str]]) -> list[list[str]]:
    seg = _state["segmenter"]
    return [seg.segment(tokens) for tokens in lines]


def segment_lines(lines, spec, assets, workers, total=None, desc="segment"):
    """Word-token lists -> subword-piece lists, in order."""
    return _run(_segment_chunk, _init_segment, (spec, assets), lines, workers, total, desc)
