"""Atomic writes keep the permissions a plain write would give."""

import os
import stat

import pytest

from nmt.data.files import atomic_write


@pytest.fixture
def umask_027():
    old = os.umask(0o027)
    yield
    os.umask(old)


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_a_new_file_gets_what_the_umask_leaves(tmp_path, umask_027):
    with atomic_write(tmp_path / "out.txt") as f:
        f.write("x\n")
    assert mode(tmp_path / "out.txt") == 0o640
    with open(tmp_path / "plain.txt", "w") as f:  # what open() itself does, for comparison
        f.write("x\n")
    assert mode(tmp_path / "plain.txt") == 0o640


def test_an_existing_file_keeps_its_permissions(tmp_path, umask_027):
    target = tmp_path / "out.txt"
    target.write_text("old\n")
    os.chmod(target, 0o604)
    with atomic_write(target) as f:
        f.write("new\n")
    assert target.read_text() == "new\n" and mode(target) == 0o604


def test_checkpoints_get_what_the_umask_leaves(tmp_path, umask_027):
    import torch

    from nmt.checkpoint import Checkpoint, save_checkpoint

    save_checkpoint(tmp_path / "c.safetensors", Checkpoint(meta={}, model={"w": torch.zeros(2)}))
    assert mode(tmp_path / "c.safetensors") == 0o640
