"""Dynamic batching on a model that records what it was asked: concurrent requests share
batches, every request gets its own answers in its own order, the queue is bounded, a request
that gave up is never translated, and closing finishes the queue."""

import asyncio
import threading
import time
from dataclasses import dataclass

import pytest

from nmt.serve.batcher import Batcher, Closed, QueueFull, SearchOptions


@dataclass
class Echo:
    text: str
    score: float = 0.0


class RecordingModel:
    """Answers each line with itself upper-cased, after ``delay`` seconds per call."""

    def __init__(self, delay: float = 0.05):
        self.delay, self.calls = delay, []
        self.gate = threading.Event()
        self.gate.set()

    def translate_nbest(self, lines, **options):
        self.gate.wait()
        self.calls.append((list(lines), options))
        time.sleep(self.delay)
        return [[Echo(line.upper())] for line in lines]


DEFAULT = SearchOptions()


async def ask(batcher, lines, options=DEFAULT):
    found, timing = await batcher.translate(lines, options)
    return [hyps[0].text for hyps in found], timing


def test_concurrent_requests_share_batches_and_keep_their_answers():
    model = RecordingModel()
    batcher = Batcher(model, max_batch_tokens=1000, max_wait_ms=20)

    async def main():
        return await asyncio.gather(*(ask(batcher, [f"sentence {i}", f"more {i}"]) for i in range(16)))

    answers = asyncio.run(main())
    batcher.close()
    assert [a for a, _ in answers] == [[f"SENTENCE {i}", f"MORE {i}"] for i in range(16)]
    assert len(model.calls) < 16  # several requests went together
    assert max(t.batch_sentences for _, t in answers) > 2


def test_batching_off_translates_each_request_alone():
    model = RecordingModel(delay=0.01)
    batcher = Batcher(model, max_batch_tokens=0)

    async def main():
        return await asyncio.gather(*(ask(batcher, [f"s {i}"]) for i in range(6)))

    asyncio.run(main())
    batcher.close()
    assert len(model.calls) == 6 and all(len(lines) == 1 for lines, _ in model.calls)


def test_only_requests_with_the_same_options_share_a_batch():
    model = RecordingModel()
    batcher = Batcher(model, max_batch_tokens=1000, max_wait_ms=30)

    async def main():
        return await asyncio.gather(ask(batcher, ["a"], SearchOptions(beam=5)),
                                    ask(batcher, ["b"], SearchOptions(beam=2)),
                                    ask(batcher, ["c"], SearchOptions(beam=5)))

    asyncio.run(main())
    batcher.close()
    beam_of = {"a": 5, "b": 2, "c": 5}
    assert sorted(line for lines, _ in model.calls for line in lines) == ["a", "b", "c"]
    for lines, options in model.calls:
        assert all(beam_of[line] == options["beam"] for line in lines)


def test_the_token_budget_bounds_a_batch():
    model = RecordingModel()
    batcher = Batcher(model, max_batch_tokens=6, max_wait_ms=30)  # 2 words + eos = 3 per request

    async def main():
        return await asyncio.gather(*(ask(batcher, [f"w{i} x"]) for i in range(6)))

    asyncio.run(main())
    batcher.close()
    assert all(len(lines) <= 2 for lines, _ in model.calls)


def test_a_full_queue_refuses_at_once_and_a_closed_batcher_takes_nothing():
    model = RecordingModel()
    model.gate.clear()  # the worker blocks inside its first batch
    batcher = Batcher(model, max_batch_tokens=0, max_queue=2)

    async def main():
        first = asyncio.ensure_future(ask(batcher, ["first"]))
        await asyncio.sleep(0.1)  # the worker took it and is blocked
        queued = [asyncio.ensure_future(ask(batcher, [f"q{i}"])) for i in range(2)]
        await asyncio.sleep(0.05)
        with pytest.raises(QueueFull):
            await ask(batcher, ["one too many"])
        model.gate.set()
        return await first, await asyncio.gather(*queued)

    (first, _), rest = asyncio.run(main())
    assert first == ["FIRST"] and [r[0] for r in rest] == [["Q0"], ["Q1"]]
    batcher.close()

    async def late():
        await ask(batcher, ["late"])

    with pytest.raises(Closed):
        asyncio.run(late())


def test_a_request_that_gave_up_is_not_translated():
    model = RecordingModel(delay=0.2)
    batcher = Batcher(model, max_batch_tokens=0)

    async def main():
        busy = asyncio.ensure_future(ask(batcher, ["busy"]))
        await asyncio.sleep(0.05)
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(ask(batcher, ["abandoned"]), 0.05)
        await busy

    asyncio.run(main())
    batcher.close()
    assert ["abandoned"] not in [lines for lines, _ in model.calls]


def test_a_failing_model_fails_only_its_batch():
    class Failing(RecordingModel):
        def translate_nbest(self, lines, **options):
            if "boom" in lines:
                raise RuntimeError("boom")
            return super().translate_nbest(lines, **options)

    batcher = Batcher(Failing(delay=0), max_batch_tokens=0)

    async def main():
        with pytest.raises(RuntimeError):
            await ask(batcher, ["boom"])
        return await ask(batcher, ["fine"])

    assert asyncio.run(main())[0] == ["FINE"]
    batcher.close()


class CountingStream:
    """A stand-in for ``nmt.Model.continuous()``: a line takes one step per word; each step
    records how many lines it carried."""

    def __init__(self):
        self.running: dict = {}
        self.steps: list[int] = []

    def __len__(self):
        return len(self.running)

    def add(self, lines, tags):
        for line, tag in zip(lines, tags):
            if line.strip():
                self.running[tag] = [line, len(line.split())]
        return [(tag, []) for line, tag in zip(lines, tags) if not line.strip()]

    def step(self):
        self.steps.append(len(self.running))
        time.sleep(0.005)
        finished = []
        for tag, entry in list(self.running.items()):
            entry[1] -= 1
            if entry[1] == 0:
                del self.running[tag]
                finished.append((tag, [Echo(entry[0].upper())]))
        return finished


class StreamingModel(RecordingModel):
    def __init__(self):
        super().__init__(delay=0.01)
        self.streams: list[CountingStream] = []

    def continuous(self, **options):
        self.streams.append(CountingStream())
        return self.streams[-1]


def test_requests_join_a_running_search_and_leave_it_when_done():
    model = StreamingModel()
    batcher = Batcher(model, max_batch_tokens=1000, max_wait_ms=0)
    long_line = " ".join(["word"] * 40)

    async def main():
        long = asyncio.ensure_future(batcher.translate([long_line, ""], DEFAULT))
        await asyncio.sleep(0.05)  # the long line is some steps in
        short = await asyncio.gather(*(ask(batcher, [f"short {i}"]) for i in range(4)))
        assert not long.done()  # the short requests were answered while it ran on
        return await long, short

    (long_found, _), short = asyncio.run(main())
    batcher.close()
    assert long_found[0][0].text == long_line.upper() and long_found[1] == []  # empty in, empty out
    assert [a for a, _ in short] == [[f"SHORT {i}"] for i in range(4)]
    assert model.calls == []  # nothing went the whole-batch way
    assert len(model.streams) == 1 and max(model.streams[0].steps) >= 5  # they shared steps


def test_a_request_with_a_prefix_or_other_options_waits_for_a_whole_batch():
    model = StreamingModel()
    batcher = Batcher(model, max_batch_tokens=1000, max_wait_ms=0)

    async def main():
        running = asyncio.ensure_future(ask(batcher, ["a b c d e f g h"]))
        await asyncio.sleep(0.01)
        prefixed = await batcher.translate(["x y"], DEFAULT, ["X"])
        other = await ask(batcher, ["p q"], SearchOptions(beam=2))
        return await running, prefixed, other

    running, prefixed, other = asyncio.run(main())
    batcher.close()
    assert running[0] == ["A B C D E F G H"] and other[0] == ["P Q"]
    assert [lines for lines, _ in model.calls] == [["x y"]]  # the prefix went whole
    assert len(model.streams) == 2  # default options, then beam 2: a search per options
