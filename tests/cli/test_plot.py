"""`nmt plot curves | attention | compare | qrnn` on tiny runs and checkpoints, and the training ETA."""

import json
import sys

import pytest
import torch

from nmt.cli.main import main
from nmt.modules.multistep_attention import MultiStepAttention
from nmt.training.eta import clock, remaining_seconds
from nmt.translation import prepare_model
from tests.training.test_trainer import data_dir  # noqa: F401 (fixture)

pytest.importorskip("matplotlib")
pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def lstm_run(data_dir, tmp_path_factory):  # noqa: F811
    """A tiny LSTM trained for a few updates through `nmt train`: a log and checkpoints."""
    save = tmp_path_factory.mktemp("runs") / "lstm"
    assert main(["train", str(data_dir), "--arch", "lstm_small", "--save-dir", str(save),
                 "--max-update", "6", "--log-interval", "2", "--threads", "1", "--max-tokens",
                 "200", "--optimizer", "adam", "--lr", "0.001"]) == 0
    return save


def png_size(path) -> tuple[int, int]:
    """(width, height) of a PNG, read back with matplotlib; fails on anything else."""
    from matplotlib.image import imread

    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000
    image = imread(path)
    assert image.std() > 0.01  # not a blank canvas
    return image.shape[1], image.shape[0]


def test_curves_of_a_run_and_an_old_log(lstm_run, tmp_path, capsys):
    old = tmp_path / "old"
    old.mkdir()
    records = [{"event": "train", "epoch": 1, "update": u, "loss": 9 - u, "lr": 0.25}
               for u in range(1, 6)] + [{"event": "valid", "epoch": 1, "update": 5, "valid_loss": 4.0}]
    (old / "train.log.jsonl").write_text("\n".join(map(json.dumps, records)) + '\n{"event": "tr',
                                         encoding="utf-8")  # a line being written
    out = tmp_path / "curves.png"
    assert main(["plot", "curves", str(lstm_run), str(old), "--output", str(out)]) == 0
    width, height = png_size(out)
    assert width > 800 and height > 600  # two x axes, several panels
    assert "wrote" in capsys.readouterr().out
    svg = tmp_path / "curves.svg"
    assert main(["plot", "curves", str(lstm_run), "--output", str(svg)]) == 0
    assert svg.read_text(encoding="utf-8").lstrip().startswith("<?xml")


def test_convs2s_attention_has_a_panel_per_decoder_layer(imported_tiny1, tmp_path):
    from nmt.plot.attention import attention_of

    loaded = prepare_model(imported_tiny1)
    att = attention_of(loaded, "A dog runs in the snow.")
    layers = [m for m in loaded.model.decoder.modules() if isinstance(m, MultiStepAttention)]
    assert len(att.panels) == len(layers) > 1
    assert all(w.shape == (len(att.target), len(att.source)) for _, w in att.panels)
    # search averages the layers (fairseq's rule): the panels' mean is what search recorded
    from nmt.api import Model

    best = Model(loaded).translate_nbest(["A dog runs in the snow."])[0][0]
    torch.testing.assert_close(torch.stack([w for _, w in att.panels]).mean(0), best.attention,
                               atol=1e-4, rtol=1e-4)
    out = tmp_path / "att.png"
    assert main(["plot", "attention", "--checkpoint", str(imported_tiny1), "--source",
                 "A dog runs in the snow.", "--output", str(out)]) == 0
    width, height = png_size(out)
    assert width > 1.5 * height  # the panels side by side


def test_lstm_attention_is_one_panel_and_input_lines_work(lstm_run, tmp_path):
    from nmt.plot.attention import attention_of

    ckpt = lstm_run / "checkpoint_last.safetensors"
    att = attention_of(prepare_model(ckpt), "the red dog sees a cat")
    assert len(att.panels) == 1 and att.source == "the red dog sees a cat".split()
    src = tmp_path / "in.en"
    src.write_text("a house\nthe big tree runs\n", encoding="utf-8")
    out = tmp_path / "att.png"
    assert main(["plot", "attention", "--checkpoint", str(ckpt), "--input", str(src), "--line",
                 "2", "--output", str(out)]) == 0
    png_size(out)


def test_compare_and_qrnn_figures(lstm_run, tmp_path):
    (lstm_run / "test2016.beam5.de.score").write_text(
        "BLEU|nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp|version:2.6.0 = 12.34 45.6/20.1 "
        "(BP = 1.000 ratio = 1.010)\n", encoding="utf-8")
    (lstm_run / "bench_translate.beam5.json").write_text('{"sentences_per_s": 150.5}')
    out = tmp_path / "compare.png"
    assert main(["plot", "compare", str(lstm_run), "--output", str(out)]) == 0
    png_size(out)
    from nmt.bench.qrnn import bench_qrnn_layer

    bench = tmp_path / "qrnn.json"
    bench.write_text(json.dumps(bench_qrnn_layer([4, 8], [2, 4], hidden=8, repeats=1)))
    out = tmp_path / "figure4.png"
    assert main(["plot", "qrnn", str(bench), "--output", str(out)]) == 0
    png_size(out)


@pytest.mark.parametrize("argv, message", [
    (["curves", "{empty}"], "no train.log.jsonl"),
    (["compare", "{empty}"], "no BLEU"),
    (["attention", "--checkpoint", "{empty}/none.safetensors", "--source", "A dog."], "not found"),
    (["attention", "--checkpoint", "{ckpt}", "--source", "  "], "source sentence is empty"),
    (["attention", "--checkpoint", "{ckpt}", "--input", "{empty}/in.txt", "--line", "5"], "fewer than 5"),
    (["qrnn", "{empty}/in.txt"], "not readable as JSON"),
    (["curves", "{empty}", "--output", "{empty}/x.jpg"], "ending in"),
])
def test_bad_input_is_one_line(lstm_run, tmp_path, capsys, argv, message):
    (tmp_path / "in.txt").write_text("one line\n", encoding="utf-8")
    fill = {"{empty}": str(tmp_path), "{ckpt}": str(lstm_run / "checkpoint_last.safetensors")}
    argv = [fill.get(a, a) for a in argv]
    argv = [a.replace("{empty}", str(tmp_path)) for a in argv]
    if "--output" not in argv:
        argv += ["--output", str(tmp_path / "out.png")]
    assert main(["plot", *argv]) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and message in err
    assert not (tmp_path / "out.png").exists()


def test_without_matplotlib_the_error_names_the_extra(lstm_run, tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    assert main(["plot", "curves", str(lstm_run), "--output", str(tmp_path / "c.png")]) == 1
    assert "pip install -e '.[plot]'" in capsys.readouterr().err


def test_eta_takes_the_nearest_horizon():
    common = dict(trained_seconds=600.0, updates_done=100, seconds_this_run=200.0, update=150,
                  epoch=3, updates_left_in_epoch=10, updates_per_epoch=50)
    none = dict(stop_time_minutes=None, max_update=None, max_epoch=None)
    assert remaining_seconds(**common, **none) is None
    assert remaining_seconds(**common, **{**none, "stop_time_minutes": 15}) == 300.0
    assert remaining_seconds(**common, **{**none, "max_update": 200}) == 100.0  # 2 s an update
    assert remaining_seconds(**common, **{**none, "max_epoch": 4}) == 120.0  # 10 + 50 updates
    assert remaining_seconds(**common, stop_time_minutes=15, max_update=200, max_epoch=4) == 100.0
    assert remaining_seconds(**{**common, "updates_done": 0}, **{**none, "max_update": 9}) is None
    assert (clock(65), clock(3725)) == ("1:05", "1:02:05")


def test_translate_reports_progress_per_batch(imported_tiny1):
    from nmt.search import SearchConfig
    from nmt.translation import Translator

    seen = []
    translator = Translator(prepare_model(imported_tiny1), SearchConfig(beam=1), batch_size=2)
    translator.translate(["A dog.", "", "Two cats.", "A man runs.", " "], progress=seen.append)
    assert sorted(seen[:2]) == [1, 2] and seen[2:] == [2]  # each batch as it ends, then the empty lines
