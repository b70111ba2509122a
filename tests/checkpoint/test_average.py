import pytest
import torch

from nmt.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from nmt.cli.main import main
from nmt.data.pipeline import make_spec
from tests.checkpoint.test_checkpoint import tiny_model

# a minimal pipeline description (checkpoints are checked against the format when read)
PIPELINE = make_spec("en", "de", {lang: {"text": {"lang": lang}, "subword": {"type": "none"},
                                         "dictionary": "dict.en.txt" if lang == "en" else None}
                                  for lang in ("en", "de")})


def write(path, model, **meta):
    save_checkpoint(path, Checkpoint(meta={"family": "convs2s", "model_config": {"a": 1},
                                           "pipeline": PIPELINE, **meta},
                                     model=model.state_dict(), assets={"dict.en.txt": b"x 1\n"}))


def test_average_of_identical_checkpoints_is_the_same_model(tmp_path):
    model = tiny_model()
    write(tmp_path / "a.safetensors", model)
    write(tmp_path / "b.safetensors", model)
    assert main(["average", str(tmp_path / "a.safetensors"), str(tmp_path / "b.safetensors"),
                 "--output", str(tmp_path / "avg.safetensors")]) == 0
    avg = load_checkpoint(tmp_path / "avg.safetensors")
    for k, v in model.state_dict().items():
        assert torch.allclose(avg.model[k], v, atol=1e-7)
    assert avg.assets == {"dict.en.txt": b"x 1\n"} and len(avg.meta["averaged_from"]) == 2


def test_average_is_the_mean_and_mismatches_are_errors(tmp_path, capsys):
    m1, m2 = tiny_model(), tiny_model()
    write(tmp_path / "1.safetensors", m1)
    write(tmp_path / "2.safetensors", m2)
    assert main(["average", str(tmp_path / "1.safetensors"), str(tmp_path / "2.safetensors"), "--output", str(tmp_path / "o")]) == 0
    avg = load_checkpoint(tmp_path / "o")
    key = next(iter(m1.state_dict()))
    assert torch.allclose(avg.model[key], (m1.state_dict()[key] + m2.state_dict()[key]) / 2, atol=1e-6)
    write(tmp_path / "3.safetensors", m2, model_config={"a": 2})
    assert main(["average", str(tmp_path / "1.safetensors"), str(tmp_path / "3.safetensors"), "--output", str(tmp_path / "p")]) == 1
    assert "differs" in capsys.readouterr().err and not (tmp_path / "p").exists()


def test_last_n_from_a_save_dir(tmp_path):
    model = tiny_model()
    for e in (1, 2, 3):
        write(tmp_path / f"checkpoint{e}.safetensors", model)
    assert main(["average", "--save-dir", str(tmp_path), "--last", "2", "--output", str(tmp_path / "avg.safetensors")]) == 0
    meta = load_checkpoint(tmp_path / "avg.safetensors").meta
    assert [p.rsplit("/", 1)[-1] for p in meta["averaged_from"]] == ["checkpoint2.safetensors", "checkpoint3.safetensors"]
    with pytest.raises(SystemExit):
        main(["average"])
