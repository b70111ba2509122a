"""Checkpoint files: round trip, atomicity, and hostile files that must not load."""

import json
import pickle

import pytest
import torch
from safetensors.torch import save_file

from nmt.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from nmt.errors import NmtError
from nmt.models.convs2s import ConvS2SConfig, ConvS2SModel


def tiny_model(**kw):
    cfg = ConvS2SConfig(src_vocab_size=16, tgt_vocab_size=16, encoder_embed_dim=8, decoder_embed_dim=8,
                        encoder_layers=[{"channels": 8, "kernel": 3, "repeat": 2}],
                        decoder_layers=[{"channels": 8, "kernel": 3, "repeat": 2}],
                        decoder_out_embed_dim=8, tie_output=True, **kw)
    return ConvS2SModel(cfg)


def test_round_trip_with_tied_weights_optimizer_assets_and_rng(tmp_path):
    model = tiny_model()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    model(torch.tensor([[4, 5, 2]]), torch.tensor([3]), torch.tensor([[2, 6]])).sum().backward()
    opt.step()
    ckpt = Checkpoint(meta={"arch": "x", "progress": {"update": 3}}, model=model.state_dict(),
                      assets={"dict.en.txt": b"a 1\n", "empty": b""}, optimizer=opt.state_dict(),
                      rng=torch.get_rng_state())
    path = tmp_path / "c.safetensors"
    save_checkpoint(path, ckpt)
    assert [p.name for p in tmp_path.iterdir()] == ["c.safetensors"]  # no temporary left behind
    back = load_checkpoint(path)
    assert back.meta["arch"] == "x" and back.meta["format"] == "nmt-checkpoint"
    assert back.assets == {"dict.en.txt": b"a 1\n", "empty": b""}
    assert torch.equal(back.rng, ckpt.rng)
    fresh = tiny_model()
    fresh.load_state_dict(back.model)
    for a, b in zip(model.state_dict().values(), fresh.state_dict().values()):
        assert torch.equal(a, b)
    opt2 = torch.optim.Adam(fresh.parameters(), lr=1e-3)
    opt2.load_state_dict(back.optimizer)
    s1, s2 = opt.state_dict()["state"], opt2.state_dict()["state"]
    assert s1.keys() == s2.keys() and all(torch.equal(s1[k]["exp_avg"], s2[k]["exp_avg"]) for k in s1)


def test_missing_truncated_and_garbage_files(tmp_path):
    with pytest.raises(NmtError, match="not found"):
        load_checkpoint(tmp_path / "nope.safetensors")
    good = tmp_path / "good.safetensors"
    save_checkpoint(good, Checkpoint(meta={}, model=tiny_model().state_dict()))
    data = good.read_bytes()
    (tmp_path / "trunc").write_bytes(data[: len(data) // 2])
    (tmp_path / "garbage").write_bytes(bytes(range(256)) * 10)
    (tmp_path / "empty").write_bytes(b"")
    for name in ("trunc", "garbage", "empty"):
        with pytest.raises(NmtError, match="not a readable nmt checkpoint"):
            load_checkpoint(tmp_path / name)


class _Payload:
    def __reduce__(self):
        import os

        return (os.system, ("touch PWNED_BY_CHECKPOINT",))


def test_pickled_payload_is_never_executed(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "evil.pt"
    path.write_bytes(pickle.dumps({"model": _Payload()}))
    with pytest.raises(NmtError):
        load_checkpoint(path)
    assert not (tmp_path / "PWNED_BY_CHECKPOINT").exists()


def test_foreign_and_too_new_files(tmp_path):
    plain = tmp_path / "plain.safetensors"
    save_file({"w": torch.zeros(2)}, str(plain))
    with pytest.raises(NmtError, match="not an nmt checkpoint"):
        load_checkpoint(plain)
    newer = tmp_path / "newer.safetensors"
    meta = {"format": "nmt-checkpoint", "format_version": 99, "nmt_version": "9.0"}
    save_file({"model.w": torch.zeros(2)}, str(newer), metadata={"nmt": json.dumps(meta)})
    with pytest.raises(NmtError, match="upgrade nmt"):
        load_checkpoint(newer)


def test_what_people_give_instead_of_a_checkpoint_is_named(tmp_path):
    """A directory, a torch.save / fairseq file and a recipe YAML each get their own line."""
    save_dir = tmp_path / "run"
    save_dir.mkdir()
    with pytest.raises(NmtError, match="is a directory, not a checkpoint file$"):
        load_checkpoint(save_dir)
    save_checkpoint(save_dir / "checkpoint_best.safetensors",
                    Checkpoint(meta={}, model=tiny_model().state_dict()))
    with pytest.raises(NmtError, match="did you mean .*checkpoint_best.safetensors"):
        load_checkpoint(save_dir)
    torch.save({"model": {}}, tmp_path / "checkpoint_best.pt")
    with pytest.raises(NmtError, match="PyTorch/fairseq file .*`nmt import-fairseq"):
        load_checkpoint(tmp_path / "checkpoint_best.pt")
    (tmp_path / "lstm.yaml").write_text("arch: lstm_small\n")
    with pytest.raises(NmtError, match="looks like a text file"):
        load_checkpoint(tmp_path / "lstm.yaml")
    assert load_checkpoint(save_dir / "checkpoint_best.safetensors").model  # still loads
