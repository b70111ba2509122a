"""`nmt translate --prefix / --checkpoint A --checkpoint B / --sampling / --shortlist` and
`nmt shortlist`, on the imported fairseq fixture models."""

import json

import pytest

from nmt.checkpoint import load_checkpoint
from nmt.cli.main import main
from nmt.data.dictionary import Dictionary
from nmt.data.shortlist import Shortlist
from tests.training.test_trainer import data_dir  # noqa: F401 (fixture)

SOURCES = ["A man in an orange hat starring at something.", "Two dogs play in the snow.",
           "", "A little girl climbs into a wooden playhouse."]


@pytest.fixture(scope="module")
def tiny1(imported_tiny1):
    return imported_tiny1


def _import(fixtures, model, out, *extra):
    assert main(["import-fairseq", str(fixtures / model / "checkpoint.pt"), "--dict-dir",
                 str(fixtures), "--output", str(out), *extra]) == 0
    return out


@pytest.fixture(scope="module")
def tiny2(fairseq_fixtures, tmp_path_factory):
    """The second fixture model, same data and pipeline as tiny1."""
    out = tmp_path_factory.mktemp("tiny2") / "tiny2.safetensors"
    return _import(fairseq_fixtures, "tiny2", out, "--bpe-codes", str(fairseq_fixtures / "bpe.codes"))


@pytest.fixture
def src(tmp_path):
    path = tmp_path / "src.en"
    path.write_text("\n".join(SOURCES) + "\n", encoding="utf-8")
    return path


def translate(tmp_path, *args, name="hyp"):
    out = tmp_path / name
    assert main(["translate", "--output", str(out), *map(str, args)]) == 0
    return out.read_text(encoding="utf-8").splitlines()


def test_each_translation_starts_with_its_prefix(tiny1, src, tmp_path):
    prefixes = tmp_path / "prefix.de"
    prefixes.write_text("Ein Mann mit\n\nnichts\nZwei Hunde\n", encoding="utf-8")
    plain = translate(tmp_path, "--checkpoint", tiny1, "--input", src, name="plain")
    got = translate(tmp_path, "--checkpoint", tiny1, "--input", src, "--prefix", prefixes)
    assert got[0].startswith("Ein Mann mit ") and got[3].startswith("Zwei Hunde ")
    assert got[1] == plain[1]  # an empty prefix is no prefix
    assert got[2] == ""  # an empty source line stays empty
    assert got[3] != plain[3]


def test_prefix_line_count_must_match(tiny1, src, tmp_path, capsys):
    prefixes = tmp_path / "prefix.de"
    prefixes.write_text("Ein\n", encoding="utf-8")
    out = tmp_path / "hyp"
    assert main(["translate", "--checkpoint", str(tiny1), "--input", str(src), "--prefix",
                 str(prefixes), "--output", str(out)]) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "--prefix" in err and "1 lines" in err and "has 4" in err
    assert not out.exists()


def test_a_two_model_ensemble_translates_and_differs_from_each_member(tiny1, tiny2, src, tmp_path):
    one = translate(tmp_path, "--checkpoint", tiny1, "--input", src, "--scores", name="one")
    two = translate(tmp_path, "--checkpoint", tiny2, "--input", src, "--scores", name="two")
    both = translate(tmp_path, "--checkpoint", tiny1, "--checkpoint", tiny2, "--input", src,
                     "--scores", "--print-alignment", name="both")
    assert len(both) == 4 and both[2].startswith("0.0000")
    assert all(line.count("\t") == 2 for i, line in enumerate(both) if i != 2)
    assert both != one or both != two
    same = translate(tmp_path, "--checkpoint", tiny1, "--checkpoint", tiny1, "--input", src,
                     "--scores", name="same")
    assert [s.split("\t")[1] for s in same] == [s.split("\t")[1] for s in one]


def test_models_with_different_pipelines_do_not_ensemble(tiny1, fairseq_fixtures, src, tmp_path,
                                                         capsys):
    no_bpe = _import(fairseq_fixtures, "tiny2", tmp_path / "nobpe.safetensors")
    assert main(["translate", "--checkpoint", str(tiny1), "--checkpoint", str(no_bpe), "--input",
                 str(src), "--output", str(tmp_path / "hyp")]) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "cannot ensemble" in err and "pipelines differ" in err


def test_sampling_gives_n_reproducible_samples_per_line(tiny1, src, tmp_path):
    args = ["--checkpoint", tiny1, "--input", src, "--sampling", "--nbest", "3", "--topk", "10"]
    first = translate(tmp_path, *args, "--seed", "7", name="a")
    again = translate(tmp_path, *args, "--seed", "7", name="b")
    other = translate(tmp_path, *args, "--seed", "8", name="c")
    assert len(first) == 12 and first == again != other
    assert [line.split("\t")[:2] for line in first[:3]] == [["0", "1"], ["0", "2"], ["0", "3"]]


def test_bad_sampling_options_fail_before_loading(tiny1, src, tmp_path, capsys):
    assert main(["translate", "--checkpoint", str(tmp_path / "missing.safetensors"), "--input",
                 str(src), "--sampling", "--temperature", "0"]) == 1
    assert "temperature" in capsys.readouterr().err


def test_a_shortlist_covering_the_vocabulary_changes_nothing(tiny1, src, tmp_path):
    ckpt = load_checkpoint(tiny1, with_optimizer=False)
    symbols = Dictionary.from_bytes(ckpt.assets["dict.de.txt"], "dict.de.txt").symbols
    full = tmp_path / "full.json"
    Shortlist("en", "de", symbols[4:], {}).save(full)
    plain = translate(tmp_path, "--checkpoint", tiny1, "--input", src, "--scores", name="plain")
    listed = translate(tmp_path, "--checkpoint", tiny1, "--input", src, "--scores", "--shortlist",
                       full, name="listed")
    assert listed == plain


def test_nmt_shortlist_finds_the_translations(data_dir, tmp_path, capsys):  # noqa: F811
    out = tmp_path / "shortlist.json"
    assert main(["shortlist", str(data_dir), "--output", str(out), "--frequent", "3",
                 "--per-source", "2"]) == 0
    doc = json.loads(out.read_text(encoding="utf-8"))
    assert doc["format"] == "nmt-shortlist" and len(doc["frequent"]) == 3
    # the synthetic targets are the source words reversed: each word translates as itself
    assert all(targets[0] == word and len(targets) <= 2 for word, targets in doc["table"].items())
    assert "wrote" in capsys.readouterr().out


def test_a_shortlist_for_an_imported_model_through_its_checkpoints_pipeline(tiny1, src, multi30k_text,
                                                                             tmp_path):
    """`nmt preprocess --pipeline-from CHECKPOINT` binarizes text with the checkpoint's own
    pipeline (an imported fairseq model has no data directory), so `nmt shortlist` can count it."""
    dest = tmp_path / "bin"
    assert main(["preprocess", "-s", "en", "-t", "de", "--trainpref", str(multi30k_text / "train"),
                 "--pipeline-from", str(tiny1), "--destdir", str(dest)]) == 0
    ckpt = load_checkpoint(tiny1, with_optimizer=False)
    for lang in ("en", "de"):
        assert (dest / f"dict.{lang}.txt").read_bytes() == ckpt.assets[f"dict.{lang}.txt"]
    out = tmp_path / "shortlist.json"
    assert main(["shortlist", str(dest), "--output", str(out), "--per-source", "5"]) == 0
    table = Shortlist.load(out).table
    assert "Hund" in table["dog"] and "Mann" in table["man"]
    assert len(translate(tmp_path, "--checkpoint", tiny1, "--input", src, "--shortlist", out)) == 4


def test_a_checkpoint_that_is_not_one_is_a_one_line_error_in_preprocess(multi30k_text, tmp_path, capsys):
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"not a checkpoint")
    dest = tmp_path / "bin"
    assert main(["preprocess", "-s", "en", "-t", "de", "--trainpref", str(multi30k_text / "train"),
                 "--pipeline-from", str(bad), "--destdir", str(dest)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "not a readable nmt checkpoint" in err and not dest.exists()


def test_a_small_shortlist_restricts_the_output(tiny1, src, tmp_path):
    small = tmp_path / "small.json"
    Shortlist("en", "de", ["Ein", "Mann", "Hund", ".", "ein", "Hunde", "Zwei"],
              {"man": ["Mann"], "dogs": ["Hunde"]}).save(small)
    got = translate(tmp_path, "--checkpoint", tiny1, "--input", src, "--shortlist", small,
                    "--output-format", "pieces")
    allowed = {"Ein", "Mann", "Hund", ".", "ein", "Hunde", "Zwei", "<unk>"}
    assert all(set(line.split()) <= allowed for line in got)


@pytest.mark.parametrize("content, message", [
    (b"\xff\xfe", "not a shortlist"),
    (b'{"format": "other"}', "not an nmt-shortlist"),
    (b'{"format": "nmt-shortlist", "version": 1, "source_lang": "en", "target_lang": "de", '
     b'"frequent": [1], "table": {}}', "damaged"),
    (b'{"format": "nmt-shortlist", "version": 1, "source_lang": "fr", "target_lang": "de", '
     b'"frequent": [], "table": {}}', "shortlist is for fr->de"),
])
def test_bad_shortlists_are_one_line_errors(tiny1, src, tmp_path, capsys, content, message):
    bad = tmp_path / "bad.json"
    bad.write_bytes(content)
    assert main(["translate", "--checkpoint", str(tiny1), "--input", str(src), "--shortlist",
                 str(bad), "--output", str(tmp_path / "hyp")]) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and message in err
