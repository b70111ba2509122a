"""`nmt score` against the sacrebleu command, test-set references from the cache, bad inputs."""

import json
import subprocess
import sys

import pytest

from nmt.cli.main import main
from tests.conftest import SHARED, read_gz_lines


@pytest.fixture
def files(nmt_data, tmp_path):
    ref = read_gz_lines(nmt_data / "multi30k/raw/test_2016_flickr.de.gz")
    hyp = [line.replace("ein ", "eine ").replace(".", "") for line in ref]
    (tmp_path / "ref.de").write_text("\n".join(ref) + "\n", encoding="utf-8")
    (tmp_path / "hyp.de").write_text("\n".join(hyp) + "\n", encoding="utf-8")
    return tmp_path / "hyp.de", tmp_path / "ref.de"


def sacrebleu_cli(*args):
    out = subprocess.run([sys.executable, "-m", "sacrebleu", *map(str, args)], capture_output=True,
                         text=True, check=True).stdout
    return json.loads(out)


def test_equals_the_sacrebleu_command(files, capsys):
    hyp, ref = files
    assert main(["score", "--hyp", str(hyp), "--ref", str(ref), "--metrics", "bleu", "chrf", "ter", "--json"]) == 0
    ours = {s["metric"]: s for s in json.loads(capsys.readouterr().out)["scores"]}
    theirs = sacrebleu_cli(ref, "-i", hyp, "-m", "bleu", "chrf", "ter", "-w", "4")
    for entry in theirs:
        name = entry["name"]
        assert ours[name]["score"] == pytest.approx(entry["score"], abs=1e-2)
        assert ours[name]["signature"] == entry["signature"]


def test_text_output_has_the_signature_and_tokenized_bleu_is_labelled(files, capsys):
    hyp, ref = files
    assert main(["score", "--hyp", str(hyp), "--ref", str(ref), "--tokenized-bleu", "de"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("BLEU|nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp|version:")
    assert out[1].startswith("tokenized BLEU (tokenized:moses-de") and "not sacreBLEU" in out[1]


def test_references_from_the_sacrebleu_cache(tmp_path, monkeypatch, capsys):
    cache = SHARED / "data" / "sacrebleu"
    if not (cache / "wmt14" / "full").is_dir():
        pytest.skip(f"no sacreBLEU cache at {cache}")
    refs = (cache / "wmt14/full/wmt14_full.en-de.ref").read_text(encoding="utf-8")
    (tmp_path / "hyp").write_text(refs, encoding="utf-8")
    monkeypatch.setenv("SACREBLEU", str(cache))
    assert main(["score", "--hyp", str(tmp_path / "hyp"), "--test-set", "wmt14/full", "--langpair", "en-de", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["scores"][0]["score"] == pytest.approx(100.0)
    monkeypatch.setenv("SACREBLEU", str(tmp_path / "empty-cache"))
    assert main(["score", "--hyp", str(tmp_path / "hyp"), "--test-set", "wmt14/full", "--langpair", "en-de"]) == 1
    assert "not in the sacreBLEU cache" in capsys.readouterr().err


def test_bad_inputs(tmp_path, capsys):
    (tmp_path / "a").write_text("one\ntwo\n")
    (tmp_path / "b").write_text("one\n")
    (tmp_path / "bad").write_bytes(b"ok\n\xff\xfe\n")
    (tmp_path / "empty").write_text("")
    cases = [
        (["--hyp", str(tmp_path / "a"), "--ref", str(tmp_path / "b")], "unequal line counts: 2 hypotheses, 1 lines"),
        (["--hyp", str(tmp_path / "bad"), "--ref", str(tmp_path / "a")], "bad, line 2: invalid UTF-8"),
        (["--hyp", str(tmp_path / "empty"), "--ref", str(tmp_path / "empty")], "no hypotheses"),
        (["--hyp", str(tmp_path / "nope"), "--ref", str(tmp_path / "a")], "not found"),
        (["--hyp", str(tmp_path / "a")], "give either --ref"),
    ]
    for args, message in cases:
        assert main(["score", *args]) == 1
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1
