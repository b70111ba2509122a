"""The trainer on a small synthetic corpus: learning, exact resume, presets, config errors."""

import json
import random
import re
from dataclasses import replace

import pytest
import torch

from nmt import registry
from nmt.checkpoint import files, load_checkpoint
from nmt.cli.main import main
from nmt.config import merge
from nmt.data.preprocess import PreprocessOptions, preprocess
from nmt.training.options import TrainConfig
from nmt.training.trainer import Trainer

WORDS = "house tree dog cat red blue big small runs sees the a".split()


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    """Reverse-the-sentence pairs over a 12-word vocabulary: 120 train, 20 valid."""
    root = tmp_path_factory.mktemp("synthetic")
    rng = random.Random(0)
    for split, n in (("train", 120), ("valid", 20)):
        src = [" ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 8))) for _ in range(n)]
        (root / f"{split}.en").write_text("\n".join(src) + "\n")
        (root / f"{split}.de").write_text("\n".join(" ".join(reversed(s.split())) for s in src) + "\n")
    dest = root / "bin"
    preprocess(PreprocessOptions(source_lang="en", target_lang="de", destdir=str(dest), bpe="none",
                                 trainpref=[str(root / "train")], validpref=[str(root / "valid")], workers=1),
               log=lambda *_: None)
    return dest


def tiny_cfg(**kw) -> TrainConfig:
    model = replace(registry.preset("convs2s_small"), encoder_embed_dim=16, decoder_embed_dim=16,
                    encoder_layers=[{"channels": 32, "kernel": 3, "repeat": 2}],
                    decoder_layers=[{"channels": 32, "kernel": 3, "repeat": 2}],
                    decoder_out_embed_dim=16, dropout=0.1)
    cfg = TrainConfig(arch="convs2s_small", model=model, max_tokens=200, log_interval=1000, threads=1)
    return merge(cfg, kw)


def params(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def test_resume_is_exact(data_dir, tmp_path):
    """N updates, stop, resume, N more == 2N uninterrupted (crossing an epoch end with validation)."""
    quiet = lambda *_: None  # noqa: E731
    straight = Trainer(tiny_cfg(max_update=14), data_dir, tmp_path / "a", log=quiet)
    straight.train()
    first = Trainer(tiny_cfg(max_update=7), data_dir, tmp_path / "b", log=quiet)
    first.train()
    resumed = Trainer(tiny_cfg(max_update=14), data_dir, tmp_path / "b", log=quiet)
    assert resumed.progress.update == 7
    resumed.train()
    assert straight.progress.epoch > 1  # the run crossed an epoch boundary
    a, b = params(straight.model), params(resumed.model)
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_overfits_and_writes_checkpoints(data_dir, tmp_path):
    cfg = tiny_cfg(max_epoch=60, optim={"name": "adam", "lr": 0.01, "clip_norm": 1.0},
                   schedule={"name": "fixed"}, label_smoothing=0.0, model={"dropout": 0.0}, keep_last=2,
                   valid_split="train", valid_bleu=True, best_metric="bleu")  # the fit on the training data
    lines: list[str] = []
    trainer = Trainer(cfg, data_dir, tmp_path, log=lines.append)
    metrics = trainer.train()
    valids = [json.loads(line) for line in lines if '"event": "valid"' in line]
    assert len(valids) == 60
    seconds = [v["train_seconds"] for v in valids]  # the wall clock each epoch ended at
    assert seconds == sorted(seconds) and seconds[-1] > 0
    assert metrics["valid_nll"] < 0.05  # near-zero loss on what it trained on
    assert metrics["valid_bleu"] > 95  # and greedy search reproduces it
    names = sorted(p.name for p in tmp_path.glob("checkpoint*"))
    assert names == [files.epoch_name(59), files.epoch_name(60), files.BEST, files.LAST]
    ckpt = load_checkpoint(tmp_path / files.LAST)
    assert ckpt.meta["progress"]["epoch"] == 61 and ckpt.meta["pipeline"]["source_lang"] == "en"
    assert set(ckpt.assets) == {"dict.en.txt", "dict.de.txt"}
    assert (tmp_path / "config.yaml").is_file()


@pytest.mark.parametrize("arch", [name for name, _ in registry.describe_archs()])
def test_every_preset_builds_and_takes_a_step(arch, data_dir, tmp_path):
    cfg = TrainConfig(arch=arch, model=registry.preset(arch), max_update=1, max_tokens=200, threads=2)
    trainer = Trainer(cfg, data_dir, tmp_path, log=lambda *_: None)
    before = next(trainer.model.parameters()).detach().clone()
    trainer.train()
    assert trainer.progress.update == 1
    assert not torch.equal(before, next(trainer.model.parameters()).detach())


def test_cli_train_logs_json_and_rejects_bad_config(data_dir, tmp_path, capsys):
    save = tmp_path / "run"
    code = main(["train", str(data_dir), "--arch", "convs2s_small", "--save-dir", str(save),
                 "--max-update", "3", "--log-interval", "1", "--threads", "1", "--max-tokens", "60",
                 "--set", "model.encoder_layers=[{channels: 16, kernel: 3}]",
                 "--set", "model.decoder_layers=[{channels: 16, kernel: 3}]"])
    assert code == 0
    events = [json.loads(line) for line in (save / "train.log.jsonl").read_text().splitlines()]
    assert [e["update"] for e in events if e["event"] == "train"] == [1, 2, 3]
    assert all(e["train_seconds"] >= 0 for e in events if e["event"] == "train")
    assert events[-1]["event"] == "done"
    # the run stopped inside its first epoch: validated at the stop, a best checkpoint, one line
    assert [e.get("mid_epoch") for e in events if e["event"] == "valid"] == [True]
    assert (save / "checkpoint_best.safetensors").is_file()
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("nmt train: stopped (reached max_update 3) at update 3; best checkpoint")
    assert f"nmt translate --checkpoint {save / 'checkpoint_best.safetensors'}" in err
    assert main(["train", str(data_dir), "--arch", "convs2s_smal", "--save-dir", str(save)]) == 1
    assert "did you mean convs2s_small" in capsys.readouterr().err
    assert main(["train", str(data_dir), "--arch", "convs2s_small", "--save-dir", str(save),
                 "--set", "optim.lrr=1"]) == 1
    assert "did you mean 'optim.lr'" in capsys.readouterr().err
    (tmp_path / "r.yaml").write_text("optim:\n  name: adam\nmodel:\n  dropuot: 0.3\n")
    assert main(["train", str(data_dir), "--arch", "convs2s_small", "--save-dir", str(save),
                 "--config", str(tmp_path / "r.yaml")]) == 1
    assert "did you mean 'model.dropout'" in capsys.readouterr().err


def test_finetuning_continues_from_the_parent(data_dir, tmp_path, capsys):
    """--finetune-from starts a new run from the parent's weights (and optimiser): its first
    losses continue the parent's, not a fresh model's; the data must share the parent's pipeline."""
    quiet = lambda *_: None  # noqa: E731
    parent = Trainer(tiny_cfg(max_update=12), data_dir, tmp_path / "parent", log=quiet)
    parent.train()
    fresh = Trainer(tiny_cfg(max_update=1), data_dir, tmp_path / "fresh", log=quiet)
    fresh_loss = fresh.validate()["valid_loss"]
    parent_loss = parent.validate()["valid_loss"]
    assert parent_loss < fresh_loss - 0.05
    save = tmp_path / "child"
    code = main(["train", str(data_dir), "--save-dir", str(save), "--finetune-from",
                 str(tmp_path / "parent" / "checkpoint_last.safetensors"), "--max-update", "6",
                 "--max-tokens", "200", "--threads", "1", "--log-interval", "1000"])
    assert code == 0, capsys.readouterr().err
    events = [json.loads(line) for line in (save / "train.log.jsonl").read_text().splitlines()]
    start = next(e for e in events if e["event"] == "finetune")
    assert start["parent_update"] == 12 and start["optimizer"] == "kept"
    child = [e for e in events if e["event"] == "valid"]
    assert child[0]["update"] <= 6 and child[-1]["valid_loss"] < parent_loss  # went on lowering
    ckpt = load_checkpoint(save / "checkpoint_last.safetensors")
    assert ckpt.meta["model_config"] == load_checkpoint(
        tmp_path / "parent" / "checkpoint_last.safetensors").meta["model_config"]
    # other data (its own dictionaries): one line naming the difference
    other = tmp_path / "other"
    (other).mkdir()
    for split in ("train", "valid"):
        for lang in ("en", "de"):
            (other / f"{split}.{lang}").write_text("zebra yak\nxylophone wolf\n")
    preprocess(PreprocessOptions(source_lang="en", target_lang="de", destdir=str(other / "bin"),
                                 bpe="none", trainpref=[str(other / "train")],
                                 validpref=[str(other / "valid")], workers=1), log=lambda *_: None)
    capsys.readouterr()
    assert main(["train", str(other / "bin"), "--save-dir", str(tmp_path / "bad"),
                 "--finetune-from", str(tmp_path / "parent" / "checkpoint_last.safetensors")]) == 1
    err = capsys.readouterr().err
    assert "cannot fine-tune" in err and "differs" in err and err.count("\n") == 1


def test_readable_output_and_fairseq_spellings(data_dir, tmp_path, capsys):
    """Human lines with --log-format human (JSON still in the file), a start banner, defaults in
    --help, and fairseq's names: reduce_lr_on_plateau, --stop-time-hours; --valid-bleu and
    --best-metric as flags."""
    save = tmp_path / "run"
    assert main(["train", str(data_dir), "--arch", "convs2s_small", "--save-dir", str(save),
                 "--max-update", "2", "--log-interval", "1", "--threads", "1",
                 "--log-format", "human", "--lr-scheduler", "reduce_lr_on_plateau",
                 "--valid-bleu", "--best-metric", "bleu", "--stop-time-hours", "0.5",
                 "--set", "model.encoder_layers=[{channels: 16, kernel: 3}]",
                 "--set", "model.decoder_layers=[{channels: 16, kernel: 3}]"]) == 0
    out, err = capsys.readouterr()
    assert re.search(r"^epoch 1 \| update 1 \| loss \d+\.\d\d \| ppl [\d.]+ \| lr 0\.25 \| "
                     r"[\d,]+ tok/s$", out, re.M), out
    assert re.search(r"^valid epoch \d+ \| update 2 \| loss .* \| bleu ", out, re.M), out
    banner = next(line for line in err.splitlines() if "parameters" in line)
    assert banner.startswith("nmt train: convs2s convs2s_small, ")
    assert "parameters; 120 train / 20 valid sentences (en->de)" in banner
    events = [json.loads(line) for line in (save / "train.log.jsonl").read_text().splitlines()]
    assert events[0]["event"] == "train"  # the file keeps JSON
    cfg = load_checkpoint(save / "checkpoint_last.safetensors").meta["train_config"]
    assert cfg["stop_time_minutes"] == 30.0 and cfg["valid_bleu"] and cfg["best_metric"] == "bleu"
    assert cfg["schedule"]["name"] == "reduce_lr_on_plateau"
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    helptext = capsys.readouterr().out
    assert "(default: 4000)" in helptext and "(default: nag)" in helptext


def test_human_lines():
    from nmt.training.trainer import human_line

    assert human_line({"event": "train", "epoch": 3, "update": 384, "loss": 4.9412, "ppl": 72.61,
                       "lr": 0.25, "tokens_per_s": 4812.4}) == \
        "epoch 3 | update 384 | loss 4.94 | ppl 72.6 | lr 0.25 | 4,812 tok/s"
    assert human_line({"event": "done", "reason": "reached max_epoch 2", "epoch": 2,
                       "update": 40}) == "done: reached max_epoch 2 (epoch 2 | update 40)"
    assert human_line({"event": "resume", "update": 7}) == "resume: update 7"
