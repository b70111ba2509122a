"""Crash safety: signals, SIGKILL at random moments, non-finite losses."""

import json
import os
import random
import signal
import subprocess
import sys
import time

import pytest
import torch

from nmt.checkpoint import files, load_checkpoint
from nmt.errors import NmtError
from nmt.training.trainer import Trainer
from tests.training.test_trainer import data_dir, tiny_cfg  # noqa: F401 (fixture)

TINY = ["--arch", "convs2s_small", "--threads", "1", "--max-tokens", "200", "--log-interval", "1",
        "--set", "model.encoder_embed_dim=16", "--set", "model.decoder_embed_dim=16",
        "--set", "model.decoder_out_embed_dim=16",
        "--set", "model.encoder_layers=[{channels: 32, kernel: 3, repeat: 2}]",
        "--set", "model.decoder_layers=[{channels: 32, kernel: 3, repeat: 2}]"]


def nmt_train(data, save, *extra):
    return [sys.executable, "-m", "nmt", "train", str(data), "--save-dir", str(save), *TINY, *extra]


def last_update(save) -> int:
    return load_checkpoint(save / files.LAST).meta["progress"]["update"]


def test_sigterm_saves_and_exits_cleanly(data_dir, tmp_path):  # noqa: F811
    save = tmp_path / "run"
    proc = subprocess.Popen(nmt_train(data_dir, save, "--max-update", "100000"),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    log = save / "train.log.jsonl"
    deadline = time.time() + 60
    while time.time() < deadline and not (log.exists() and log.read_text().count('"train"') >= 5):
        time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signal.SIGTERM
    assert "interrupted" in err and "Traceback" not in err
    events = [json.loads(line) for line in log.read_text().splitlines()]
    assert events[-1]["event"] == "done" and "SIGTERM" in events[-1]["reason"]
    assert last_update(save) == events[-1]["update"] >= 5


def test_sigkill_at_random_moments_never_corrupts_and_resumes(data_dir, tmp_path):  # noqa: F811
    """Kill -9 a real training process three times (checkpoints written every 3 updates, so some
    kills land inside a write); each restart must load checkpoint_last and carry on."""
    save, interval, rng = tmp_path / "run", 3, random.Random(7)
    args = nmt_train(data_dir, save, "--max-update", "40", "--save-interval-updates", str(interval))
    reached, log = 0, save / "train.log.jsonl"
    for _ in range(3):
        seen = log.read_text().count('"train"') if log.exists() else 0
        proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 60
        while time.time() < deadline and (log.read_text().count('"train"') if log.exists() else 0) < seen + 4:
            time.sleep(0.05)
        time.sleep(rng.uniform(0.0, 0.6))  # a random moment: mid-update, mid-write, or between
        proc.kill()
        proc.wait()
        update = last_update(save)  # loadable: never corrupt
        assert update >= reached - interval  # never further back than one interval
        reached = max(reached, update)
    proc = subprocess.run(args, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert last_update(save) == 40
    events = [json.loads(line) for line in (save / "train.log.jsonl").read_text().splitlines()]
    resumes = [e for e in events if e["event"] == "resume"]
    assert resumes and all(r["update"] >= 0 for r in resumes)
    losses = [e["loss"] for e in events if e["event"] == "train"]
    assert losses[-1] < losses[0]  # training went on, it did not restart from scratch each time


def test_nonfinite_updates_are_skipped_then_stop(data_dir, tmp_path):  # noqa: F811
    trainer = Trainer(tiny_cfg(max_update=50, max_nonfinite=3), data_dir, tmp_path, log=lambda *_: None)
    with torch.no_grad():
        next(trainer.model.parameters()).fill_(float("nan"))
    with pytest.raises(NmtError, match="3 updates in a row had a non-finite loss or gradient"):
        trainer.train()
    assert trainer.progress.update == 0


def test_oom_is_a_clear_message(data_dir, tmp_path, monkeypatch):  # noqa: F811
    trainer = Trainer(tiny_cfg(max_update=1), data_dir, tmp_path, log=lambda *_: None)

    def boom(*_a, **_k):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr(trainer, "_loss", boom)
    with pytest.raises(NmtError, match="lower --max-tokens"):
        trainer.train()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_kill_during_checkpoint_write_leaves_previous_file(tmp_path):
    """A writer killed in the middle of save_checkpoint leaves the old file readable."""
    from nmt.checkpoint import Checkpoint, save_checkpoint
    from tests.checkpoint.test_checkpoint import tiny_model

    path = tmp_path / "checkpoint_last.safetensors"
    save_checkpoint(path, Checkpoint(meta={"progress": {"update": 1}}, model=tiny_model().state_dict()))
    big = {f"w{i}": torch.randn(512, 512) for i in range(40)}  # ~40 MB: slow enough to interrupt
    for delay in (0.0, 0.01, 0.03, 0.06):
        pid = os.fork()
        if pid == 0:
            try:
                save_checkpoint(path, Checkpoint(meta={"progress": {"update": 2}}, model=big))
            finally:
                os._exit(0)
        time.sleep(delay)
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        assert load_checkpoint(path).meta["progress"]["update"] in (1, 2)
