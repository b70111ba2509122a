"""`nmt bench translate --flops` puts the search's FLOP rate beside this host's matrix-product peak."""

import json
import math

from nmt.bench.throughput import count_flops
from nmt.cli.main import main

LINES = ["A dog runs in the snow.", "Two men are sitting on a bench.", "A girl plays."]


def test_count_flops_counts_a_matrix_product():
    import torch

    a, b = torch.randn(3, 4), torch.randn(4, 5)
    assert count_flops(lambda: a @ b) == 2 * 3 * 4 * 5


def test_bench_translate_reports_the_search_flop_rate(imported_tiny1, tmp_path, capsys):
    source = tmp_path / "in.txt"
    source.write_text("\n".join(LINES) + "\n")
    assert main(["bench", "translate", "--checkpoint", str(imported_tiny1), "--input", str(source),
                 "--repeats", "1", "--flops"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["search_gflops_per_s"] > 0 and result["matmul_peak_gflops_per_s"] > 0
    expected = result["search_gflops_per_s"] / result["matmul_peak_gflops_per_s"]
    assert math.isclose(result["share_of_peak"], expected, rel_tol=0.05, abs_tol=1e-3)


def test_flops_of_int8_layers_are_a_one_line_error(imported_tiny1, tmp_path, capsys):
    source = tmp_path / "in.txt"
    source.write_text(LINES[0] + "\n")
    assert main(["bench", "translate", "--checkpoint", str(imported_tiny1), "--input", str(source),
                 "--flops", "--quantize", "int8"]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--flops" in err
