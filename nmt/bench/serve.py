"""`nmt bench serve`: a bounded load test of `nmt serve` on loopback, next to offline translation.

N clients (threads, one keep-alive HTTP connection each) send M requests each, one test sentence
per request, to ``POST /translate``; each waits for its answer before sending the next. Reported:
sentences/s over the whole run and while every client was still sending (until the first one had
sent its M: after that ever fewer clients keep the server busy), p50/p95/p99 latency, the batch
sizes the server formed and the share of the run its model spent translating (from its
``/metrics``), and the CPU seconds the server and the load generator used (the two share this
machine's cores). Without ``--url`` the benchmark starts the servers itself, one after the other
on the same checkpoint and sentences: with dynamic batching, and with batching off
(``--max-batch-tokens 0``); and it times offline translation of the same sentences through
:func:`nmt.load` (what `nmt translate` does), so the ratios come from one run on one machine: in
batches of 128, and in the batches the server forms when every client's request waits in its
queue (``clients`` sentences, one per client), the server's ceiling.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.parse

from nmt.errors import NmtError


def load_test(url: str, source: str, target: str, lines: list[str], clients: int,
              requests: int, answers: list[str] | None = None) -> dict:
    """Run the load against ``url``; every request must succeed. ``answers`` (as long as
    ``lines``) receives the translation of each line sent, in input order."""
    parsed = urllib.parse.urlsplit(url)
    latencies: list[float] = []
    answered: list[float] = []  # when each answer arrived
    finished: list[float] = []  # when each client had its last answer
    failures: list[str] = []
    lock = threading.Lock()

    def client(c: int) -> None:
        conn = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=300)
        for r in range(requests):
            body = json.dumps({"q": lines[(c * requests + r) % len(lines)], "source": source,
                               "target": target})
            started = time.perf_counter()
            conn.request("POST", "/translate", body, {"Content-Type": "application/json"})
            response = conn.getresponse()
            payload = response.read()
            with lock:
                answered.append(time.perf_counter())
                latencies.append(answered[-1] - started)
                if response.status != 200:
                    failures.append(f"{response.status} {payload[:200]!r}")
                elif answers is not None:
                    answers[(c * requests + r) % len(lines)] = json.loads(payload)["translatedText"]
        conn.close()
        with lock:
            finished.append(time.perf_counter())

    before = batch_stats(url)
    threads = [threading.Thread(target=client, args=(c,)) for c in range(clients)]
    started, cpu_started = time.perf_counter(), time.process_time()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - started
    client_cpu = time.process_time() - cpu_started
    if failures:
        raise NmtError(f"{len(failures)} of {clients * requests} requests failed, e.g. {failures[0]}")
    after = batch_stats(url)
    batches = after["batches"] - before["batches"]
    quantiles = statistics.quantiles(latencies, n=100)
    first_done = min(finished)  # until then every client was sending
    all_active = first_done - started
    return {
        "clients": clients, "requests": clients * requests, "seconds": round(wall, 2),
        "sentences_per_s": round(clients * requests / wall, 1),
        "while_all_clients_active": {
            "seconds": round(all_active, 2),
            "sentences_per_s": round(sum(t <= first_done for t in answered) / all_active, 1)},
        "latency_ms": {"p50": round(1000 * quantiles[49], 1), "p95": round(1000 * quantiles[94], 1),
                       "p99": round(1000 * quantiles[98], 1)},
        "batches": batches,
        "mean_batch_sentences": round((after["sentences"] - before["sentences"]) / max(1, batches), 2),
        # the share of the run the model spent translating batches (the rest: waiting for requests)
        "model_busy": round((after["seconds"] - before["seconds"]) / wall, 3),
        # CPU seconds used during the run: the whole server process, and this load generator
        "cpu_seconds": {"server": _difference(before["cpu"], after["cpu"]),
                        "load_generator": round(client_cpu, 3)},
    }


def _difference(before: float | None, after: float | None) -> float | None:
    return None if before is None or after is None else round(after - before, 3)


_METRIC = re.compile(r"^nmt_batch_(sentences|seconds)_(sum|count)\{[^}]*\} ([0-9.e+-]+)$", re.M)
_CPU = re.compile(r"^process_cpu_seconds_total ([0-9.e+-]+)$", re.M)


def batch_stats(url: str) -> dict:
    """Batches, sentences and seconds spent translating so far, summed over the server's models,
    and the server process's CPU seconds (from /metrics; None when it does not export them)."""
    text = get(url, "/metrics")[1].decode()
    totals: dict[tuple[str, str], float] = {}
    for name, kind, value in _METRIC.findall(text):
        totals[name, kind] = totals.get((name, kind), 0.0) + float(value)
    cpu = _CPU.search(text)
    return {"batches": int(totals.get(("sentences", "count"), 0)),
            "sentences": int(totals.get(("sentences", "sum"), 0)),
            "seconds": totals.get(("seconds", "sum"), 0.0),
            "cpu": float(cpu.group(1)) if cpu else None}


def first_pair(url: str) -> tuple[str, str]:
    """The language pair of the server's first model (GET /v1/models)."""
    model = json.loads(get(url, "/v1/models")[1])["models"][0]
    return model["source"], model["target"]


def get(url: str, path: str, timeout: float = 30) -> tuple[int, bytes]:
    """``GET url + path``: the status and the body."""
    parsed = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=timeout)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServerProcess:
    """`nmt serve` in a subprocess on a free loopback port, stopped with SIGTERM on exit."""

    def __init__(self, checkpoint: str, options: list[str]):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.args = [sys.executable, "-m", "nmt", "serve", "--checkpoint", checkpoint,
                     "--port", str(self.port), *options]

    def __enter__(self) -> ServerProcess:
        self.proc = subprocess.Popen(self.args, stderr=subprocess.PIPE, text=True,
                                     env=dict(os.environ, PYTHONUNBUFFERED="1"))
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise NmtError(f"nmt serve exited: {self.proc.stderr.read().strip()[-300:]}")
            try:
                if get(self.url, "/health", timeout=5)[0] == 200:
                    return self
            except OSError:
                time.sleep(0.2)
        raise NmtError("nmt serve did not answer /health within 300 s")

    def __exit__(self, *exc) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=120)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def offline(checkpoint: str, lines: list[str], precision: str, threads: int | None,
            clients: int, requests: int) -> dict:
    """Sentences/s of translating ``lines`` through nmt.load (the median of 3): in batches of 128,
    and in the server's full batches, one call per round of requests: round ``r`` holds line
    ``c · requests + r`` of every client ``c``, as :func:`load_test` sends them."""
    import nmt

    model = nmt.load(checkpoint, precision=precision, threads=threads)
    model.translate(lines[:16])  # warm-up
    rounds = [[lines[(c * requests + r) % len(lines)] for c in range(clients)]
              for r in range(requests)]

    def in_batches_of_128() -> None:
        model.translate(lines, batch_size=128)

    def in_server_batches() -> None:
        for batch in rounds:
            model.translate(batch)

    return {"sentences": len(lines),
            "sentences_per_s": _median_rate(in_batches_of_128, len(lines)),
            "server_batches": {"sentences_per_batch": clients,
                               "sentences_per_s": _median_rate(in_server_batches,
                                                               clients * requests)}}


def _median_rate(run, sentences: int, repeats: int = 3) -> float:
    """Sentences/s of ``run()`` (which translates ``sentences``), the median of ``repeats``."""
    rates = []
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        rates.append(sentences / (time.perf_counter() - started))
    return round(statistics.median(rates), 1)
