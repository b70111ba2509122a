#!/usr/bin/env bash
# Create the project's virtual environment (default .venv, or $NMT_VENV) and install nmt into it.
# The CPU build of PyTorch goes in first (`pip install torch==2.13.0`, override with $NMT_TORCH),
# so that resolving nmt's own `torch` requirement never pulls a multi-gigabyte CUDA build.
# Re-running is cheap: nothing is reinstalled unless pyproject.toml changed.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
venv=${NMT_VENV:-.venv}
torch_spec=${NMT_TORCH:-torch==2.13.0}
stamp="$venv/.nmt-installed"
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  "$venv/bin/python" -m pip install -q --disable-pip-version-check "$torch_spec"
  "$venv/bin/python" -m pip install -q --disable-pip-version-check -e ".[serve,dev,plot]"
  touch "$stamp"
fi
