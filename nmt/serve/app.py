"""The HTTP application of `nmt serve` (Starlette, run by uvicorn).

LibreTranslate's API, so its clients work unchanged:

- ``POST /translate`` (JSON or form): ``q`` a string or a list of strings, ``source``, ``target``,
  ``format`` ("text"), ``alternatives`` N -> ``{"translatedText": ..., "alternatives": [...]}``;
- ``GET /languages`` -> ``[{"code", "name", "targets"}]``.

The native API, with every search option and what the model looked at:

- ``POST /v1/translate``: ``q``, ``source``, ``target``, ``beam``, ``nbest``, ``lenpen``,
  ``max_len_a``, ``max_len_b``, ``attention``, ``alignment``, ``prefix`` (where each item's
  translation starts: its first sentence's target prefix) -> per item of ``q`` its text and, per
  sentence, the n-best hypotheses (text, score, pieces, source pieces, per-piece scores, and on
  request the attention matrix and the alignment), plus the request's timing;
- ``GET /v1/models``, ``GET /health``, ``GET /metrics`` (Prometheus text), ``GET /`` (the page).

Texts are split into sentences (:mod:`nmt.serve.sentences`) and every sentence of a request goes
to the model's batcher as one job. Errors are ``{"error": "..."}`` with status 400 (bad request),
404 (no such endpoint), 405, 413 (too large), 429 (queue full), 503 (timed out or shutting down)
or 500 (the model failed).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import asdict
from importlib import resources

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from nmt.serve.batcher import Closed, QueueFull, SearchOptions
from nmt.serve.metrics import Metrics
from nmt.serve.models import ServedModel, language_name
from nmt.serve.requests import (
    ApiError,
    Limits,
    flag,
    integer,
    language,
    number,
    prefixes,
    read_params,
    texts,
)
from nmt.serve.sentences import join_sentences, split_sentences


class Service:
    """The served models, the limits and the metrics that every handler shares."""

    def __init__(self, served: dict[tuple[str, str], ServedModel], limits: Limits,
                 metrics: Metrics):
        self.served, self.limits, self.metrics = served, limits, metrics

    def model_for(self, params: dict) -> ServedModel:
        source, target = language(params, "source"), language(params, "target")
        if source == "auto":
            sources = {s for s, _ in self.served}
            if len(sources) != 1:
                raise ApiError(400, "source auto-detection is not supported; give source")
            source = sources.pop()
        served = self.served.get((source, target))
        if served is None:
            pairs = ", ".join(f"{s}->{t}" for s, t in self.served)
            raise ApiError(400, f"{source}->{target} is not supported (served: {pairs})")
        return served

    async def translate(self, served: ServedModel, items: list[str], options: SearchOptions,
                        item_prefixes: list[str] | None = None):
        """Per item of ``q``: (its sentences, their n-best lists, the separators), and the job's
        timing. An item's prefix is its first sentence's."""
        split = [split_sentences(item, served.pair[0]) for item in items]
        lines = [s for sentences, _ in split for s in sentences]
        line_prefixes = None
        if item_prefixes is not None:
            line_prefixes = [prefix if i == 0 else ""
                             for (sentences, _), prefix in zip(split, item_prefixes)
                             for i in range(len(sentences))]
        try:
            found, timing = await asyncio.wait_for(
                served.batcher.translate(lines, options, line_prefixes), self.limits.timeout)
        except QueueFull:
            raise ApiError(429, "too many requests are waiting; try again shortly") from None
        except Closed:
            raise ApiError(503, "the server is shutting down") from None
        except asyncio.TimeoutError:
            raise ApiError(503, f"no answer within {self.limits.timeout:g} s; try again") from None
        per_item, start = [], 0
        for sentences, separators in split:
            per_item.append((sentences, found[start: start + len(sentences)], separators))
            start += len(sentences)
        return per_item, timing


def _options(params: dict, limits: Limits, nbest: int, attention: bool = False) -> SearchOptions:
    """The search options of a request; ``attention`` when its answer shows attention or
    alignments (a search without them is faster)."""
    fmt = params.get("format", "text")
    if fmt != "text":
        raise ApiError(400, f"format {str(fmt)[:20]!r} is not supported; use 'text'")
    beam = integer(params, "beam", max(5, nbest), 1, limits.max_beam)
    if nbest > beam:
        raise ApiError(400, f"Invalid request: nbest ({nbest}) cannot exceed beam ({beam})")
    return SearchOptions(beam=beam, nbest=nbest,
                         lenpen=number(params, "lenpen", 1.0, 0.0, 10.0),
                         max_len_a=number(params, "max_len_a", 0.0, 0.0, 10.0),
                         max_len_b=integer(params, "max_len_b", 200, 1, 1000),
                         attention=attention)


def _kth(found: list, k: int) -> list[str]:
    """The k-th hypothesis of each sentence (its best when it has fewer; '' for an empty one)."""
    return [(hyps[k] if k < len(hyps) else hyps[0]).text if hyps else "" for hyps in found]


# -- LibreTranslate's endpoints --------------------------------------------------------------------

async def lt_translate(service: Service, request: Request) -> Response:
    params = await read_params(request, service.limits)
    items, as_list = texts(params, service.limits)
    alternatives = integer(params, "alternatives", 0, 0, service.limits.max_nbest - 1)
    served = service.model_for(params)
    options = _options(params, service.limits, alternatives + 1)
    per_item, _ = await service.translate(served, items, options)
    best = [join_sentences(_kth(found, 0), seps) for _, found, seps in per_item]
    answer: dict = {"translatedText": best if as_list else best[0]}
    if alternatives:
        alts = [[join_sentences(_kth(found, k), seps) for k in range(1, alternatives + 1)]
                for _, found, seps in per_item]
        answer["alternatives"] = alts if as_list else alts[0]
    if params.get("source") == "auto":
        answer["detectedLanguage"] = {"language": served.pair[0], "confidence": 100.0}
    return JSONResponse(answer)


async def lt_languages(service: Service, request: Request) -> Response:
    targets: dict[str, list[str]] = {}
    for source, target in service.served:
        targets.setdefault(source, []).append(target)
    return JSONResponse([{"code": code, "name": language_name(code), "targets": sorted(t)}
                         for code, t in sorted(targets.items())])


# -- the native endpoints ----------------------------------------------------------------------------

def _hypothesis(t, attention: bool, alignment: bool) -> dict:
    out = {"text": t.text, "score": round(t.score, 4), "pieces": t.pieces,
           "source_pieces": t.source_pieces,
           "positional_scores": [round(s, 4) for s in t.positional_scores]}
    if attention and t.attention is not None:
        out["attention"] = [[round(v, 4) for v in row] for row in t.attention.tolist()]
    if alignment:
        out["alignment"] = [list(pair) for pair in t.alignment]
    return out


async def v1_translate(service: Service, request: Request) -> Response:
    arrived = time.monotonic()
    params = await read_params(request, service.limits)
    items, as_list = texts(params, service.limits)
    served = service.model_for(params)
    want_attention, want_alignment = flag(params, "attention"), flag(params, "alignment")
    options = _options(params, service.limits, integer(params, "nbest", 1, 1, service.limits.max_nbest),
                       want_attention or want_alignment)
    per_item, timing = await service.translate(served, items, options,
                                               prefixes(params, items, as_list, service.limits))
    results = []
    for sentences, found, seps in per_item:
        results.append({
            "text": join_sentences(_kth(found, 0), seps),
            "sentences": [{"source": s, "hypotheses": [_hypothesis(t, want_attention, want_alignment)
                                                       for t in hyps]}
                          for s, hyps in zip(sentences, found)],
        })
    return JSONResponse({
        "model": served.batcher.name, "source": served.pair[0], "target": served.pair[1],
        "options": asdict(options),
        "translations": results if as_list else results[0],
        "timing": {"queue_ms": round(timing.queue_ms, 1), "translate_ms": round(timing.translate_ms, 1),
                   "batch_sentences": timing.batch_sentences,
                   "total_ms": round(1000 * (time.monotonic() - arrived), 1)},
    })


async def v1_models(service: Service, request: Request) -> Response:
    return JSONResponse({"models": [s.describe() for s in service.served.values()]})


async def health(service: Service, request: Request) -> Response:
    alive = all(s.batcher.thread.is_alive() for s in service.served.values())
    return JSONResponse({"status": "ok" if alive else "failing", "models": len(service.served)},
                        status_code=200 if alive else 503)


async def prometheus(service: Service, request: Request) -> Response:
    return Response(service.metrics.text(), media_type=service.metrics.content_type)


async def page(service: Service, request: Request) -> Response:
    return HTMLResponse(resources.files("nmt.serve").joinpath("page.html").read_text("utf-8"))


# -- the application ---------------------------------------------------------------------------------

def _endpoint(service: Service, name: str, handler):
    """A route handler that answers ApiErrors as JSON, an unexpected failure as a 500, and
    counts and times every request."""
    async def answer(request: Request) -> Response:
        started = time.monotonic()
        try:
            response = await handler(service, request)
        except ApiError as e:
            response = JSONResponse({"error": e.message}, status_code=e.status)
        except Exception as e:  # the model or a bug: the server keeps serving
            response = JSONResponse({"error": f"translation failed: {type(e).__name__}: {e}"},
                                    status_code=500)
        service.metrics.observe_request(name, response.status_code, time.monotonic() - started)
        return response
    return answer


async def _http_error(request: Request, exc: HTTPException) -> Response:
    return JSONResponse({"error": exc.detail}, status_code=exc.status_code)


ROUTES = [("/", page, "GET"), ("/translate", lt_translate, "POST"),
          ("/languages", lt_languages, "GET"), ("/v1/translate", v1_translate, "POST"),
          ("/v1/models", v1_models, "GET"), ("/health", health, "GET"),
          ("/metrics", prometheus, "GET")]


def create_app(served: dict[tuple[str, str], ServedModel], limits: Limits | None = None,
               metrics: Metrics | None = None) -> Starlette:
    """The application over ``served`` models (give it the Metrics their batchers count into);
    closing it (uvicorn's shutdown) lets each batcher finish its queue."""
    service = Service(served, limits or Limits(), metrics or Metrics())

    @contextlib.asynccontextmanager
    async def lifespan(app):
        yield
        for s in served.values():
            await asyncio.to_thread(s.batcher.close)

    routes = [Route(path, _endpoint(service, path.strip("/") or "page", handler), methods=[method])
              for path, handler, method in ROUTES]
    app = Starlette(routes=routes, exception_handlers={HTTPException: _http_error},
                    lifespan=lifespan)
    app.state.service = service
    return app
