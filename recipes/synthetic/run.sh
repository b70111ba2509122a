#!/usr/bin/env bash
# A synthetic task for any model family: generate, preprocess, train for a few minutes, translate
# the test set, report sequence and token accuracy.
# Usage: bash recipes/synthetic/run.sh --task copy|reverse|delay [--delay T] --arch PRESET
#            [--minutes 5] [--prepare-only] [nmt train args ...]
#   --prepare-only   generate and preprocess the task's data, then stop (recipes/synthetic/study.sh
#                    prepares each task once before it trains several presets side by side)
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
task=delay delay=100 arch=tcn_small minutes=5 prepare_only=0
extra=()
while (($#)); do
  case $1 in
    --task) task=$2; shift 2 ;;
    --delay) delay=$2; shift 2 ;;
    --arch) arch=$2; shift 2 ;;
    --minutes) minutes=$2; shift 2 ;;
    --prepare-only) prepare_only=1; shift ;;
    *) extra+=("$1"); shift ;;
  esac
done
source "$here/../common.sh"
recipe_env "$root"
name=$task; [[ $task == delay ]] && name=delay$delay
raw=work/synthetic/$name data=data-bin/synthetic_$name save=checkpoints/synthetic/$name/$arch

echo "== stage 1: generate and preprocess the $name task -> $data"
[[ -f $raw/test.tgt ]] || python "$here/make_data.py" --task "$task" --delay "$delay" --out "$raw"
[[ -f $data/pipeline.json ]] || nmt preprocess -s src -t tgt --trainpref "$raw/train" --validpref "$raw/valid" \
  --testpref "$raw/test" --destdir "$data" --bpe none --tokenizer none --no-punct-norm --unicode-norm none \
  --max-len 2000 --max-len-ratio 1000 --padding-factor 1
((prepare_only)) && exit 0

echo "== stage 2: train $arch for $minutes minutes -> $save"
nmt train "$data" --config "$here/train.yaml" --arch "$arch" --save-dir "$save" \
  --stop-time-minutes "$minutes" "${extra[@]}"

echo "== stage 3: translate the test set greedily and measure accuracy"
ckpt=$save/checkpoint_best.safetensors
[[ -f $ckpt ]] || ckpt=$save/checkpoint_last.safetensors  # stopped before the first epoch ended
nmt translate --checkpoint "$ckpt" --input "$raw/test.src" \
  --output "$save/test.hyp" --beam 1 --max-len-a 1.2 --max-len-b 10
python "$here/accuracy.py" "$save/test.hyp" "$raw/test.tgt" | tee "$save/test.accuracy.json"
