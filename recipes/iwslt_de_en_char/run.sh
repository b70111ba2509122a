#!/usr/bin/env bash
# Character-level IWSLT German-English (the QRNN paper's setting): prepare + preprocess, train,
# translate the test set (TED.tst2014), score it.
# Usage: NMT_DATA=../shared/data bash recipes/iwslt_de_en_char/run.sh [--model char_qrnn|char_lstm]
#            [--train-dir DIR] [nmt train args ...]
#   --train-dir  a folder with the IWSLT 2016 train.tags.de-en.{de,en} (not in the local mirror)
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
model=char_qrnn
prep=()
extra=()
while (($#)); do
  case $1 in
    --model) model=$2; shift 2 ;;
    --train-dir) prep+=(--train-dir "$2"); shift 2 ;;
    *) extra+=("$1"); shift ;;
  esac
done
[[ -f $here/$model.yaml ]] || { echo "run.sh: no recipe $here/$model.yaml" >&2; exit 2; }
source "$here/../common.sh"
recipe_env "$root"

data=data-bin/iwslt16_de_en_char
save=checkpoints/iwslt16_de_en_char/$model

echo "== stage 1: prepare and preprocess IWSLT'16 de-en as characters -> $data"
prepare_stage "$here/README.md" preprocess/iwslt_de_en_char.sh --destdir "$data" "${prep[@]}"

train_stage "$data" "$here/$model.yaml" "$save" "${extra[@]}"

TRANSLATE_ARGS=(--max-len-a 1.5 --max-len-b 20)  # outputs are characters
raw=work/iwslt16_de_en_char
translate_and_score "$save/checkpoint_best.safetensors" "$raw/test.de" "$save/tst2014.beam5.en" 5 \
  --ref "$raw/test.en" --metrics bleu chrf
