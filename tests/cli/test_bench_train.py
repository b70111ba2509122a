"""`nmt bench train` prints the FLOP rate beside this host's matrix-product peak."""

import json
import math

from nmt.bench.throughput import matmul_peak_gflops
from nmt.cli.main import main
from tests.training.test_trainer import data_dir  # noqa: F401 (fixture)


def test_the_matmul_peak_is_a_rate():
    for precision in ("fp32", "bf16"):
        peak = matmul_peak_gflops(precision, n=128, repeats=2)
        assert math.isfinite(peak) and peak > 0.01


def test_bench_train_reports_its_share_of_the_peak(data_dir, capsys):  # noqa: F811
    assert main(["bench", "train", str(data_dir), "--arch", "convs2s_small", "--precision", "bf16",
                 "--warmup", "1", "--windows", "1", "--window-updates", "2", "--threads", "1"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["precision"] == "bf16" and result["matmul_peak_gflops_per_s"] > 0
    expected = result["gflops_per_s"] / result["matmul_peak_gflops_per_s"]
    assert math.isclose(result["share_of_peak"], expected, rel_tol=0.05, abs_tol=1e-3)
