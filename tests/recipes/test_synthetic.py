"""The synthetic task generator and its accuracy measure."""

import importlib.util
from pathlib import Path

from nmt.cli.main import main

HERE = Path(__file__).resolve().parents[2] / "recipes" / "synthetic"


def load(name):
    spec = importlib.util.spec_from_file_location(name, HERE / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_tasks_are_what_they_say_and_reproducible(tmp_path):
    gen = load("make_data")
    for task in ("copy", "reverse", "delay"):
        for run in ("a", "b"):
            gen.main(["--task", task, "--delay", "7", "--train-size", "50", "--out", str(tmp_path / task / run)])
        a, b = tmp_path / task / "a", tmp_path / task / "b"
        assert (a / "train.src").read_text() == (b / "train.src").read_text()
        src = (a / "test.src").read_text().splitlines()
        tgt = (a / "test.tgt").read_text().splitlines()
        assert len(src) == len(tgt) == 500
        for s, t in zip(src, tgt):
            s, t = s.split(), t.split()
            if task == "copy":
                assert s == t
            elif task == "reverse":
                assert s[::-1] == t
            else:
                assert s[:10] == t and s[10:] == ["_"] * 7 + [":"] and set(t) <= set("abcdefgh")


def test_generated_data_preprocesses(tmp_path, capsys):
    load("make_data").main(["--task", "delay", "--delay", "30", "--train-size", "200", "--out", str(tmp_path / "raw")])
    raw = tmp_path / "raw"
    assert main(["preprocess", "-s", "src", "-t", "tgt", "--trainpref", str(raw / "train"), "--validpref",
                 str(raw / "valid"), "--destdir", str(tmp_path / "bin"), "--bpe", "none", "--tokenizer", "none",
                 "--no-punct-norm", "--max-len", "2000", "--max-len-ratio", "1000", "--padding-factor", "1",
                 "--workers", "1"]) == 0
    assert "vocabulary: src 14, tgt 14" in capsys.readouterr().out  # 4 specials + a..h, _, :


def test_accuracy():
    acc = load("accuracy").accuracy(["a b c", "a b d", ""], ["a b c", "a b c", "x"])
    assert acc["sequence_accuracy"] == 1 / 3
    assert acc["token_accuracy"] == 5 / 7
