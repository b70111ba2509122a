"""`--streams N` (nmt translate, bench, nmt.load, nmt serve): batches searched side by side in worker processes give the same
translations, scores and alignments as one process; a stream that dies is a one-line error."""

import json
import os
from functools import partial

import pytest

from nmt.cli.main import main
from nmt.errors import NmtError
from nmt.search import SearchConfig
from nmt.search.streams import Streams
from tests.conftest import read_gz_lines


@pytest.fixture(scope="module")
def src(nmt_data, tmp_path_factory):
    """60 test2016 sentences and an empty line: with --batch-size 8, eight batches to share out."""
    lines = read_gz_lines(nmt_data / "multi30k" / "raw" / "test_2016_flickr.en.gz", 60)
    path = tmp_path_factory.mktemp("streams") / "src.en"
    path.write_text("\n".join(lines[:30] + [""] + lines[30:]) + "\n", encoding="utf-8")
    return path


def translate(tmp_path, name, *args):
    out = tmp_path / name
    assert main(["translate", "--output", str(out), "--batch-size", "8", *map(str, args)]) == 0
    return out.read_text(encoding="utf-8")


@pytest.mark.parametrize("options", [
    ["--beam", "5", "--nbest", "2", "--print-alignment"],
    ["--beam", "1", "--scores"],
], ids=["beam-nbest-alignment", "greedy-scores"])
def test_two_streams_translate_exactly_as_one_process(imported_tiny1, src, tmp_path, options):
    one = translate(tmp_path, "one", "--checkpoint", imported_tiny1, "--input", src, *options)
    two = translate(tmp_path, "two", "--checkpoint", imported_tiny1, "--input", src, *options,
                    "--streams", "2")
    assert len(one.splitlines()) >= 61 and two == one


def test_prefixes_go_to_the_streams_with_their_batches(imported_tiny1, src, tmp_path):
    n = len(src.read_text(encoding="utf-8").splitlines())
    prefixes = tmp_path / "prefix.de"
    prefixes.write_text("".join("Ein Mann\n" if i % 3 == 0 else "\n" for i in range(n)),
                        encoding="utf-8")
    args = ["--checkpoint", imported_tiny1, "--input", src, "--prefix", prefixes, "--scores"]
    one = translate(tmp_path, "one", *args)
    two = translate(tmp_path, "two", *args, "--streams", "2")
    assert two == one
    lines = two.splitlines()
    assert lines[30] == "0.0000\t"  # the empty source line
    assert all(lines[i].split("\t")[1].startswith("Ein Mann") for i in range(0, n, 3) if i != 30)


def test_bench_translate_reports_its_streams(imported_tiny1, src, capsys):
    assert main(["bench", "translate", "--checkpoint", str(imported_tiny1), "--input", str(src),
                 "--streams", "2", "--repeats", "1", "--batch-size", "16"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["streams"] == 2 and result["search_sentences_per_s"] > 0


def test_streams_must_be_positive(imported_tiny1, src, tmp_path, capsys):
    assert main(["translate", "--checkpoint", str(imported_tiny1), "--input", str(src),
                 "--output", str(tmp_path / "h"), "--streams", "0"]) == 1
    err = capsys.readouterr().err.strip()
    assert err == "nmt translate: error: --streams must be >= 1, got 0"
    assert not (tmp_path / "h").exists()


def _dying_loader():
    """A stream's model loader that kills its worker, as the kernel's OOM killer would."""
    os._exit(9)


def _loader(path):
    from nmt.translation import searcher
    return searcher([path])


def test_a_stream_that_dies_is_a_one_line_error(imported_tiny1):
    import torch

    job = (torch.tensor([[5, 6, 2]]), torch.tensor([3]), SearchConfig(beam=2), None)
    with Streams(2, _dying_loader) as streams, pytest.raises(NmtError, match="stream stopped"):
        list(streams.search([job]))
    with Streams(2, partial(_loader, str(imported_tiny1))) as streams:  # a sound one works
        [nbest] = list(streams.search([job]))
    assert len(nbest) == 1 and nbest[0][0].tokens[-1].item() == 2


def test_the_api_and_the_server_translate_through_streams(imported_tiny1, src):
    """nmt.load(streams=2) answers what one process answers; a server over it runs two batcher
    threads, answers the same, and its shutdown stops the streams."""
    from starlette.testclient import TestClient

    import nmt
    from nmt.serve.app import create_app
    from nmt.serve.models import serve_models

    lines = src.read_text(encoding="utf-8").splitlines()[:20]
    expected = nmt.load(imported_tiny1, threads=1).translate(lines, batch_size=4)
    model = nmt.load(imported_tiny1, streams=2)
    assert model.translate(lines, batch_size=4) == expected
    served = serve_models([(imported_tiny1, model)], max_batch_tokens=2048, max_wait_ms=5)
    assert len(served[model.source_lang, model.target_lang].batcher.threads) == 2
    with TestClient(create_app(served)) as client:
        r = client.post("/translate", json={"q": lines[:3], "source": model.source_lang,
                                            "target": model.target_lang})
        assert r.status_code == 200 and r.json()["translatedText"] == expected[:3]
        assert client.get("/health").json()["status"] == "ok"
    assert model.streams is None  # closed by the server's shutdown
    assert model.translate(lines[:2], batch_size=4) == expected[:2]  # still usable, in-process
