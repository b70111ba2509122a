"""The Python API (docs/api.md): nmt.load and Model.translate on a checkpoint imported from the
fairseq fixtures, against `nmt translate` on the same lines."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

import nmt
from nmt.cli.main import main

LINES = ["A dog runs.", "", "A man in an orange hat is looking at something.", "  "]


@pytest.fixture(scope="module")
def model(imported_tiny1):
    return nmt.load(imported_tiny1, threads=1)


def test_translate_is_the_command_lines_translation(model, imported_tiny1, tmp_path):
    (tmp_path / "in.en").write_text("\n".join(LINES) + "\n", encoding="utf-8")
    assert main(["translate", "--checkpoint", str(imported_tiny1), "--input",
                 str(tmp_path / "in.en"), "--output", str(tmp_path / "out.de"), "--threads", "1"]) == 0
    expected = (tmp_path / "out.de").read_text(encoding="utf-8").splitlines()
    got = model.translate(LINES)
    assert got == expected and got[1] == got[3] == "" and got[0]
    assert model.translate(LINES[0]) == expected[0]  # a string in, a string out


def test_nbest_carries_scores_pieces_and_alignment(model):
    found = model.translate_nbest(LINES[:2], beam=4, nbest=3)
    assert len(found) == 2 and found[1] == []
    best = found[0]
    assert len(best) == 3 and best[0].score >= best[1].score >= best[2].score
    assert best[0].text == model.translate(LINES[0], beam=4)
    assert len(best[0].positional_scores) == len(best[0].pieces) + 1  # eos included
    assert all(0 <= s < 4 and t < len(best[0].pieces) for s, t in best[0].alignment)
    att = best[0].attention  # (target pieces + eos, source pieces); the source eos is left out
    assert att.shape == (len(best[0].pieces) + 1, 4)  # "A dog runs." -> A, dog, runs, .
    assert all(0 < float(r.sum()) <= 1 + 1e-3 for r in att)


def test_what_the_model_is_and_bad_calls(model, imported_tiny1, tmp_path):
    assert (model.source_lang, model.target_lang, model.family) == ("en", "de", "convs2s")
    assert "convs2s" in repr(model) and model.meta["family"] == "convs2s"
    with pytest.raises(nmt.NmtError, match="unknown precision"):
        nmt.load(imported_tiny1, precision="fp8")
    with pytest.raises(nmt.NmtError, match="checkpoint not found"):
        nmt.load(tmp_path / "none.safetensors")
    with pytest.raises(nmt.NmtError, match="unknown search options"):
        model.translate_nbest(LINES[:1], beam_size=3)
    with pytest.raises(nmt.NmtError, match="list of lines"):
        model.translate_nbest("A dog runs.")


def test_prefix_sampling_ensemble_and_shortlist(model, imported_tiny1, tmp_path):
    from nmt.data.shortlist import Shortlist

    assert model.translate(LINES[0], prefix="Ein Hund").startswith("Ein Hund ")
    assert model.translate(LINES[:2], prefix=["Der", ""]) == [model.translate(LINES[0], prefix="Der"), ""]
    samples = model.translate_nbest(LINES[:1], nbest=3, sampling=True, topk=5, seed=1)
    assert len(samples[0]) == 3
    assert [s.text for s in samples[0]] == [s.text for s in model.translate_nbest(
        LINES[:1], nbest=3, sampling=True, topk=5, seed=1)[0]]
    pair = nmt.load([imported_tiny1, imported_tiny1], threads=1)
    assert pair.translate(LINES) == model.translate(LINES)
    assert pair.num_parameters == 2 * model.num_parameters
    symbols = [p for p in model.loaded.pipeline.target.dictionary.symbols[4:]]
    Shortlist("en", "de", symbols, {}).save(tmp_path / "all.json")
    listed = nmt.load(imported_tiny1, threads=1, shortlist=tmp_path / "all.json")
    assert listed.translate(LINES) == model.translate(LINES)


def test_bf16_and_int8_load(imported_tiny1):
    for kwargs in ({"precision": "bf16"}, {"quantize": "int8"},
                   {"precision": "bf16", "quantize": "int8"}):
        assert nmt.load(imported_tiny1, threads=1, **kwargs).translate(LINES[0])


def test_the_documented_example_runs(imported_tiny1):
    doc = (Path(__file__).resolve().parents[1] / "docs" / "api.md").read_text(encoding="utf-8")
    code = re.search(r"```python\n(.*?)```", doc, re.S).group(1)
    code = code.replace("checkpoints/multi30k_en_de/convs2s/checkpoint_best.safetensors",
                        str(imported_tiny1))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    printed = out.stdout.splitlines()
    assert printed[0] == "nmt.Model(convs2s, en->de, bf16)" and len(printed) == 5


def test_public_names_and_a_light_import():
    assert set(nmt.__all__) == {"load", "Model", "Translation", "NmtError", "__version__"}
    probe = "import sys, nmt; print('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          check=True).stdout.strip() == "False"
