"""`nmt bench forget-mult` and `nmt bench qrnn` on tiny shapes: they run, report every variant and
compute their ratios from their own timings (the figures themselves come from real runs)."""

from __future__ import annotations

import json

import pytest

from nmt.bench import qrnn as benchmark_qrnn
from nmt.cli.main import main
from nmt.modules.forget_mult import cpu_kernel


def test_forget_mult_bench_reports_every_implementation(capsys):
    assert main(["bench", "forget-mult", "--time", "12", "--batch", "3", "--hidden", "8",
                 "--repeats", "2", "--threads", "1"]) == 0
    result = json.loads(capsys.readouterr().out)
    impls = {"reference", "torch"} | ({"cpu"} if cpu_kernel() is not None else set())
    assert set(result["ms"]) == impls and result["shape_btH"] == [3, 12, 8]
    for name, ms in result["ms"].items():
        assert ms > 0
        assert result["speedup_vs_reference"][name] == round(result["ms"]["reference"] / ms, 2)
    assert result["stream_gbps"] > 0


def test_qrnn_layer_bench_covers_the_grid_and_prints_a_table(capsys):
    args = ["bench", "qrnn", "--lengths", "4", "9", "--batches", "2", "3", "--hidden", "8",
            "--repeats", "1", "--threads", "1"]
    assert main(args) == 0
    result = json.loads(capsys.readouterr().out)
    assert [(r["T"], r["B"]) for r in result["rows"]] == [(4, 2), (4, 3), (9, 2), (9, 3)]
    for r in result["rows"]:
        for mode in ("inference", "training"):
            assert r[mode]["speedup"] == round(r[mode]["lstm_ms"] / r[mode]["qrnn_ms"], 2)
    assert main(args + ["--markdown"]) == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if line]
    assert lines[0].startswith("QRNN layer speed-up over the LSTM layer, inference")
    assert lines[1] == "| T \\ B | 2 | 3 |" and lines[3].startswith("| 4 | ")
    assert lines[5].startswith("QRNN layer speed-up over the LSTM layer, training") and len(lines) == 10


def test_figure4_table_layout():
    rows = [{"T": t, "B": b, "training": {"speedup": s}}
            for t, b, s in [(8, 1, 1.5), (8, 2, 2.0), (16, 1, 3.25), (16, 2, 4.0)]]
    assert benchmark_qrnn.figure4_table({"rows": rows}, "training").splitlines() == [
        "| T \\ B | 1 | 2 |", "|---|---|---|", "| 8 | 1.50x | 2.00x |", "| 16 | 3.25x | 4.00x |"]


@pytest.mark.parametrize("threads", ["0", "-2"])
def test_bad_thread_count_is_a_one_line_error(threads, capsys):
    assert main(["bench", "forget-mult", "--threads", threads]) == 1
    assert "--threads must be >= 1" in capsys.readouterr().err


@pytest.mark.parametrize("args", [["forget-mult", "--repeats", "0"], ["forget-mult", "--time", "0"],
                                  ["qrnn", "--lengths", "8", "0"], ["qrnn", "--batches", "-1"]])
def test_bad_sizes_are_one_line_errors(args, capsys):
    assert main(["bench", *args]) == 1
    err = capsys.readouterr().err
    assert f"--{args[1].lstrip('-')} must be >= 1" in err and len(err.strip().splitlines()) == 1
