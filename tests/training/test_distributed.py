"""DDP on CPU with 2 gloo processes under torchrun equals 1 process with --update-freq 2."""

import subprocess
import sys

import torch

from nmt.checkpoint import files, load_checkpoint
from tests.training.test_fault_tolerance import TINY
from tests.training.test_trainer import data_dir  # noqa: F401 (fixture)

COMMON = [*TINY, "--max-update", "4", "--dropout", "0", "--max-tokens", "120",
          "--optimizer", "adam", "--lr", "0.002"]


def run(cmd):
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc


def test_two_ranks_equal_one_rank_with_update_freq_two(data_dir, tmp_path):  # noqa: F811
    one, two = tmp_path / "one", tmp_path / "two"
    run([sys.executable, "-m", "nmt", "train", str(data_dir), "--save-dir", str(one), *COMMON, "--update-freq", "2"])
    run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
         "-m", "nmt", "train", str(data_dir), "--save-dir", str(two), *COMMON])
    a, b = load_checkpoint(one / files.LAST), load_checkpoint(two / files.LAST)
    assert a.meta["progress"]["update"] == b.meta["progress"]["update"] == 4
    assert a.meta["progress"]["batch_in_epoch"] == b.meta["progress"]["batch_in_epoch"]
    for key, value in a.model.items():
        assert torch.allclose(value, b.model[key], atol=2e-6), key
    # only rank 0 wrote: one log, one set of checkpoints
    assert (two / "train.log.jsonl").read_text().count('"done"') == 1

    # resume with another world size: the 2-rank run continues on 1 rank
    run([sys.executable, "-m", "nmt", "train", str(data_dir), "--save-dir", str(two), *COMMON,
         "--update-freq", "2", "--max-update", "6"])
    assert load_checkpoint(two / files.LAST).meta["progress"]["update"] == 6
