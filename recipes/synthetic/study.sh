#!/usr/bin/env bash
# The copy-memory study: every model family on the delay task at several delays, the same training
# budget each, then one table of accuracy and time to near-zero loss.
# Usage: bash recipes/synthetic/study.sh [--delays "100 500"] [--minutes 3] [--jobs 2]
#          [--archs "convs2s_small lstm_small qrnn_small tcn_small dilated_rnn_small"]
#   --jobs   trainings side by side, each on (cores / jobs) threads
# Results: checkpoints/synthetic/delay{T}/{arch}/ (as run.sh leaves them) and the table in
# checkpoints/synthetic/study.md. Re-running retrains nothing that has used its budget.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
delays="100 500" minutes=3 jobs=2
archs="convs2s_small lstm_small qrnn_small tcn_small dilated_rnn_small"
while (($#)); do
  case $1 in
    --delays) delays=$2; shift 2 ;;
    --archs) archs=$2; shift 2 ;;
    --minutes) minutes=$2; shift 2 ;;
    --jobs) jobs=$2; shift 2 ;;
    *) echo "study.sh: unknown option $1 (see the usage at the top of the script)" >&2; exit 2 ;;
  esac
done
source "$here/../common.sh"
recipe_env "$root"
threads=$(threads_per_job "$jobs")
mkdir -p checkpoints/synthetic

for delay in $delays; do
  bash "$here/run.sh" --task delay --delay "$delay" --prepare-only
done
for delay in $delays; do
  for arch in $archs; do
    wait_for_slot "$jobs"
    log=checkpoints/synthetic/delay$delay.$arch.out
    echo "== delay $delay, $arch, $minutes minutes on $threads thread(s) -> $log"
    OMP_WAIT_POLICY=PASSIVE bash "$here/run.sh" --task delay --delay "$delay" --arch "$arch" \
      --minutes "$minutes" --threads "$threads" --log-interval 10 > "$log" 2>&1 &
  done
done
wait || true  # a failed run shows up as a gap in the table

runs=()
for delay in $delays; do for arch in $archs; do runs+=("checkpoints/synthetic/delay$delay/$arch"); done; done
python "$here/study_table.py" "${runs[@]}" | tee checkpoints/synthetic/study.md
