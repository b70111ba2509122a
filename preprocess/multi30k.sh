#!/usr/bin/env bash
# Multi30k task 1 (Elliott et al. 2016), English-German or English-French.
# See preprocess/README.md. Usage: bash preprocess/multi30k.sh [--pair en-de|en-fr] [options]
set -euo pipefail

CORPUS=multi30k
declare -A OPT=([pair]=en-de)
FLAGS=()
DEFAULT_DESTDIR=data-bin/multi30k_en_de
DEFAULT_DESTDIR_HELP="data-bin/multi30k_en_de, or data-bin/multi30k_en_fr with --pair en-fr"
DEFAULT_WORKDIR_HELP="work/multi30k_en_de, or work/multi30k_en_fr with --pair en-fr"
USAGE="Usage: bash preprocess/multi30k.sh [--pair en-de|en-fr] [options] [nmt preprocess args]

Multi30k task 1, raw (cased, untokenized) text: train 29,000, valid (val) 1,014,
test (test_2016_flickr) 1,000 sentence pairs, from github.com/multi30k/dataset
data/task1/raw/*.gz (or <mirror>/multi30k/raw/*.gz). Runs nmt preprocess with Moses
tokenization and a joint subword-nmt BPE of 10,000 merges, joined dictionary.

  --pair en-de|en-fr   language pair (default en-de); the work directory defaults to
                       work/multi30k_<pair with _>"
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# The mirror's files are byte-identical to this commit of multi30k/dataset.
REV=a3d2e0d26b56f3846f66a952536ffed4e401d05a
BASE_URL=https://raw.githubusercontent.com/multi30k/dataset/$REV/data/task1/raw
declare -A SHA256=(
    [train.en.gz]=d79cfa999dd4c51d2cb42499b6796d5a882c3a8a961923c25a898c90f8bbd56f
    [train.de.gz]=726e39b2fa9eb9ffb6dc763fb35a179f80fae06ffc5d28b6ace5faa883de28a6
    [train.fr.gz]=622e75069e9f4c577425c4f277116ce66e63a2401c0a2312d90073cb12379a3c
    [val.en.gz]=14f7d25ddd868909a9213e361768460edcacdd6ab9d1e77b92560dc10c10dc28
    [val.de.gz]=f0cba2f995189cf5770f29a8a9a537a3ad3f51657ad873405082ff6863a5e75a
    [val.fr.gz]=ca3106f1a72390591d25f6c45cb4cd39dec4cd3f123e099748a3ce5256c160e9
    [test_2016_flickr.en.gz]=611d361c6334bc7246101d48097c13cf5c4413c5befc793cc629934359d532d9
    [test_2016_flickr.de.gz]=9204244e408ccb38d2a55cfcd344df15005fc42a07a6e55ca6c52b6ababb8cc8
    [test_2016_flickr.fr.gz]=6d326e188d259fb1d04ac19eae3af956559b3a0b93d7635e56c90987c40c8b90
)
# our split name -> Multi30k file stem, and its size
declare -A STEM=([train]=train [valid]=val [test]=test_2016_flickr)
declare -A SIZE=([train]=29000 [valid]=1014 [test]=1000)

parse_args "$@"
case ${OPT[pair]} in
    en-de|en-fr) ;;
    *) usage_error "--pair must be en-de or en-fr (got '${OPT[pair]}')" ;;
esac
SRC=${OPT[pair]%-*} TGT=${OPT[pair]#*-}
CORPUS=multi30k_${SRC}_$TGT
DEFAULT_DESTDIR=data-bin/multi30k_${SRC}_$TGT
setup

# ---- fetch
declare -A PATHS=()
for split in train valid test; do
    for lang in "$SRC" "$TGT"; do
        name=${STEM[$split]}.$lang.gz
        if need_file "$name" "$BASE_URL/$name" "multi30k/raw/$name"; then
            PATHS[$split.$lang]=$FOUND
        fi
    done
done
((${#MISSING[@]} == 0)) || fail_missing
for key in "${!PATHS[@]}"; do
    check_sha256 "${PATHS[$key]}" "${SHA256[$(basename "${PATHS[$key]}")]}"
done
stop_after fetch

# ---- prepare: raw text W/{train,valid,test}.{src,tgt}
SIG="multi30k raw $REV ${OPT[pair]}"
if stage_done prepare "$SIG"; then
    log "prepare: already done"
else
    stage_begin prepare
    for split in train valid test; do
        for lang in "$SRC" "$TGT"; do
            gzip -dc "${PATHS[$split.$lang]}" >"$TMP/$split.$lang"
        done
        check_lines "${SIZE[$split]}" "$TMP/$split.$SRC" "$TMP/$split.$TGT"
    done
    stage_commit prepare "$SIG" "$TMP"
    log "prepare: train ${SIZE[train]}, valid ${SIZE[valid]}, test ${SIZE[test]} pairs in $WORKDIR"
fi
stop_after prepare

# ---- preprocess
W=$WORKDIR
run_nmt_preprocess --source-lang "$SRC" --target-lang "$TGT" \
    --trainpref "$W/train" --validpref "$W/valid" --testpref "$W/test" \
    --bpe subword-nmt --bpe-merges 10000 --joint-bpe --joined-dictionary --workers 2
