"""`nmt preprocess` end to end: real data, fairseq parity of the learned files, bad inputs."""

import json
import subprocess
import sys

import pytest

from nmt.cli.main import main
from nmt.data.binarized import TokenArray
from nmt.data.pipeline import Pipeline


def write(path, lines, raw=False):
    path.write_bytes(lines if raw else ("\n".join(lines) + "\n").encode("utf-8"))
    return path


@pytest.fixture
def small(tmp_path):
    write(tmp_path / "train.en", ["a small house .", "the dog runs", "hello world"])
    write(tmp_path / "train.de", ["ein kleines Haus .", "der Hund läuft", "hallo Welt"])
    return tmp_path


def run(args, capsys):
    code = main(["preprocess", *args])
    err = capsys.readouterr().err
    return code, err


def base_args(d, dest):
    return ["-s", "en", "-t", "de", "--trainpref", str(d / "train"), "--destdir", str(dest),
            "--bpe", "none", "--workers", "1"]


def test_small_corpus_end_to_end(small, capsys):
    dest = small / "bin"
    code, _ = run(base_args(small, dest), capsys)
    assert code == 0
    pipe = Pipeline.load(dest)
    arr = TokenArray(dest, "train", "en")
    assert len(arr) == 3 and pipe.source.dictionary.decode(arr[1]) == ["the", "dog", "runs"]
    assert not any(p.name.startswith(".") for p in small.iterdir())  # no temporary leftovers


def test_missing_file(small, capsys):
    code, err = run(base_args(small, small / "bin") + ["--validpref", str(small / "nope")], capsys)
    assert code == 1 and "nope.en" in err and err.count("\n") == 1
    assert not (small / "bin").exists()


def test_unequal_line_counts_name_both_files(small, capsys):
    write(small / "train.de", ["nur eine Zeile"])
    code, err = run(base_args(small, small / "bin"), capsys)
    assert code == 1 and "train.en has 3 lines" in err and "train.de has 1" in err
    assert not (small / "bin").exists()


def test_bad_utf8_names_file_and_line(small, capsys):
    write(small / "train.de", b"gut\nschl\xe9cht\nok\n", raw=True)
    code, err = run(base_args(small, small / "bin"), capsys)
    assert code == 1 and "train.de, line 2: invalid UTF-8" in err
    assert not any(p.name.startswith(".bin") or p.name == "bin" for p in small.iterdir())


def test_empty_training_set_after_cleaning(small, capsys):
    write(small / "train.en", ["", "", ""])
    code, err = run(base_args(small, small / "bin"), capsys)
    assert code == 1 and "training set is empty" in err


def test_existing_destdir_needs_force(small, capsys):
    dest = small / "bin"
    dest.mkdir()
    (dest / "keep.txt").write_text("precious")
    code, err = run(base_args(small, dest), capsys)
    assert code == 1 and "--force" in err and (dest / "keep.txt").exists()
    code, _ = run(base_args(small, dest) + ["--force"], capsys)
    assert code == 0 and not (dest / "keep.txt").exists() and (dest / "pipeline.json").exists()


def test_cleaning_counts_reasons(tmp_path, capsys):
    write(tmp_path / "train.en", ["a b c", "", "one two three four five six seven", "x"])
    write(tmp_path / "train.de", ["a b c", "leer", "eins", "y"])
    dest = tmp_path / "bin"
    code, _ = run(base_args(tmp_path, dest) + ["--max-len", "6", "--max-len-ratio", "3"], capsys)
    assert code == 0
    train = json.loads((dest / "summary.json").read_text())["splits"]["train"]
    assert train["read"] == 4 and train["kept"] == 2
    assert train["dropped"] == {"empty": 1, "length": 1, "ratio": 0}


def test_console_script_exits_nonzero_without_traceback(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "nmt", "preprocess", "-s", "en", "-t", "de", "--trainpref",
         str(tmp_path / "missing"), "--destdir", str(tmp_path / "out")],
        capture_output=True, text=True,
    )
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().startswith("nmt preprocess: error: input file not found")


def test_multi30k_sample_joint_bpe(multi30k_text, tmp_path, capsys):
    dest = tmp_path / "bin"
    code = main(["preprocess", "-s", "en", "-t", "de", "--trainpref", str(multi30k_text / "train"),
                 "--validpref", str(multi30k_text / "valid"), "--testpref", str(multi30k_text / "test"),
                 "--destdir", str(dest), "--bpe-merges", "3000", "--workers", "2"])
    out = capsys.readouterr().out
    assert code == 0 and "unknown" in out and "vocabulary" in out
    summary = json.loads((dest / "summary.json").read_text())
    assert summary["splits"]["valid"]["read"] == 1014 and summary["splits"]["test"]["read"] == 1000
    assert summary["vocab"]["en"] == summary["vocab"]["de"]  # joined dictionary
    assert summary["splits"]["test"]["unk_rate"]["en"] < 0.01
    assert (dest / "dict.en.txt").read_bytes() == (dest / "dict.de.txt").read_bytes()


def test_reproduces_fairseq_preprocessing(nmt_data, fairseq_fixtures, tmp_path, capsys):
    """With fairseq's settings (Moses escaping, no normalisation) the BPE codes, the dictionary
    and the test-set ids equal those of the reference fixture, byte for byte."""
    raw = tmp_path / "raw"
    raw.mkdir()
    from tests.conftest import read_gz_lines

    for split, name in (("train", "train"), ("test", "test_2016_flickr")):
        for lang in ("en", "de"):
            write(raw / f"{split}.{lang}", read_gz_lines(nmt_data / "multi30k/raw" / f"{name}.{lang}.gz"))
    dest = tmp_path / "bin"
    code = main(["preprocess", "-s", "en", "-t", "de", "--trainpref", str(raw / "train"),
                 "--testpref", str(raw / "test"), "--destdir", str(dest), "--moses-escape",
                 "--unicode-norm", "none", "--no-punct-norm", "--bpe-merges", "10000"])
    assert code == 0
    assert (dest / "bpe.codes").read_bytes() == (fairseq_fixtures / "bpe.codes").read_bytes()
    assert (dest / "dict.en.txt").read_bytes() == (fairseq_fixtures / "dict.en.txt").read_bytes()
    pipe = Pipeline.load(dest)
    test = TokenArray(dest, "test", "en")
    expected = (fairseq_fixtures / "test_2016_flickr.bpe.en").read_text(encoding="utf-8").splitlines()
    for i in range(len(expected)):
        assert test[i].tolist() == pipe.source.dictionary.encode(expected[i].split())
    unknown_rows = [i for i in range(len(test)) if (test[i] == 3).any()]
    assert unknown_rows == [980]  # README: exactly one unknown token, `yar@@` on line 981
