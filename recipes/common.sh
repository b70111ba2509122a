# Sourced by recipes/*/run.sh: the stages every recipe shares.
#
# recipe_env ROOT
#   from the repository root, sets up .venv (scripts/setup.sh) and puts its nmt on PATH.
# prepare_stage README COMMAND...
#   runs a preparation script; if it stops (e.g. exit 3: files missing), says so and exits with it.
# train_stage DATA YAML SAVE [nmt train args ...]
#   trains (or resumes) the recipe YAML on DATA into SAVE.
#
# threads_per_job JOBS
#   prints the torch threads each of JOBS side-by-side runs gets (cores / JOBS, at least 1);
#   JOBS must be a whole number >= 1.
# wait_for_slot JOBS
#   waits until fewer than JOBS background jobs of this shell run (a failed job does not stop it).
#
# translate_and_score CKPT SRC HYP BEAM [nmt score args ...]
#   translates SRC (raw text) with CKPT into HYP (detokenized) unless HYP is newer than CKPT,
#   then scores it with `nmt score --hyp HYP ARGS...` and keeps the result in HYP.score.
#   Extra `nmt translate` options can come in the array TRANSLATE_ARGS (e.g. --max-len-a 1.3).
TRANSLATE_ARGS=("${TRANSLATE_ARGS[@]}")

recipe_env() {
  cd "$1"
  bash scripts/setup.sh
  export PATH="$1/${NMT_VENV:-.venv}/bin:$PATH"
}

prepare_stage() {
  local readme=$1 rc=0
  shift
  bash "$@" || rc=$?
  if ((rc)); then
    echo "run.sh: stage 1 stopped (exit $rc); see the message above and $readme" >&2
    exit "$rc"
  fi
}

train_stage() {
  local data=$1 yaml=$2 save=$3
  shift 3
  echo "== stage 2: train $(basename "$yaml" .yaml) -> $save"
  nmt train "$data" --config "$yaml" --save-dir "$save" "$@"
}

threads_per_job() {
  if [[ ! $1 =~ ^[1-9][0-9]*$ ]]; then
    echo "--jobs must be a whole number >= 1, got '$1'" >&2
    return 2
  fi
  local n=$(( $(nproc) / $1 ))
  echo $(( n >= 1 ? n : 1 ))
}

wait_for_slot() {
  while (($(jobs -rp | wc -l) >= $1)); do wait -n || true; done
}

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
