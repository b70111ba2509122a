#!/usr/bin/env bash
# Character-level Multi30k en-de: prepare + preprocess (--bpe char), train, translate test2016, score.
# Usage: NMT_DATA=../shared/data bash recipes/multi30k_en_de_char/run.sh [--model char_qrnn|char_lstm]
# Every stage skips work that is already done; re-running resumes training where it stopped.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
model=char_qrnn
extra=()
while (($#)); do
  case $1 in
    --model) model=$2; shift 2 ;;
    *) extra+=("$1"); shift ;;
  esac
done
[[ -f $here/$model.yaml ]] || { echo "run.sh: no recipe $here/$model.yaml" >&2; exit 2; }
source "$here/../common.sh"
recipe_env "$root"

data=data-bin/multi30k_en_de_char
save=checkpoints/multi30k_en_de_char/$model

echo "== stage 1: prepare and preprocess Multi30k en-de as characters -> $data"
bash preprocess/multi30k.sh --pair en-de --destdir "$data" --bpe char

train_stage "$data" "$here/$model.yaml" "$save" "${extra[@]}"

TRANSLATE_ARGS=(--max-len-a 1.5 --max-len-b 20)  # outputs are characters: allow long ones
raw=work/multi30k_en_de
translate_and_score "$save/checkpoint_best.safetensors" "$raw/test.en" "$save/test2016.beam5.de" 5 \
  --ref "$raw/test.de" --metrics bleu chrf
