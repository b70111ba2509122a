"""The server's Prometheus metrics (``GET /metrics``), kept by prometheus_client in a registry of
the app's own (two apps in one process, as in the tests, do not share counts), with the standard
process metrics (``process_cpu_seconds_total``, memory, open files) of any Prometheus exporter."""

from __future__ import annotations

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.exposition import CONTENT_TYPE_LATEST

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)


class Metrics:
    """Requests, sentences, tokens, batch sizes, queue length and latency."""

    content_type = CONTENT_TYPE_LATEST

    def __init__(self):
        self.registry = r = CollectorRegistry()
        ProcessCollector(registry=r)
        self.requests = Counter("nmt_requests", "HTTP requests answered", ["endpoint", "status"],
                                registry=r)
        self.latency = Histogram("nmt_request_latency_seconds", "time to answer a request",
                                 ["endpoint"], buckets=LATENCY_BUCKETS, registry=r)
        self.sentences = Counter("nmt_sentences", "sentences translated", ["model"], registry=r)
        self.tokens = Counter("nmt_source_tokens", "source words translated (white-space split)",
                              ["model"], registry=r)
        self.batch_sentences = Histogram("nmt_batch_sentences", "sentences per translated batch "
                                         "(continuous batching: per decoder step)",
                                         ["model"], buckets=BATCH_BUCKETS, registry=r)
        self.batch_seconds = Histogram("nmt_batch_seconds", "time to translate one batch "
                                       "(continuous batching: one decoder step)",
                                       ["model"], buckets=LATENCY_BUCKETS, registry=r)
        self.queue_length = Gauge("nmt_queue_length", "requests waiting for a batch", ["model"],
                                  registry=r)

    def observe_batch(self, model: str, sentences: int, tokens: int, seconds: float) -> None:
        """A batch translated whole."""
        self.count_translated(model, sentences, tokens)
        self.observe_step(model, sentences, seconds)

    def observe_step(self, model: str, sentences: int, seconds: float) -> None:
        """A batch's work: a whole batch, or one decoder step of a continuous search (then the
        batch size is the sentences in that step)."""
        self.batch_sentences.labels(model).observe(sentences)
        self.batch_seconds.labels(model).observe(seconds)

    def count_translated(self, model: str, sentences: int, tokens: int) -> None:
        self.sentences.labels(model).inc(sentences)
        self.tokens.labels(model).inc(tokens)

    def observe_request(self, endpoint: str, status: int, seconds: float) -> None:
        self.requests.labels(endpoint, str(status)).inc()
        self.latency.labels(endpoint).observe(seconds)

    def text(self) -> bytes:
        return generate_latest(self.registry)
