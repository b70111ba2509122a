"""`recipes/multi30k_en_de/compare_table.py` turns what the compared runs left behind into a table."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import SimpleNamespace

import torch

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "recipes" / "multi30k_en_de" / "compare_table.py"


def load_script(monkeypatch):
    """The script, its checkpoint loader replaced by a 1.5 M-parameter stand-in."""
    spec = importlib.util.spec_from_file_location("compare_table", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)

    def load_model(path):
        assert Path(path).name == "checkpoint_best.safetensors"
        return SimpleNamespace(model=torch.nn.Linear(1000, 1500, bias=False))

    monkeypatch.setattr(module, "load_model", load_model)
    return module


def fake_run(path: Path, *, bench: bool) -> Path:
    path.mkdir()
    (path / "config.yaml").write_text("arch: lstm_small\nmax_tokens: 4000\n")
    events = [
        {"event": "train", "epoch": 1, "update": 50, "tokens_per_s": 1000.0},
        {"event": "train", "epoch": 1, "update": 100, "tokens_per_s": 3000.0},
        {"event": "train", "epoch": 2, "update": 150, "tokens_per_s": 2000.0},
        {"event": "valid", "epoch": 1, "update": 120, "valid_loss": 4.5},
        {"event": "valid", "epoch": 2, "update": 240, "valid_loss": 4.25},
    ]
    (path / "train.log.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events))
    (path / "test2016.beam5.de.score").write_text(
        "BLEU|nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp|version:2.6.0 = 31.25 60.0/37.0/25.0/17.0 (BP = 1.000 ratio = 1.012 hyp_len = 12208 ref_len = 12063)\n")
    if bench:
        (path / "bench_translate.beam5.json").write_text(json.dumps({"sentences_per_s": 187.46}))
    return path


def test_rows_read_speed_progress_bleu_and_translation_speed(tmp_path: Path, monkeypatch):
    table = load_script(monkeypatch)
    row = table.row(fake_run(tmp_path / "lstm", bench=True))
    assert dict(zip(table.COLUMNS, row)) == {
        "model": "lstm", "preset": "lstm_small", "params": "1.5 M", "epochs": "2", "updates": "240",
        "train tok/s": "2,000", "best valid loss": "4.250", "BLEU (beam 5)": "31.25",
        "length ratio": "1.012", "beam 5 sent/s": "187.5", "greedy sent/s": "-",
    }


def test_a_stop_inside_an_epoch_counts_its_updates_not_the_epoch(tmp_path: Path, monkeypatch):
    table = load_script(monkeypatch)
    run = fake_run(tmp_path / "lstm", bench=False)
    with open(run / "train.log.jsonl", "a") as f:
        f.write(json.dumps({"event": "valid", "epoch": 3, "update": 300, "valid_loss": 4.1,
                            "mid_epoch": True}) + "\n")
    got = dict(zip(table.COLUMNS, table.row(run)))
    assert (got["epochs"], got["updates"], got["best valid loss"]) == ("2", "300", "4.100")


def test_main_prints_a_markdown_table(tmp_path: Path, capsys, monkeypatch):
    table = load_script(monkeypatch)
    table.main([str(fake_run(tmp_path / "a", bench=False)), str(fake_run(tmp_path / "b", bench=True))])
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 4 and lines[0].startswith("| model | preset |")
    assert lines[2].startswith("| a | lstm_small |") and lines[3].startswith("| b | lstm_small |")
