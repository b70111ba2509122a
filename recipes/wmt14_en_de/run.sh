#!/usr/bin/env bash
# WMT'14 En-De as in the ConvS2S paper, end to end: prepare + preprocess, train, translate the test set, score it.
# Usage: NMT_DATA=../shared/data bash recipes/wmt14_en_de/run.sh [--model convs2s]
#            [--valid-every N] [nmt train args ...]
#   NMT_DATA       a local mirror laid out like shared/data (otherwise the corpus is downloaded)
#   --model        which recipe YAML in this folder to train (default convs2s)
#   --valid-every  hold out every N-th training pair as validation data, as the paper did
#                  (fairseq: N=100), instead of newstest2013
#   other args     passed to `nmt train` (e.g. --device cuda, --precision bf16)
# Every stage skips work that is already done; re-running resumes training where it stopped.
# The paper trained for 18.5 days on one GPU: this is not a CPU recipe. See README.md.
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

data=data-bin/wmt14_en_de
save=checkpoints/wmt14_en_de/$model

echo "== stage 1: prepare and preprocess WMT'14 En-De (Moses -a, joint BPE, 40k merges) -> $data"
prepare_stage "$here/README.md" preprocess/wmt14_en_de.sh --destdir "$data" "${prep[@]}"

train_stage "$data" "$here/$model.yaml" "$save" "${extra[@]}"

raw=work/wmt14_en_de  # newstest2014, the full 3,003-sentence version (= sacrebleu -t wmt14/full)
translate_and_score "$save/checkpoint_best.safetensors" "$raw/test.en" "$save/newstest2014.beam5.de" 5 \
  --ref "$raw/test.de" --tokenized-bleu de
