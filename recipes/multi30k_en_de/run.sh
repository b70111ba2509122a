#!/usr/bin/env bash
# Multi30k en-de, end to end: prepare + preprocess, train, translate test2016, score it.
# Usage: NMT_DATA=../shared/data bash recipes/multi30k_en_de/run.sh [--model convs2s] [--long]
#   NMT_DATA   a local mirror laid out like shared/data (otherwise the corpus is downloaded)
#   --model    which recipe YAML in this folder to train (default convs2s)
#   --long     the longer setting (see README.md): no time limit, trains to the lr floor
# Every stage skips work that is already done; re-running resumes training where it stopped.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
model=convs2s
extra=()
while (($#)); do
  case $1 in
    --model) model=$2; shift 2 ;;
    --long) extra+=(--set stop_time_minutes=null --set max_epoch=null); shift ;;
    *) extra+=("$1"); shift ;;
  esac
done
source "$here/../common.sh"
recipe_env "$root"

data=data-bin/multi30k_en_de
save=checkpoints/multi30k_en_de/$model

echo "== stage 1: prepare and preprocess Multi30k en-de (joint BPE, 10k merges) -> $data"
bash preprocess/multi30k.sh --pair en-de --destdir "$data"

train_stage "$data" "$here/$model.yaml" "$save" "${extra[@]}"

raw=work/multi30k_en_de  # raw test2016 (Flickr), 1,000 sentences
for beam in 5 1; do
  translate_and_score "$save/checkpoint_best.safetensors" "$raw/test.en" "$save/test2016.beam$beam.de" "$beam" \
    --ref "$raw/test.de"
done
