#!/usr/bin/env bash
# IWSLT'14 De-En (fairseq's split), end to end: prepare + preprocess, train, translate the test set, score it.
# Usage: NMT_DATA=../shared/data bash recipes/iwslt14_de_en/run.sh [--model convs2s]
#            [--train-dir DIR] [nmt train args ...]
#   NMT_DATA     a local mirror laid out like shared/data (otherwise the corpus is downloaded)
#   --model      which recipe YAML in this folder to train (default convs2s)
#   --train-dir  a directory holding train.tags.de-en.{de,en} (instead of de-en.tgz)
#   other args   passed to `nmt train` (e.g. --precision fp32, --stop-time-minutes 600)
# Every stage skips work that is already done; re-running resumes training where it stopped.
# The local mirror has the test set but not the training data: see README.md.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
model=convs2s
prep=()
extra=()
while (($#)); do
  case $1 in
    --model) model=$2; shift 2 ;;
    --train-dir) prep+=(--train-dir "$(cd "$2" && pwd)"); shift 2 ;;
    *) extra+=("$1"); shift ;;
  esac
done
[[ -f $here/$model.yaml ]] || { echo "run.sh: no recipe $here/$model.yaml" >&2; exit 2; }
source "$here/../common.sh"
recipe_env "$root"

data=data-bin/iwslt14_de_en
save=checkpoints/iwslt14_de_en/$model

echo "== stage 1: prepare and preprocess IWSLT'14 De-En (lowercased, joint BPE, 10k merges) -> $data"
prepare_stage "$here/README.md" preprocess/iwslt14_de_en.sh --destdir "$data" "${prep[@]}"

train_stage "$data" "$here/$model.yaml" "$save" "${extra[@]}"

raw=work/iwslt14_de_en  # raw test set: dev2010 + TEDX.dev2012 + tst2010-2012 (6,750 lines)
# the recipe lowercases (as fairseq's), so the scores are case-insensitive
translate_and_score "$save/checkpoint_best.safetensors" "$raw/test.de" "$save/test.beam5.en" 5 \
  --ref "$raw/test.en" --lowercase --metrics bleu chrf
