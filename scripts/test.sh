#!/usr/bin/env bash
# Set up the environment if needed, then run the whole test suite. Real corpora and the fairseq
# reference fixtures are read in place from ../shared (NMT_DATA overrides the corpus mirror).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh
export NMT_DATA=${NMT_DATA:-../shared/data}
exec "${NMT_VENV:-.venv}/bin/python" -m pytest -q "$@"
