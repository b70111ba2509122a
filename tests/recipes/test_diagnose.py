"""recipes/diagnose.py: the attention measures on hand-made alignments."""

import importlib.util
from pathlib import Path

import torch

from nmt.data.pipeline import Source

SPEC = importlib.util.spec_from_file_location(
    "diagnose", Path(__file__).resolve().parents[2] / "recipes" / "diagnose.py")
diagnose = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(diagnose)


def test_spearman():
    assert diagnose.spearman([0, 1, 2, 3]) == 1.0
    assert diagnose.spearman([3, 2, 1, 0]) == -1.0
    assert diagnose.spearman([2, 2, 2]) is None and diagnose.spearman([1]) is None


def test_attention_measures_tell_a_diagonal_from_a_parked_attention():
    src = Source(ids=[5, 6, 7, 8, 2], pieces=["a", "b", "c", "d"])
    diagonal = torch.eye(5)[:4]  # (T=4, S=5): step t on source t, nothing on eos
    parked = torch.zeros(4, 5)
    parked[:, 0] = 1.0  # every step on the first piece
    good = diagnose.attention_measures([(["w", "x", "y", "z"], diagonal)], [src])
    bad = diagnose.attention_measures([(["w", "x", "y", "z"], parked)], [src])
    assert good == {"attn_entropy": 0.0, "attn_monotone": 1.0, "attn_coverage": 1.0}
    assert bad["attn_monotone"] is None and bad["attn_coverage"] == 0.25
    assert diagnose.attention_measures([([], None)], [src])["attn_entropy"] is None


def test_ties_share_their_mean_rank():
    # ranks of [0, 0, 1, 2] are [0.5, 0.5, 2, 3]: correlation with 0..3 is 0.9486..., not 1
    assert abs(diagnose.spearman([0, 0, 1, 2]) - 0.9486832980505138) < 1e-12


def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys):
    src, ref = tmp_path / "src", tmp_path / "ref"
    src.write_text("a\nb\n")
    ref.write_text("a\n")
    args = ["--checkpoint", str(tmp_path / "none.safetensors"), "--data", str(tmp_path)]
    assert diagnose.main(args + ["--src", str(src), "--ref", str(ref)]) == 2
    assert "has 2 lines but" in capsys.readouterr().err
    assert diagnose.main(args + ["--src", str(src), "--ref", str(src)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("diagnose.py:") and "none.safetensors" in err and "\n" not in err
