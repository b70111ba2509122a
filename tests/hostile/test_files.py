"""Every file nmt writes or reads by name, attacked: special files as outputs, pipeline assets
that point outside their directory, two runs on one save directory, damaged data directories,
bad BPE codes, temporaries of killed runs, a full disk. Each case: the right exit code, one error
line without a traceback, special files still special, nothing outside the destination touched."""

import json
import os
import stat
import subprocess
import sys
import threading
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest

from nmt.cli.main import main
from nmt.data.files import remove_stale_temporaries
from nmt.training.lock import save_dir_lock
from tests.hostile.test_hostile_inputs import one_error
from tests.training.test_fault_tolerance import nmt_train
from tests.training.test_trainer import data_dir  # noqa: F401 (fixture)

ROOT_ONLY = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (device nodes, tmpfs mounts)")


@pytest.fixture
def source(tmp_path):
    path = tmp_path / "in.en"
    path.write_text("A dog runs.\nTwo men.\n")
    return path


def translate(ckpt, source, output):
    return main(["translate", "--checkpoint", str(ckpt), "--input", str(source), "--output",
                 str(output), "--beam", "2"])


def dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


# -- outputs that are not regular files ------------------------------------------------------

def test_a_fifo_output_is_written_into_and_stays_a_fifo(ckpt, source, tmp_path):
    fifo = tmp_path / "out.fifo"
    os.mkfifo(fifo)
    got = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_text()))
    reader.start()
    assert translate(ckpt, source, fifo) == 0
    reader.join(timeout=60)
    assert stat.S_ISFIFO(fifo.lstat().st_mode)
    assert len(got) == 1 and got[0].count("\n") == 2


def test_a_symlink_output_replaces_its_target_and_stays_a_link(ckpt, source, tmp_path):
    target = tmp_path / "real" / "out.de"
    target.parent.mkdir()
    target.write_text("old\n")
    link = tmp_path / "out.de"
    link.symlink_to(target)
    assert translate(ckpt, source, link) == 0
    assert link.is_symlink() and link.resolve() == target.resolve()
    assert target.read_text().count("\n") == 2 and target.read_text() != "old\n"


@ROOT_ONLY
def test_a_character_device_output_stays_a_device(ckpt, source, tmp_path):
    null = tmp_path / "null"  # our own /dev/null node: a regression cannot break the machine's
    os.mknod(null, stat.S_IFCHR | 0o666, os.makedev(1, 3))
    assert translate(ckpt, source, null) == 0
    assert stat.S_ISCHR(null.lstat().st_mode)


def test_dev_full_is_a_one_line_disk_full_error(ckpt, source, capsys):
    if not Path("/dev/full").exists():
        pytest.skip("no /dev/full here")
    one_error(capsys, translate(ckpt, source, "/dev/full"), "no space left on the device holding /dev/full")
    assert stat.S_ISCHR(os.stat("/dev/full").st_mode)


def test_a_directory_output_is_refused_before_any_work(source, tmp_path, capsys):
    out = tmp_path / "outdir"
    out.mkdir()
    missing = tmp_path / "no-such-checkpoint.safetensors"  # never looked at: the output is wrong first
    one_error(capsys, translate(missing, source, out), "is a directory")


@pytest.mark.parametrize("command", ["average", "import-fairseq"])
def test_checkpoint_outputs_refuse_fifos(ckpt, tmp_path, capsys, command):
    fifo = tmp_path / "out.fifo"
    os.mkfifo(fifo)
    args = ([str(ckpt), "--output", str(fifo)] if command == "average"
            else [str(ckpt), "--dict-dir", str(tmp_path), "--output", str(fifo)])
    one_error(capsys, main([command, *args]), "must be a regular file")
    assert stat.S_ISFIFO(fifo.lstat().st_mode)


# -- pipeline assets must stay inside their directory ----------------------------------------

def small_corpus(tmp_path) -> Path:
    for lang, lines in (("en", ["a small house .", "the dog runs"]), ("de", ["ein Haus .", "der Hund"])):
        (tmp_path / f"train.{lang}").write_text("\n".join(lines) + "\n")
    return tmp_path / "train"


def preprocess(prefix, dest, *extra):
    return main(["preprocess", "-s", "en", "-t", "de", "--trainpref", str(prefix), "--destdir",
                 str(dest), "--bpe", "none", "--workers", "1", *extra])


@pytest.fixture
def made(tmp_path, capsys):
    """A small data directory made by nmt preprocess."""
    prefix = small_corpus(tmp_path)
    assert preprocess(prefix, tmp_path / "made") == 0
    capsys.readouterr()
    return tmp_path / "made"


def edit_spec(directory: Path, edit) -> None:
    spec_path = directory / "pipeline.json"
    spec = json.loads(spec_path.read_text())
    spec_path.write_text(json.dumps(edit(spec)))


@pytest.mark.parametrize("name", ["../evil_dict.txt", "/etc/hostname", "sub/dict.txt", "..", ".hidden"])
def test_asset_names_outside_the_directory_are_refused(made, tmp_path, capsys, name):
    if name == "../evil_dict.txt":
        (tmp_path / "evil_dict.txt").write_text("secret 1\n")
    edit_spec(made, lambda s: s["languages"]["en"].update(dictionary=name) or s)
    before = sorted(p.name for p in tmp_path.iterdir())
    dest = tmp_path / "sub" / "dest"
    err = one_error(capsys, preprocess(small_corpus(tmp_path), dest, "--pipeline-from", str(made)),
                    "not a plain file name")
    assert "secret" not in err and not dest.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == before
    if Path("/etc/hostname").is_file():
        assert Path("/etc/hostname").read_text().strip() not in err.replace("/etc/hostname", "")


# -- one training run per save directory -----------------------------------------------------

def test_a_second_run_on_a_held_save_dir_is_refused(data_dir, tmp_path):  # noqa: F811
    save = tmp_path / "save"
    with save_dir_lock(save):
        proc = subprocess.run(nmt_train(data_dir, save, "--max-update", "1"), capture_output=True,
                              text=True, timeout=300)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert f"in use by another nmt train (pid {os.getpid()})" in proc.stderr
    assert not (save / "checkpoint_last.safetensors").exists()
    assert not (save / "train.log.jsonl").exists()


def test_the_lock_of_a_killed_run_is_not_stale(tmp_path):
    save = tmp_path / "save"
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time\n"
                               "from nmt.training.lock import save_dir_lock\n"
                               f"with save_dir_lock({str(save)!r}):\n"
                               "    print('held', flush=True); time.sleep(600)"],
                              stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    with pytest.raises(Exception, match="in use by another nmt train"), save_dir_lock(save):
        pass
    holder.kill()
    holder.wait()
    with save_dir_lock(save):  # kill -9 released it
        pass


# -- damaged data directories ----------------------------------------------------------------

def train_on(directory, save, capsys):
    return main(["train", str(directory), "--save-dir", str(save), "--arch", "convs2s_small",
                 "--max-update", "1", "--threads", "1", "--set", "valid_split=train"])


def damage_tokens_empty(d):
    (d / "train.en.tokens.npy").write_bytes(b"")


def damage_id_beyond_dictionary(d):
    tokens = np.load(d / "train.de.tokens.npy")
    tokens[0] = 60000
    np.save(d / "train.de.tokens.npy", tokens)


def damage_offsets(d):
    np.save(d / "train.en.offsets.npy", np.array([0, 5, 2], dtype=np.int64))


def damage_float_tokens(d):
    np.save(d / "train.en.tokens.npy", np.load(d / "train.en.tokens.npy").astype(np.float32))


def damage_spec_list(d):
    (d / "pipeline.json").write_text("[1, 2]")


def damage_spec_no_languages(d):
    edit_spec(d, lambda s: {k: v for k, v in s.items() if k != "languages"})


def damage_spec_text_type(d):
    edit_spec(d, lambda s: s["languages"]["de"]["text"].update(lowercase="yes") or s)


def damage_dictionary_utf8(d):
    (d / "dict.en.txt").write_bytes(b"\xff\xfe bad 1\n")


def damage_dictionary_line(d):
    (d / "dict.de.txt").write_bytes(b"the secret line without a count\n")


DAMAGES = {
    "zero-byte token file": (damage_tokens_empty, "corrupt binarized split train.en"),
    "token id beyond the dictionary": (damage_id_beyond_dictionary, "outside the dictionary"),
    "offsets out of order": (damage_offsets, "offsets do not index the tokens"),
    "float token array": (damage_float_tokens, "not 1-D integers"),
    "pipeline.json a list": (damage_spec_list, "must be a JSON object"),
    "pipeline.json without languages": (damage_spec_no_languages, "'languages'"),
    "text step of the wrong type": (damage_spec_text_type, "'lowercase' must be a bool"),
    "dictionary not UTF-8": (damage_dictionary_utf8, "not UTF-8"),
    "dictionary line without a count": (damage_dictionary_line, "line 1"),
}


@pytest.mark.parametrize("case", list(DAMAGES))
def test_damaged_data_dirs_are_one_line_errors(made, tmp_path, capsys, case):
    damage, needle = DAMAGES[case]
    damage(made)
    err = one_error(capsys, train_on(made, tmp_path / "save", capsys), needle)
    assert "secret" not in err
    assert not (tmp_path / "save" / "checkpoint_last.safetensors").exists()


def test_bad_bpe_codes_speak_nmt(tmp_path, capsys):
    prefix = small_corpus(tmp_path)
    made = tmp_path / "made"
    assert main(["preprocess", "-s", "en", "-t", "de", "--trainpref", str(prefix), "--destdir",
                 str(made), "--bpe", "subword-nmt", "--bpe-merges", "5", "--workers", "1"]) == 0
    codes = [p for p in made.iterdir() if "codes" in p.name]
    assert codes
    codes[0].write_text("#version: 0.2\nnot two units here\n")
    capsys.readouterr()
    err = one_error(capsys, preprocess(prefix, tmp_path / "again", "--pipeline-from", str(made)),
                    "BPE codes", "line 2")
    assert err.startswith("nmt preprocess: error:")


# -- temporaries of killed runs --------------------------------------------------------------

def test_stale_temporaries_of_the_same_destination_are_removed(ckpt, source, tmp_path):
    pid = dead_pid()
    ours = [f".out.de.{pid}.x1y2z3ab.tmp", ".out.de.ab12cd34.tmp"]  # this version's, an earlier one's
    live = f".out.de.{os.getpid()}.keepme00.tmp"  # a running process's: left alone
    theirs = [".out.de.notes", "out.de.tmp", ".other.txt.12345678.tmp", ".out.de.tmp"]
    for name in [*ours, live, *theirs]:
        (tmp_path / name).write_text("x")
    assert translate(ckpt, source, tmp_path / "out.de") == 0
    left = {p.name for p in tmp_path.iterdir()}
    assert not left & set(ours)
    assert {live, *theirs} <= left


def test_stale_checkpoint_and_preprocess_temporaries_are_removed(ckpt, tmp_path):
    pid = dead_pid()
    for name in (f".avg.safetensors.tmp{pid}", f".avg.safetensors.{pid}.tmp"):
        (tmp_path / name).write_bytes(b"x" * 100)
    partial = tmp_path / f".dest.{pid}.partial"
    partial.mkdir()
    (partial / "train.en.tokens.npy").write_bytes(b"x")
    assert main(["average", str(ckpt), "--output", str(tmp_path / "avg.safetensors")]) == 0
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".avg")) == []
    assert remove_stale_temporaries(tmp_path, "dest") == [partial] and not partial.exists()


# -- a full disk -----------------------------------------------------------------------------

@contextmanager
def full_tmpfs(where: Path, size_kb: int = 256):
    """A small tmpfs at ``where``, filled up but for a few bytes."""
    where.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_kb}k", "tmpfs", str(where)],
                      capture_output=True).returncode:
        pytest.skip("cannot mount a tmpfs here")
    try:
        (where / "old.txt").write_text("the previous output\n")
        with open(where / "filler", "wb", buffering=0) as f:
            try:
                while True:
                    f.write(b"\0" * 4096)
            except OSError:
                pass
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


@ROOT_ONLY
def test_a_full_disk_is_one_line_and_leaves_no_temporaries(ckpt, source, tmp_path, capsys):
    with full_tmpfs(tmp_path / "full") as full:
        one_error(capsys, translate(ckpt, source, full / "old.txt"),
                  f"no space left on the device holding {full / 'old.txt'}")
        assert (full / "old.txt").read_text() == "the previous output\n"
        one_error(capsys, main(["average", str(ckpt), "--output", str(full / "avg.safetensors")]),
                  "no space left on the device holding")
        prefix = small_corpus(tmp_path)
        one_error(capsys, preprocess(prefix, full / "bin"), "no space left on the device holding")
        assert sorted(p.name for p in full.iterdir()) == ["filler", "old.txt"]


@ROOT_ONLY
def test_a_full_disk_under_training_is_one_line(data_dir, tmp_path):  # noqa: F811
    with full_tmpfs(tmp_path / "full") as full:
        proc = subprocess.run(nmt_train(data_dir, full / "save", "--max-update", "2"),
                              capture_output=True, text=True, timeout=300)
        assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
        assert proc.stderr.strip().splitlines()[-1] == (
            f"nmt train: error: no space left on the device holding {full / 'save'}")
        assert not [p for p in (full / "save").iterdir() if p.name.endswith(".tmp")]
