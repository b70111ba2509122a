#!/usr/bin/env bash
# WMT'16 En-Ro as in the ConvS2S paper: (prepare + preprocess: not provided yet), train,
# (translate, score).
# Usage: bash recipes/wmt16_en_ro/run.sh [--model convs2s] [--data DIR] [nmt train args ...]
#   --model    which recipe YAML in this folder to train (default convs2s)
#   --data     the data directory to train on (default data-bin/wmt16_en_ro, from the project root)
#   other args passed to `nmt train` (e.g. --device cuda, --precision bf16)
# There is no preprocess/wmt16_en_ro.sh yet: stage 1 only checks that you made the data
# directory yourself with `nmt preprocess` (README.md says how) and stops if it is missing.
# Re-running resumes training where it stopped.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
model=convs2s
data=$root/data-bin/wmt16_en_ro
extra=()
while (($#)); do
  case $1 in
    --model) model=$2; shift 2 ;;
    --data) data=$2; [[ $data == /* ]] || data=$PWD/$data; shift 2 ;;
    *) extra+=("$1"); shift ;;
  esac
done
[[ -f $here/$model.yaml ]] || { echo "run.sh: no recipe $here/$model.yaml" >&2; exit 2; }
save=checkpoints/wmt16_en_ro/$model

echo "== stage 1: check the WMT'16 En-Ro data directory $data"
missing=()
for f in pipeline.json {train,valid}.{en,ro}.{tokens,offsets}.npy; do
  [[ -s $data/$f ]] || missing+=("$f")
done
if [[ ! -d $data ]]; then
  what="it does not exist"
else
  what="it lacks ${missing[*]}"
fi
if ((${#missing[@]})); then
  cat >&2 <<MSG
run.sh: WMT'16 En-Ro preparation is not yet provided (there is no preprocess/wmt16_en_ro.sh).
Supply the data directory yourself: $data
($what).
Make it with \`nmt preprocess\` from raw (untokenized, cased) text, with the paper's settings
(Gehring et al. 2017, §4.1: Sennrich et al.'s WMT'16 data including their back-translations,
sentences over 175 words removed, joint BPE with 40k types):

  nmt preprocess -s en -t ro \\
      --trainpref WORK/train --validpref WORK/valid --testpref WORK/test \\
      --destdir $data \\
      --punct-norm --aggressive-dash-splits --max-len 175 \\
      --bpe subword-nmt --bpe-merges 40000 --joint-bpe --joined-dictionary

  WORK/train.{en,ro}  Europarl v8 + SETimes2 (statmt.org/wmt16) + Sennrich's back-translated
                      news (data.statmt.org/rsennrich/wmt16_backtranslations/en-ro)
  WORK/valid.{en,ro}  newsdev2016 (1,999 pairs), or a 0.5-1% slice of train as in the paper
  WORK/test.{en,ro}   newstest2016 (1,999 pairs)

Details and caveats: $here/README.md
MSG
  exit 3
fi

source "$here/../common.sh"
recipe_env "$root"

train_stage "$data" "$here/$model.yaml" "$save" "${extra[@]}"

echo "== stage 3-4: translate newstest2016 and score it (sacreBLEU is the paper's detokenized BLEU here):"
echo "   nmt translate --checkpoint $save/checkpoint_best.safetensors --input newstest2016.en --output hyp.ro"
echo "   nmt score --hyp hyp.ro --ref newstest2016.ro"
