#!/usr/bin/env bash
# WMT'14 En-Fr as in the ConvS2S paper, end to end: prepare + preprocess, train, translate the test set, score it.
# Usage: NMT_DATA=../shared/data bash recipes/wmt14_en_fr/run.sh [--model convs2s]
#            [--valid-every N] [nmt train args ...]
#   NMT_DATA       a local mirror laid out like shared/data (otherwise the corpus is downloaded)
#   --model        which recipe YAML in this folder to train (default convs2s)
#   --valid-every  hold out every N-th training pair as validation data, as the paper did
#                  (fairseq: N=1333), instead of newstest2013
#   other args     passed to `nmt train` (e.g. --device cuda, --precision bf16)
# Every stage skips work that is already done; re-running resumes training where it stopped.
# The paper trained for about 37 days on 8 GPUs: this is not a CPU recipe. See README.md.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
model=convs2s
prep=()
extra=()
while (($#)); do
  case $1 in
    --model) model=$2; shift 2 ;;
    --valid-every) prep+=(--valid-every "$2"); shift 2 ;;
    *) extra+=("$1"); shift ;;
  esac
done
[[ -f $here/$model.yaml ]] || { echo "run.sh: no recipe $here/$model.yaml" >&2; exit 2; }
source "$here/../common.sh"
recipe_env "$root"

data=data-bin/wmt14_en_fr
save=checkpoints/wmt14_en_fr/$model

# --max-len 175: the paper's own En-Fr cleaning (175 words, ratio 1.5); the script's default is
# fairseq's 250.
echo "== stage 1: prepare and preprocess WMT'14 En-Fr (Moses -a, joint BPE, 40k merges, <= 175 words) -> $data"
prepare_stage "$here/README.md" preprocess/wmt14_en_fr.sh --destdir "$data" "${prep[@]}" --max-len 175

train_stage "$data" "$here/$model.yaml" "$save" "${extra[@]}"

raw=work/wmt14_en_fr  # newstest2014, the full 3,003-sentence version (= sacrebleu -t wmt14/full)
translate_and_score "$save/checkpoint_best.safetensors" "$raw/test.en" "$save/newstest2014.beam5.fr" 5 \
  --ref "$raw/test.fr" --tokenized-bleu fr
