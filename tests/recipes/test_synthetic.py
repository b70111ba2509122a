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


def test_study_table_reads_progress_time_to_near_zero_loss_and_accuracy(tmp_path, capsys):
    import json

    table = load("study_table")
    run = tmp_path / "delay500" / "tcn_small"
    run.mkdir(parents=True)
    events = [{"event": "train", "update": 10 * i, "nll": nll, "train_seconds": 30.0 * i}
              for i, nll in enumerate([2.0, 0.5, 0.008, 0.02, 0.004], start=1)]
    (run / "train.log.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events))
    (run / "test.accuracy.json").write_text(json.dumps({"sequence_accuracy": 0.99, "token_accuracy": 0.998}))
    assert table.row(run, 0.01) == ("tcn_small", "500", "50", "2.5", "1.5", "0.0040", "0.990", "0.998")
    assert table.row(run, 0.001)[4] == "not reached"
    missing = tmp_path / "delay100" / "lstm_small"  # a run that failed before training
    missing.mkdir(parents=True)
    table.main([str(run), str(missing)])
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("| preset | delay T |") and "nll < 0.01" in out[0]
    assert out[3] == "| lstm_small | 100 | - | - | not reached | - | - | - |"
    (run / "train.log.jsonl").write_text(json.dumps({"event": "train", "update": 5, "nll": 0.001}) + "\n")
    assert table.row(run, 0.01)[2:5] == ("5", "-", "-")  # an older log without train_seconds
