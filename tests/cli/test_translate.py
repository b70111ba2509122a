"""`nmt translate` end to end on the imported fairseq fixture models."""

import math
import subprocess
import sys
import threading

import pytest

from nmt.cli.main import main
from tests.conftest import read_gz_lines


@pytest.fixture(scope="module")
def tiny1(imported_tiny1):
    return imported_tiny1


def fairseq_hyps(fairseq_fixtures, beam):
    rows = (fairseq_fixtures / "tiny1" / "gen" / f"beam{beam}.bpe.tsv").read_text(encoding="utf-8").splitlines()[1:]
    return [(float(r.split("\t")[1]) * math.log(2), r.split("\t")[2]) for r in rows]


@pytest.mark.parametrize("beam", [5, 1])
def test_fixture_translations_are_fairsegs(tiny1, fairseq_fixtures, tmp_path, beam):
    out = tmp_path / "hyp"
    assert main(["translate", "--checkpoint", str(tiny1), "--input", str(fairseq_fixtures / "test_2016_flickr.bpe.en"),
                 "--input-format", "pieces", "--output-format", "pieces", "--beam", str(beam),
                 "--batch-size", "64", "--scores", "--output", str(out)]) == 0
    got = [line.split("\t") for line in out.read_text(encoding="utf-8").splitlines()]
    want = fairseq_hyps(fairseq_fixtures, beam)
    assert len(got) == 1000
    assert [g[1] for g in got] == [w[1] for w in want]
    assert max(abs(float(g[0]) - w[0]) for g, w in zip(got, want)) < 1e-4


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_int8_translates_like_float_in_either_precision(tiny1, fairseq_fixtures, tmp_path, precision):
    """--quantize int8 with --precision bf16 works (int8 layers get fp32 inputs) and changes few
    translations of the fixture model."""
    src = tmp_path / "src"
    lines = (fairseq_fixtures / "test_2016_flickr.bpe.en").read_text(encoding="utf-8").splitlines()
    src.write_text("\n".join(lines[:100]) + "\n", encoding="utf-8")
    out = tmp_path / "hyp"
    assert main(["translate", "--checkpoint", str(tiny1), "--input", str(src), "--input-format",
                 "pieces", "--output-format", "pieces", "--quantize", "int8", "--precision",
                 precision, "--output", str(out)]) == 0
    got = out.read_text(encoding="utf-8").splitlines()
    want = [w[1] for w in fairseq_hyps(fairseq_fixtures, 5)[:100]]
    assert len(got) == 100 and sum(g == w for g, w in zip(got, want)) >= 70


def test_raw_text_in_gives_the_same_translations(tiny1, fairseq_fixtures, nmt_data, tmp_path):
    raw = read_gz_lines(nmt_data / "multi30k/raw/test_2016_flickr.en.gz")[:200]
    (tmp_path / "src.en").write_text("\n".join(raw) + "\n", encoding="utf-8")
    assert main(["translate", "--checkpoint", str(tiny1), "--input", str(tmp_path / "src.en"),
                 "--output-format", "pieces", "--output", str(tmp_path / "hyp")]) == 0
    got = (tmp_path / "hyp").read_text(encoding="utf-8").splitlines()
    assert got == [w[1] for w in fairseq_hyps(fairseq_fixtures, 5)[:200]]
    assert main(["translate", "--checkpoint", str(tiny1), "--input", str(tmp_path / "src.en"),
                 "--output", str(tmp_path / "detok")]) == 0
    detok = (tmp_path / "detok").read_text(encoding="utf-8").splitlines()
    assert detok[0] == "Ein Mann in einem orangefarbenen Hut macht etwas auf etwas."


def test_line_count_and_order_with_empty_lines(tiny1, nmt_data, tmp_path, capsys):
    raw = read_gz_lines(nmt_data / "multi30k/raw/test_2016_flickr.en.gz")[:30]
    mixed = []
    for i, line in enumerate(raw):
        mixed.append(line)
        if i % 7 == 0:
            mixed.extend(["", "   \t "])
    (tmp_path / "mixed.en").write_text("\n".join(mixed) + "\n", encoding="utf-8")
    (tmp_path / "plain.en").write_text("\n".join(raw), encoding="utf-8")  # no final newline
    for name in ("mixed", "plain"):
        assert main(["translate", "--checkpoint", str(tiny1), "--input", str(tmp_path / f"{name}.en"),
                     "--batch-size", "4", "--output", str(tmp_path / f"{name}.de")]) == 0
    mixed_out = (tmp_path / "mixed.de").read_text(encoding="utf-8").split("\n")[:-1]
    plain_out = (tmp_path / "plain.de").read_text(encoding="utf-8").split("\n")[:-1]
    assert len(mixed_out) == len(mixed) and len(plain_out) == len(raw)
    assert [o for o, i in zip(mixed_out, mixed) if i.strip()] == plain_out
    assert all(o == "" for o, i in zip(mixed_out, mixed) if not i.strip())


def test_nbest_and_alignment_formats(tiny1, fairseq_fixtures, tmp_path, capsys):
    src = tmp_path / "s.en"
    src.write_text("A man in an orange hat.\nTwo dogs play in the snow.\n", encoding="utf-8")
    assert main(["translate", "--checkpoint", str(tiny1), "--input", str(src), "--nbest", "3", "--scores"]) == 0
    rows = [r.split("\t") for r in capsys.readouterr().out.splitlines()]
    assert [(r[0], r[1]) for r in rows] == [("0", "1"), ("0", "2"), ("0", "3"), ("1", "1"), ("1", "2"), ("1", "3")]
    assert float(rows[0][2]) >= float(rows[1][2]) >= float(rows[2][2])
    assert main(["translate", "--checkpoint", str(tiny1), "--input", str(src)]) == 0
    one_best = capsys.readouterr().out.splitlines()
    assert [rows[0][3], rows[3][3]] == one_best
    assert main(["translate", "--checkpoint", str(tiny1), "--input", str(src), "--print-alignment",
                 "--output-format", "pieces"]) == 0
    text, align = capsys.readouterr().out.splitlines()[0].split("\t")
    assert len(align.split()) == len(text.split())


def test_replace_unk_copies_the_attended_source_piece(tiny1, tmp_path, capsys):
    src = tmp_path / "s.en"
    src.write_text("A man in an orange hat.\n", encoding="utf-8")
    # a large negative unk penalty makes <unk> win everywhere, so every output piece is replaced
    assert main(["translate", "--checkpoint", str(tiny1), "--input", str(src), "--unkpen", "-60",
                 "--max-len-b", "5", "--output-format", "pieces"]) == 0
    assert set(capsys.readouterr().out.split()) == {"<unk>"}
    (tmp_path / "d.txt").write_text("man Mann\n")
    assert main(["translate", "--checkpoint", str(tiny1), "--input", str(src), "--unkpen", "-60",
                 "--max-len-b", "5", "--output-format", "pieces", "--replace-unk", str(tmp_path / "d.txt")]) == 0
    pieces = capsys.readouterr().out.split()
    assert pieces and set(pieces) <= {"A", "Mann", "in", "an", "orange", "hat", "."}


def test_errors_leave_no_output(tiny1, tmp_path, capsys):
    out = tmp_path / "out.de"
    (tmp_path / "bad.en").write_bytes(b"A dog.\nA \xff cat.\n")
    (tmp_path / "junk.safetensors").write_bytes(b"\x00" * 100)
    cases = [
        (["--checkpoint", str(tmp_path / "none.safetensors"), "--input", str(tmp_path / "bad.en")], "checkpoint not found"),
        (["--checkpoint", str(tmp_path / "junk.safetensors"), "--input", str(tmp_path / "bad.en")], "not a readable nmt checkpoint"),
        (["--checkpoint", str(tiny1), "--input", str(tmp_path / "missing.en")], "input file not found"),
        (["--checkpoint", str(tiny1), "--input", str(tmp_path / "bad.en")], "bad.en, line 2: invalid UTF-8"),
    ]
    for args, message in cases:
        assert main(["translate", *args, "--output", str(out)]) == 1
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1
        assert not out.exists() and not list(tmp_path.glob(".out.de*"))


def test_a_line_through_an_open_pipe_is_answered_before_eof(tiny1):
    """A program that keeps its end of the pipe open gets each translation as it asks."""
    proc = subprocess.Popen([sys.executable, "-m", "nmt", "translate", "--checkpoint", str(tiny1),
                             "--beam", "2"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    answers: list[str] = []

    def ask():
        for line in ("A dog runs.", "A man sleeps."):
            proc.stdin.write(line + "\n")
            proc.stdin.flush()
            answers.append(proc.stdout.readline())  # hung until EOF before the fix

    asker = threading.Thread(target=ask, daemon=True)
    asker.start()
    asker.join(timeout=120)
    answered = not asker.is_alive()
    if not answered:
        proc.kill()
    proc.stdin.close()
    proc.wait(timeout=120)
    assert answered and all(a.endswith("\n") and a.strip() for a in answers)
    assert proc.returncode == 0 and proc.stdout.read() == ""


def test_streams_stdin(tiny1):
    proc = subprocess.run([sys.executable, "-m", "nmt", "translate", "--checkpoint", str(tiny1), "--beam", "2"],
                          input="A dog runs.\n\nA man sleeps.\n", capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.split("\n")
    assert len(lines) == 4 and lines[1] == "" and lines[3] == ""
