# Sourced by recipes/*/run.sh: the translate and score stages, shared by every recipe.
#
# translate_and_score CKPT SRC HYP BEAM [nmt score args ...]
#   translates SRC (raw text) with CKPT into HYP (detokenized) unless HYP is newer than CKPT,
#   then scores it with `nmt score --hyp HYP ARGS...` and keeps the result in HYP.score.
#   Extra `nmt translate` options can come in the array TRANSLATE_ARGS (e.g. --max-len-a 1.3).
TRANSLATE_ARGS=("${TRANSLATE_ARGS[@]}")

translate_and_score() {
  local ckpt=$1 src=$2 hyp=$3 beam=$4
  shift 4
  if [[ ! -f $ckpt ]]; then
    echo "run.sh: no checkpoint $ckpt: training has not finished an epoch yet" >&2
    return 1
  fi
  if [[ ! -s $hyp || $ckpt -nt $hyp ]]; then
    echo "== stage 3: translate $src with beam $beam -> $hyp"
    nmt translate --checkpoint "$ckpt" --input "$src" --output "$hyp" --beam "$beam" --batch-size 128 \
      "${TRANSLATE_ARGS[@]}"
  fi
  echo "== stage 4: score $hyp"
  nmt score --hyp "$hyp" "$@" | tee "$hyp.score"
}
