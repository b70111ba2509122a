"""The HTTP API on a real (tiny) model through Starlette's test client: LibreTranslate's endpoints
answer what `nmt translate` answers, the native endpoint carries scores and attention, and every
bad request gets its status and an {"error": ...} while the next good request still works."""

import json

import pytest
from starlette.testclient import TestClient

import nmt
from nmt.cli.main import main
from nmt.serve.app import create_app
from nmt.serve.metrics import Metrics
from nmt.serve.models import serve_models
from nmt.serve.requests import Limits

LINES = ["A dog runs in the snow.", "Two men are sitting on a bench.", "A girl plays.",
         "A man is walking past a large sign that says E.S.E. Electronics."]  # one sentence


@pytest.fixture(scope="module")
def model(imported_tiny1):
    return nmt.load(imported_tiny1, threads=1)


@pytest.fixture(scope="module")
def client(imported_tiny1, model):
    metrics = Metrics()
    served = serve_models([(imported_tiny1, model)], max_batch_tokens=2048, max_wait_ms=5,
                          metrics=metrics)
    limits = Limits(max_chars=2000, max_line_chars=300, max_body_bytes=10_000)
    with TestClient(create_app(served, limits, metrics)) as c:
        yield c


@pytest.fixture(scope="module")
def pair(model):
    return {"source": model.source_lang, "target": model.target_lang}


@pytest.fixture(scope="module")
def cli_translations(imported_tiny1, tmp_path_factory):
    """What `nmt translate` (beam 5) says for LINES."""
    tmp = tmp_path_factory.mktemp("cli")
    (tmp / "in.txt").write_text("\n".join(LINES) + "\n")
    assert main(["translate", "--checkpoint", str(imported_tiny1), "--input", str(tmp / "in.txt"),
                 "--output", str(tmp / "out.txt")]) == 0
    return (tmp / "out.txt").read_text().splitlines()


def test_translate_answers_what_nmt_translate_answers(client, pair, cli_translations):
    for line, expected in zip(LINES, cli_translations):
        r = client.post("/translate", json={"q": line, **pair})
        assert r.status_code == 200 and r.json() == {"translatedText": expected}
    r = client.post("/translate", json={"q": LINES, **pair})
    assert r.json()["translatedText"] == cli_translations


def test_a_form_post_and_alternatives(client, pair, cli_translations):
    r = client.post("/translate", data={"q": LINES[0], **pair, "alternatives": "2"})
    body = r.json()
    assert r.status_code == 200 and body["translatedText"] == cli_translations[0]
    assert len(body["alternatives"]) == 2 and all(isinstance(a, str) for a in body["alternatives"])
    r = client.post("/translate", json={"q": LINES[:2], **pair, "alternatives": 1})
    assert [len(a) for a in r.json()["alternatives"]] == [1, 1]


def test_a_paragraph_is_translated_sentence_by_sentence(client, pair, cli_translations):
    r = client.post("/translate", json={"q": f"{LINES[0]}  {LINES[1]}\n{LINES[2]}", **pair})
    t = cli_translations
    assert r.json()["translatedText"] == f"{t[0]}  {t[1]}\n{t[2]}"


def test_languages(client, pair):
    langs = client.get("/languages").json()
    assert langs == [{"code": pair["source"], "name": langs[0]["name"], "targets": [pair["target"]]}]


def test_native_translate_has_scores_attention_and_timing(client, pair):
    r = client.post("/v1/translate", json={"q": LINES[0], **pair, "beam": 4, "nbest": 3,
                                           "attention": True, "alignment": True})
    body = r.json()
    assert r.status_code == 200 and body["options"]["beam"] == 4
    hyps = body["translations"]["sentences"][0]["hypotheses"]
    assert len(hyps) == 3 and hyps[0]["score"] >= hyps[1]["score"]
    best = hyps[0]
    assert body["translations"]["text"] == best["text"]
    assert len(best["attention"]) == len(best["pieces"]) + 1  # + </s>
    assert all(len(row) == len(best["source_pieces"]) for row in best["attention"])
    assert len(best["alignment"]) == len(best["pieces"])
    assert set(body["timing"]) == {"queue_ms", "translate_ms", "batch_sentences", "total_ms"}


def test_the_search_keeps_attention_only_for_answers_that_show_it(client, pair):
    plain = client.post("/v1/translate", json={"q": LINES[0], **pair}).json()
    shown = client.post("/v1/translate", json={"q": LINES[0], **pair, "alignment": True}).json()
    assert plain["options"]["attention"] is False and shown["options"]["attention"] is True
    assert "attention" not in plain["translations"]["sentences"][0]["hypotheses"][0]
    assert shown["translations"]["sentences"][0]["hypotheses"][0]["alignment"]
    assert plain["translations"]["text"] == shown["translations"]["text"]


def test_native_translate_starts_each_text_with_its_prefix(client, pair, model):
    r = client.post("/v1/translate", json={"q": LINES[:2], **pair, "prefix": ["Ein Hund", ""]})
    texts = [t["text"] for t in r.json()["translations"]]
    assert r.status_code == 200 and texts[0].startswith("Ein Hund ")
    assert texts == model.translate(LINES[:2], prefix=["Ein Hund", ""])
    paragraph = f"{LINES[0]} {LINES[1]}"
    r = client.post("/v1/translate", json={"q": paragraph, **pair, "prefix": "Zwei"})
    first, second = r.json()["translations"]["sentences"]
    assert first["hypotheses"][0]["text"].startswith("Zwei ")
    assert second["hypotheses"][0]["text"] == model.translate(LINES[1])  # only the first sentence
    for bad in (["a"], 3, "a\nb"):
        r = client.post("/v1/translate", json={"q": LINES[:2] if bad == ["a"] else LINES[0],
                                               **pair, "prefix": bad})
        assert r.status_code == 400 and "prefix" in r.json()["error"]


def test_models_health_metrics_and_page(client, pair, model):
    info = client.get("/v1/models").json()["models"][0]
    assert (info["source"], info["target"]) == (pair["source"], pair["target"])
    assert info["parameters"] == model.num_parameters and info["family"] == "convs2s"
    assert client.get("/health").json()["status"] == "ok"
    text = client.get("/metrics").text
    assert "nmt_requests_total" in text and "nmt_batch_sentences_bucket" in text
    page = client.get("/")
    assert page.status_code == 200 and "<canvas id=\"heatmap\"" in page.text


BAD = {
    "malformed JSON": (dict(content=b"{not json", headers={"Content-Type": "application/json"}), 400),
    "not UTF-8": (dict(content=b'{"q": "\xff"}', headers={"Content-Type": "application/json"}), 400),
    "JSON not an object": (dict(json=["q"]), 400),
    "missing q": (dict(json={"source": "S", "target": "T"}), 400),
    "empty q": (dict(json={"q": "", "source": "S", "target": "T"}), 400),
    "q of the wrong type": (dict(json={"q": 5, "source": "S", "target": "T"}), 400),
    "q list with a number": (dict(json={"q": ["a", 1], "source": "S", "target": "T"}), 400),
    "unknown pair": (dict(json={"q": "a", "source": "xx", "target": "yy"}), 400),
    "missing target": (dict(json={"q": "a", "source": "S"}), 400),
    "format html": (dict(json={"q": "a", "source": "S", "target": "T", "format": "html"}), 400),
    "alternatives not a number": (dict(json={"q": "a", "source": "S", "target": "T",
                                             "alternatives": "x", "nbest": "x"}), 400),
    "beam 0": (dict(json={"q": "a", "source": "S", "target": "T", "beam": 0}), 400),
    "too many characters": (dict(json={"q": ["word " * 50] * 10, "source": "S", "target": "T"}), 413),
    "a line too long": (dict(json={"q": "x" * 400, "source": "S", "target": "T"}), 413),
    "a body too large": (dict(json={"q": "y" * 20_000, "source": "S", "target": "T"}), 413),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_requests_get_their_status_and_the_server_keeps_serving(client, pair, case):
    kwargs, status = BAD[case]
    if "json" in kwargs and isinstance(kwargs["json"], dict):
        fill = {"S": pair["source"], "T": pair["target"]}
        kwargs = dict(json={k: fill.get(v, v) if isinstance(v, str) else v
                            for k, v in kwargs["json"].items()})
    for endpoint in ("/translate", "/v1/translate"):
        r = client.post(endpoint, **kwargs)
        assert r.status_code == status, (endpoint, r.text)
        assert set(r.json()) == {"error"} and r.json()["error"]
        assert client.post("/translate", json={"q": "A dog.", **pair}).status_code == 200


def test_unknown_routes_and_methods_are_json_errors(client):
    r = client.get("/no/such/thing")
    assert r.status_code == 404 and "error" in r.json()
    r = client.get("/translate")
    assert r.status_code == 405 and "error" in r.json()


def _fail(*args, **kwargs):
    raise RuntimeError("x")


def test_a_model_failure_is_a_500_and_the_next_request_works(client, pair, model, monkeypatch):
    from nmt.serve.batcher import Batcher

    with monkeypatch.context() as m:  # whole batches (no continuous search)
        m.setattr(Batcher, "_start_stream", lambda self, options: False)
        m.setattr(model, "translate_nbest", _fail)
        r = client.post("/translate", json={"q": "A dog.", **pair})
        assert r.status_code == 500 and "error" in r.json()
    assert client.post("/translate", json={"q": "A dog.", **pair}).status_code == 200


def test_a_failure_in_a_continuous_search_is_a_500_and_the_next_request_works(client, pair,
                                                                               monkeypatch):
    from nmt.translation import ContinuousTranslator

    with monkeypatch.context() as m:
        m.setattr(ContinuousTranslator, "step", _fail)
        r = client.post("/translate", json={"q": "A dog.", **pair})
        assert r.status_code == 500 and "error" in r.json()
    assert client.post("/translate", json={"q": "A dog.", **pair}).status_code == 200


def test_error_bodies_are_json_with_one_key(client):
    r = client.post("/translate", content=b"q=", headers={"Content-Type": "text/plain"})
    assert r.status_code == 400 and json.loads(r.text).keys() == {"error"}
