#!/usr/bin/env bash
# Every model family on Multi30k en-de under one budget: train each recipe YAML of this folder for
# the same minutes, translate test2016 with beam 5, score it, time translation, print one table.
# Usage: NMT_DATA=../shared/data bash recipes/multi30k_en_de/compare.sh
#          [--models "convs2s lstm qrnn qrnn_multistep tcn dilated_rnn"] [--minutes 15] [--jobs 2]
#   --jobs   trainings run side by side, each on (cores / jobs) threads; with jobs = cores every
#            run has one core to itself, which is steadier than sharing all cores run after run.
# Translation is timed afterwards, one model at a time, on all cores. The table goes to stdout and
# to checkpoints/multi30k_en_de/compare/results.md. Re-running skips finished stages.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
models="convs2s lstm qrnn qrnn_multistep tcn dilated_rnn" minutes=15 jobs=2
while (($#)); do
  case $1 in
    --models) models=$2; shift 2 ;;
    --minutes) minutes=$2; shift 2 ;;
    --jobs) jobs=$2; shift 2 ;;
    *) echo "compare.sh: unknown option $1 (see the usage at the top of the script)" >&2; exit 2 ;;
  esac
done
source "$here/../common.sh"
recipe_env "$root"

data=data-bin/multi30k_en_de
out=checkpoints/multi30k_en_de/compare
raw=work/multi30k_en_de
threads=$(threads_per_job "$jobs")
# Side by side, a waiting thread sleeps at once and leaves its core to the other run; alone, it
# spins briefly first (OpenMP's default), which trained the LSTM 13% faster on 2 threads
# (3,858 vs 3,403 tokens/s, Intel Xeon, 2026-11-30).
wait_policy=$( ((jobs > 1)) && echo PASSIVE || echo ACTIVE )
for model in $models; do
  [[ -f $here/$model.yaml ]] || { echo "compare.sh: no recipe $here/$model.yaml for --models $model" >&2; exit 2; }
done
mkdir -p "$out"

echo "== stage 1: prepare and preprocess Multi30k en-de -> $data"
bash preprocess/multi30k.sh --pair en-de --destdir "$data"

echo "== stage 2: train [$models] for $minutes minutes each, $jobs at a time on $threads thread(s)"
for model in $models; do
  wait_for_slot "$jobs"
  OMP_WAIT_POLICY=$wait_policy nmt train "$data" --config "$here/$model.yaml" --save-dir "$out/$model" \
    --stop-time-minutes "$minutes" --threads "$threads" > "$out/$model.train.out" 2>&1 &
done
wait || true  # a failed run is left out of the table below, with a message
for model in $models; do tail -n 1 "$out/$model.train.out"; done

echo "== stage 3: translate, score and time each model"
trained=()
for model in $models; do
  ckpt=$out/$model/checkpoint_best.safetensors
  if [[ ! -f $ckpt ]]; then
    echo "compare.sh: $model has no checkpoint_best (see $out/$model.train.out); left out" >&2
    continue
  fi
  trained+=("$out/$model")
  translate_and_score "$ckpt" "$raw/test.en" "$out/$model/test2016.beam5.de" 5 --ref "$raw/test.de"
  for beam in 5 1; do
    json=$out/$model/bench_translate.beam$beam.json
    [[ -s $json && $json -nt $ckpt ]] && continue
    nmt bench translate --checkpoint "$ckpt" --input "$raw/test.en" --beam "$beam" --batch-size 128 \
      --repeats 3 > "$json.tmp"
    mv "$json.tmp" "$json"
  done
done

echo "== stage 4: the table"
((${#trained[@]})) || { echo "compare.sh: no model finished an epoch; nothing to compare" >&2; exit 1; }
python "$here/compare_table.py" "${trained[@]}" | tee "$out/results.md"
