#!/usr/bin/env bash
# Old code against new on this machine, alternating: runs one `nmt` command N times with the code of
# commit REV and N times with the working tree, interleaved (old, new, old, new, ...), and prints the
# last line of each run's output (the JSON of `nmt bench ...`) after "old" or "new".
#   usage: bash scripts/ab_pairs.sh REV N nmt bench train data-bin/multi30k_en_de --arch convs2s_iwslt_de_en
# Relative paths in the command are taken from the project root. The old code is a temporary git
# worktree of REV, put first on the import path with PYTHONPATH; `python -P` keeps the working
# directory off it (`python -m` would otherwise import the project's own code whatever PYTHONPATH
# says), and each side checks which `nmt` it imports before it runs.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
[[ $# -ge 3 && $3 == nmt ]] || { echo "usage: bash scripts/ab_pairs.sh REV N nmt COMMAND [ARGS...]" >&2; exit 2; }
rev=$1 n=$2; shift 3
[[ $n =~ ^[1-9][0-9]*$ ]] || { echo "ab_pairs: N must be a positive number of pairs, got '$n'" >&2; exit 2; }
python=${NMT_VENV:-.venv}/bin/python
old=$(mktemp -d)
trap 'git worktree remove --force "$old" >/dev/null 2>&1 || rm -rf "$old"' EXIT
git worktree add --detach -f "$old" "$rev" >/dev/null 2>&1 || { echo "ab_pairs: no commit $rev" >&2; exit 2; }

side() {  # side NAME PYTHONPATH EXPECTED_DIR COMMAND...
  local name=$1 path=$2 want=$3; shift 3
  local got
  got=$(PYTHONPATH=$path "$python" -P -c 'import nmt, os; print(os.path.dirname(os.path.dirname(os.path.realpath(nmt.__file__))))')
  [[ $got == "$(realpath "$want")" ]] || { echo "ab_pairs: the $name side imports nmt from $got, not $want" >&2; exit 1; }
  echo "$name $(PYTHONPATH=$path "$python" -P -m nmt "$@" 2>/dev/null | tail -1)"
}
for ((i = 1; i <= n; i++)); do
  side old "$old" "$old" "$@"
  side new "" "$PWD" "$@"
done
