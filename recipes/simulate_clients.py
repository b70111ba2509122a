"""The server's translation work without its HTTP side: N simulated clients on one continuous search.

    python recipes/simulate_clients.py --checkpoint CKPT --input work/multi30k_en_de/test.en \
        [--clients 16] [--requests 40] [--threads 2] [--repeats 2] [--whole]

Each client sends its next line the moment its previous one is translated (what `nmt bench serve`'s
clients do, minus the HTTP round trip), through ``nmt.Model.continuous`` as `nmt serve` uses it;
client ``c`` sends lines ``c·requests …``. Prints sentences/s per repeat, and where the time went:
joining (text processing and encoding the new lines) and stepping the search, per sentence.
``--whole`` times instead the whole batches a batching server forms when every client's request
waits in its queue (one ``translate`` call per round, as `nmt bench serve` times them offline).
"""

from __future__ import annotations

import argparse
import itertools
import time

import nmt
from nmt.data.text import read_lines
from nmt.errors import NmtError


def run_clients(model, lines: list[str], clients: int, requests: int) -> dict:
    """Translate every client's lines, each joining the search when its client's last is done."""
    stream = model.continuous()
    sent = dict.fromkeys(range(clients), 0)
    seconds = {"join": 0.0, "step": 0.0}

    def join(cs: list[int]) -> list:
        started = time.perf_counter()
        tags = [(c, sent[c]) for c in cs]
        done = stream.add([lines[c * requests + r] for c, r in tags], tags)  # empty lines: at once
        for c in cs:
            sent[c] += 1
        seconds["join"] += time.perf_counter() - started
        return done

    finished = join(list(range(clients)))
    while len(stream) or finished:
        started = time.perf_counter()
        finished += stream.step() if len(stream) else []
        seconds["step"] += time.perf_counter() - started
        finished = join([c for (c, _), _ in finished if sent[c] < requests])
    return seconds


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--input", required=True)
    p.add_argument("--clients", type=int, default=16)
    p.add_argument("--requests", type=int, default=40)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--whole", action="store_true", help="the whole batches a batching server forms")
    args = p.parse_args()
    if min(args.clients, args.requests, args.repeats) < 1:
        raise SystemExit("simulate_clients: --clients, --requests and --repeats must be >= 1")
    total = args.clients * args.requests
    try:
        lines = list(itertools.islice(read_lines(args.input), total))
        if len(lines) < total:
            raise NmtError(f"{args.input} has {len(lines)} lines; {total} are needed")
        model = nmt.load(args.checkpoint, threads=args.threads)
    except NmtError as e:
        raise SystemExit(f"simulate_clients: {e}") from None
    model.translate(lines[:16])  # warm-up
    for _ in range(args.repeats):
        started = time.perf_counter()
        if args.whole:
            for r in range(args.requests):
                model.translate([lines[c * args.requests + r] for c in range(args.clients)])
            parts = ""
        else:
            seconds = run_clients(model, lines, args.clients, args.requests)
            parts = ", ".join(f"{k} {1000 * v / total:.2f} ms" for k, v in seconds.items())
        rate = total / (time.perf_counter() - started)
        print(f"{'whole batches' if args.whole else 'continuous'}: {rate:.1f} sentences/s"
              + (f" ({parts} per sentence)" if parts else ""), flush=True)


if __name__ == "__main__":
    main()
