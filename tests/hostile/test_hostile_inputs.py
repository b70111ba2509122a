"""A corpus of bad and unusual inputs, run through every command: each gives a correct result or
one clear error line and a non-zero exit; never a traceback, a hang or a half-written output."""

import os
import pickle
import shutil
import subprocess
import sys

from nmt.cli.main import main

ODD_LINES = [
    "Cafe\u0301 na\u0308ive e\u0301le\u0300ve",  # combining marks
    "\u05e9\u05dc\u05d5\u05dd \u0645\u0631\u062d\u0628\u0627 hello",  # right-to-left scripts
    "A dog \U0001F436 runs \U0001F3C3\u200d\u2642\ufe0f fast",  # emoji, ZWJ sequence
    "tab\there\x07bell\x1b[31mescape\x00nul",  # control characters
    "\u00a0\u2028 odd spaces \u3000",  # unusual white space
]


def one_error(capsys, code, *needles):
    err = capsys.readouterr().err
    assert code != 0 and "Traceback" not in err, err
    assert err.count("\n") == 1, err
    assert all(n in err for n in needles), err
    return err


# -- hostile checkpoints --------------------------------------------------------------------

def bad_checkpoints(tmp_path, good):
    data = good.read_bytes()
    files = {
        "truncated": data[: len(data) // 3],
        "header-only": data[:8],
        "garbage": os.urandom(4096),
        "empty": b"",
        "pickle": pickle.dumps({"model": "x"}),
        "text": b"this is not a checkpoint\n",
    }
    for name, content in files.items():
        (tmp_path / f"{name}.safetensors").write_bytes(content)
    return [tmp_path / f"{name}.safetensors" for name in files]


def test_bad_checkpoints_in_every_command(ckpt, tmp_path, capsys):
    src = tmp_path / "in.en"
    src.write_text("A dog.\n")
    for bad in bad_checkpoints(tmp_path, ckpt):
        out = tmp_path / "out.de"
        one_error(capsys, main(["translate", "--checkpoint", str(bad), "--input", str(src), "--output", str(out)]),
                  str(bad))
        assert not out.exists()
        one_error(capsys, main(["average", str(ckpt), str(bad), "--output", str(tmp_path / "avg")]), str(bad))
        assert not (tmp_path / "avg").exists()


def test_checkpoint_of_another_vocabulary_or_architecture(ckpt, tmp_path, capsys):
    from nmt.checkpoint import load_checkpoint, save_checkpoint

    c = load_checkpoint(ckpt)
    wrong_vocab = dict(c.assets)
    wrong_vocab["dict.de.txt"] = b"a 1\nb 1\n"
    c.assets = wrong_vocab
    save_checkpoint(tmp_path / "vocab.safetensors", c)
    (tmp_path / "in.en").write_text("A dog.\n")
    one_error(capsys, main(["translate", "--checkpoint", str(tmp_path / "vocab.safetensors"),
                            "--input", str(tmp_path / "in.en")]), "dictionary does not match")
    c = load_checkpoint(ckpt)
    c.meta["family"] = "transformer"
    save_checkpoint(tmp_path / "arch.safetensors", c)
    one_error(capsys, main(["translate", "--checkpoint", str(tmp_path / "arch.safetensors"),
                            "--input", str(tmp_path / "in.en")]), "unknown model family")
    c = load_checkpoint(ckpt)
    c.meta["model_config"]["encoder_embed_dim"] = 32
    save_checkpoint(tmp_path / "shape.safetensors", c)
    one_error(capsys, main(["translate", "--checkpoint", str(tmp_path / "shape.safetensors"),
                            "--input", str(tmp_path / "in.en")]), "do not fit")


# -- hostile text ---------------------------------------------------------------------------

def test_odd_unicode_control_characters_and_no_final_newline_translate(ckpt, tmp_path):
    src = tmp_path / "odd.en"
    src.write_text("\n".join(ODD_LINES), encoding="utf-8")  # no final newline
    assert main(["translate", "--checkpoint", str(ckpt), "--input", str(src), "--output", str(tmp_path / "o")]) == 0
    out = (tmp_path / "o").read_text(encoding="utf-8").split("\n")
    assert len(out) == len(ODD_LINES) + 1 and out[-1] == ""


def test_very_long_line_is_cut_not_fatal(ckpt, tmp_path, capsys):
    src = tmp_path / "long.en"
    src.write_text("A dog runs . " * 8000 + "\nA cat.\n")  # ~100k characters
    assert main(["translate", "--checkpoint", str(ckpt), "--input", str(src), "--beam", "1",
                 "--max-len-b", "20", "--output", str(tmp_path / "o")]) == 0
    assert len((tmp_path / "o").read_text().splitlines()) == 2
    assert "were cut" in capsys.readouterr().err


def test_binary_garbage_as_text_everywhere(ckpt, tmp_path, capsys):
    junk = tmp_path / "junk.en"
    junk.write_bytes(b"ok line\n" + bytes(range(128, 256)) + b"\n")
    shutil.copy(junk, tmp_path / "junk.de")
    one_error(capsys, main(["translate", "--checkpoint", str(ckpt), "--input", str(junk), "--output",
                            str(tmp_path / "o")]), "junk.en, line 2: invalid UTF-8")
    assert not (tmp_path / "o").exists()
    one_error(capsys, main(["score", "--hyp", str(junk), "--ref", str(junk)]), "line 2: invalid UTF-8")
    one_error(capsys, main(["preprocess", "-s", "en", "-t", "de", "--trainpref", str(tmp_path / "junk"),
                            "--destdir", str(tmp_path / "bin"), "--workers", "1"]), "line 2: invalid UTF-8")
    assert not (tmp_path / "bin").exists()


def test_empty_input_file(ckpt, tmp_path, capsys):
    empty = tmp_path / "empty.en"
    empty.write_text("")
    assert main(["translate", "--checkpoint", str(ckpt), "--input", str(empty), "--output", str(tmp_path / "o")]) == 0
    assert (tmp_path / "o").read_text() == ""
    shutil.copy(empty, tmp_path / "empty.de")
    one_error(capsys, main(["preprocess", "-s", "en", "-t", "de", "--trainpref", str(tmp_path / "empty"),
                            "--destdir", str(tmp_path / "bin"), "--workers", "1"]), "training set is empty")


def test_odd_unicode_preprocesses(tmp_path, capsys):
    lines = ODD_LINES * 4
    (tmp_path / "t.en").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (tmp_path / "t.de").write_text("\n".join(reversed(lines)) + "\n", encoding="utf-8")
    for bpe in ("subword-nmt", "sentencepiece", "char"):
        dest = tmp_path / f"bin-{bpe}"
        code = main(["preprocess", "-s", "en", "-t", "de", "--trainpref", str(tmp_path / "t"), "--destdir",
                     str(dest), "--bpe", bpe, "--bpe-merges", "50", "--vocab-size", "46", "--workers", "1"])
        assert code == 0, capsys.readouterr().err


# -- hostile data directories ---------------------------------------------------------------

def test_data_dir_with_a_missing_split(tmp_path, capsys):
    (tmp_path / "t.en").write_text("a b c\nd e f\n")
    (tmp_path / "t.de").write_text("x y z\nu v w\n")
    dest = tmp_path / "bin"
    assert main(["preprocess", "-s", "en", "-t", "de", "--trainpref", str(tmp_path / "t"), "--destdir", str(dest),
                 "--bpe", "none", "--workers", "1"]) == 0
    capsys.readouterr()
    one_error(capsys, main(["train", str(dest), "--arch", "convs2s_small", "--save-dir", str(tmp_path / "s")]),
              "split 'valid'", "missing")
    (dest / "pipeline.json").unlink()
    one_error(capsys, main(["train", str(dest), "--arch", "convs2s_small", "--save-dir", str(tmp_path / "s")]),
              "no pipeline.json")
    one_error(capsys, main(["bench", "data", str(tmp_path / "nowhere")]), "data directory not found")


def test_console_script_never_tracebacks_on_stdin_garbage(ckpt):
    proc = subprocess.run([sys.executable, "-m", "nmt", "translate", "--checkpoint", str(ckpt)],
                          input=b"fine\n\xc3\x28\n", capture_output=True, timeout=120)
    assert proc.returncode == 1 and b"Traceback" not in proc.stderr
    assert b"<stdin>, line 2: invalid UTF-8" in proc.stderr
