"""`nmt` itself: process-wide settings made before any command runs."""

import subprocess
import sys

PROBE = """
import contextlib, io, sys, torch
from nmt.cli import main as cli
if sys.argv[1] == "run":
    with contextlib.redirect_stdout(io.StringIO()):
        cli.main(["bench", "forget-mult", "--time", "2", "--batch", "1", "--hidden", "2",
                  "--repeats", "1", "--threads", "1"])
tiny = torch.full((64,), 1e-39)  # a denormal float32
print((tiny * 1.0).sum().item())
"""


def probe(mode: str) -> float:
    out = subprocess.run([sys.executable, "-c", PROBE, mode], capture_output=True, text=True,
                         check=True).stdout
    return float(out.strip().splitlines()[-1])


def test_torch_commands_flush_denormal_floats_to_zero():
    """Denormals take a slow path on x86 (a QRNN on long sources trained 20x slower)."""
    assert probe("plain") > 0  # without the setting the denormal survives
    assert probe("run") == 0.0


def test_an_unknown_option_shows_the_commands_usage(capsys):
    import pytest

    from nmt.cli.main import main

    with pytest.raises(SystemExit) as stop:
        main(["translate", "--checkpoint", "x.safetensors", "--source-lang", "en"])
    err = capsys.readouterr().err
    assert stop.value.code == 2 and err.startswith("usage: nmt translate")
    assert "unrecognized arguments: --source-lang en" in err


def test_a_missing_data_dir_or_save_dir_is_named_with_exit_2(tmp_path, capsys):
    from nmt.cli.main import main

    assert main(["train", "--arch", "lstm_small", "--save-dir", str(tmp_path)]) == 2
    assert "missing DATA_DIR" in capsys.readouterr().err
    assert main(["train", str(tmp_path), "--arch", "lstm_small"]) == 2
    assert "missing --save-dir" in capsys.readouterr().err
    assert main(["train", str(tmp_path / "nowhere"), "--arch", "lstm_small", "--save-dir",
                 str(tmp_path / "run")]) == 1
    assert "data directory not found" in capsys.readouterr().err
