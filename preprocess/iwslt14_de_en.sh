#!/usr/bin/env bash
# IWSLT'14 German-English (TED), the split of fairseq's examples/translation/prepare-iwslt14.sh.
# See preprocess/README.md. Usage: bash preprocess/iwslt14_de_en.sh [options]
set -euo pipefail

CORPUS=iwslt14_de_en
declare -A OPT=([train-dir]="" [valid-split]=fairseq)
FLAGS=()
DEFAULT_DESTDIR=data-bin/iwslt14_de_en
USAGE="Usage: bash preprocess/iwslt14_de_en.sh [options] [nmt preprocess args]

IWSLT'14 De-En as fairseq's prepare-iwslt14.sh splits it: the WIT3 2014-01 release
(de-en.tgz); train/valid from train.tags.de-en.{de,en} (every 23rd pair is valid),
test = dev2010 + TEDX.dev2012 + tst2010 + tst2011 + tst2012 (6,750 pairs). Then nmt
preprocess as fairseq's recipe: Moses tokenization (no punctuation normalization, no -a),
lowercasing, training pairs of 1-175 tokens with length ratio <= 1.5 kept,
joint subword-nmt BPE with 10,000 merges, joined dictionary.

  --train-dir DIR       a directory holding train.tags.de-en.de and train.tags.de-en.en
                        (instead of taking them from de-en.tgz)
  --valid-split MODE    fairseq (default): number the pairs that survive fairseq's
                        cleaning (Moses tokens 1-175, ratio <= 1.5) and take every 23rd;
                        raw: number the pairs with no empty side and take every 23rd.
                        Either way the output is raw text (nmt preprocess tokenizes)."
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# fairseq's prepare-iwslt14.sh now downloads the release from fbaipublicfiles; the original
# WIT3 archive URL (the one the script used to have) is the fallback.
URL="http://dl.fbaipublicfiles.com/fairseq/data/iwslt14/de-en.tgz https://wit3.fbk.eu/archive/2014-01/texts/de/en/de-en.tgz"
TEST_SETS=(IWSLT14.TED.dev2010 IWSLT14.TEDX.dev2012 IWSLT14.TED.tst2010 IWSLT14.TED.tst2011
           IWSLT14.TED.tst2012)
declare -A SET_SIZE=([IWSLT14.TED.dev2010]=887 [IWSLT14.TEDX.dev2012]=1165
                     [IWSLT14.TED.tst2010]=1565 [IWSLT14.TED.tst2011]=1433
                     [IWSLT14.TED.tst2012]=1700)
TEST_SIZE=6750
LANGS=(de en)

parse_args "$@"
case ${OPT[valid-split]} in
    fairseq|raw) ;;
    *) usage_error "--valid-split must be fairseq or raw (got '${OPT[valid-split]}')" ;;
esac
setup

# ---- fetch: train.tags (--train-dir or de-en.tgz) and the dev/test XML (de-en.tgz or mirror)
TRAIN_DIR="" XML_DIR=""
if [[ -n ${OPT[train-dir]} ]]; then
    for l in "${LANGS[@]}"; do
        [[ -s ${OPT[train-dir]}/train.tags.de-en.$l ]] ||
            usage_error "--train-dir ${OPT[train-dir]}: no (or empty) train.tags.de-en.$l there"
    done
    TRAIN_DIR=$(cd "${OPT[train-dir]}" && pwd)
fi
mirror_xml_ok() {
    local s l
    [[ -n $MIRROR ]] || return 1
    for s in "${TEST_SETS[@]}"; do
        for l in "${LANGS[@]}"; do
            [[ -s $MIRROR/iwslt14_de_en/xml/$s.de-en.$l.xml ]] || return 1
        done
    done
}
TGZ=""
if have_file de-en.tgz iwslt14_de_en/orig/de-en.tgz; then
    TGZ=$FOUND
elif mirror_xml_ok; then
    XML_DIR=$MIRROR/iwslt14_de_en/xml
fi
if [[ -z $TGZ ]]; then
    needs=()
    [[ -n $TRAIN_DIR ]] || needs+=("de-en/train.tags.de-en.de and de-en/train.tags.de-en.en")
    [[ -n $XML_DIR ]] || needs+=("the dev/test XML de-en/IWSLT14.TED*.de-en.{de,en}.xml")
    if ((${#needs[@]})); then
        note="WIT3 IWSLT 2014-01 de-en release; the script needs its ${needs[0]}"
        ((${#needs[@]} == 1)) || note+=", and ${needs[1]}"
        if need_file de-en.tgz "$URL" iwslt14_de_en/orig/de-en.tgz "$note"; then TGZ=$FOUND; fi
    fi
fi
if [[ -n $TGZ ]]; then
    members=(de-en/train.tags.de-en.de de-en/train.tags.de-en.en)
    for s in "${TEST_SETS[@]}"; do
        for l in "${LANGS[@]}"; do members+=("de-en/$s.de-en.$l.xml"); done
    done
    if ! { stage_done extract "$TGZ" && [[ -f $ORIG_DIR/de-en/${members[-1]#de-en/} ]]; }; then
        stage_begin extract
        tar_extract "$TGZ" "$TMP" "${members[@]}"
        mkdir -p "$ORIG_DIR" && rm -rf -- "$ORIG_DIR/de-en" && mv -- "$TMP/de-en" "$ORIG_DIR/de-en"
        stage_commit extract "$TGZ" "$TMP"
    fi
    [[ -n $TRAIN_DIR ]] || TRAIN_DIR=$ORIG_DIR/de-en
    [[ -n $XML_DIR ]] || XML_DIR=$ORIG_DIR/de-en
fi
if [[ $STAGE == fetch ]]; then
    ((${#MISSING[@]} == 0)) || fail_missing
    stop_after fetch
fi

# ---- prepare test: one line per <seg>, raw; test = the five sets in fairseq's order
DONE=""
if [[ -n $XML_DIR ]]; then
    SIG="iwslt14 test v1"
    if stage_done prepare-test "$SIG"; then
        log "prepare test: already done"
    else
        stage_begin prepare-test
        args=()
        for s in "${TEST_SETS[@]}"; do
            for l in "${LANGS[@]}"; do args+=("$XML_DIR/$s.de-en.$l.xml" "$TMP/$s.de-en.$l"); done
        done
        corpus_tools segs "${args[@]}" || die "could not extract the dev/test XML"
        for s in "${TEST_SETS[@]}"; do
            check_lines "${SET_SIZE[$s]}" "$TMP/$s.de-en.de" "$TMP/$s.de-en.en"
        done
        for l in "${LANGS[@]}"; do
            for s in "${TEST_SETS[@]}"; do cat "$TMP/$s.de-en.$l"; done >"$TMP/test.$l"
        done
        check_lines "$TEST_SIZE" "$TMP/test.de" "$TMP/test.en"
        stage_commit prepare-test "$SIG" "$TMP"
        log "prepare test: $TEST_SIZE pairs (dev2010 + TEDX.dev2012 + tst2010 + tst2011 + tst2012)"
    fi
    DONE="test set $WORKDIR/test.{de,en} ($TEST_SIZE pairs, verified)."
fi

# ---- prepare train/valid from train.tags
if [[ -n $TRAIN_DIR ]]; then
    SIG="iwslt14 train valid-split=${OPT[valid-split]} v1"
    if stage_done prepare-train "$SIG"; then
        log "prepare train/valid: already done"
    else
        stage_begin prepare-train
        for l in "${LANGS[@]}"; do
            corpus_tools strip-tags --style fairseq "$TRAIN_DIR/train.tags.de-en.$l" "$TMP/tags.$l" ||
                die "could not read $TRAIN_DIR/train.tags.de-en.$l"
        done
        if [[ ${OPT[valid-split]} == fairseq ]]; then
            filter=(--moses-clean --max-tokens 175 --ratio 1.5)
            log "prepare train/valid: Moses-tokenizing to apply fairseq's cleaning (about a minute)"
        else
            filter=(--drop-empty)
        fi
        corpus_tools pairs --langs de en "${filter[@]}" --every 23 --workers 2 \
            --out "$TMP/train" --valid-out "$TMP/valid" "$TMP/tags" ||
            die "could not build train/valid from $TRAIN_DIR/train.tags.de-en.{de,en}"
        rm -f -- "$TMP"/tags.*
        stage_commit prepare-train "$SIG" "$TMP"
        log "prepare train/valid: train $(nlines "$WORKDIR/train.de"), valid $(nlines "$WORKDIR/valid.de") pairs" \
            "(fairseq's prepare-iwslt14.sh: 160239 / 7283)"
    fi
fi

((${#MISSING[@]} == 0)) || fail_missing "$DONE" \
    "Or pass --train-dir DIR, a directory holding train.tags.de-en.de and train.tags.de-en.en."
stop_after prepare

# ---- preprocess
W=$WORKDIR
run_nmt_preprocess --source-lang de --target-lang en \
    --trainpref "$W/train" --validpref "$W/valid" --testpref "$W/test" \
    --no-punct-norm --lowercase --max-len 175 --max-len-ratio 1.5 \
    --bpe subword-nmt --bpe-merges 10000 --joint-bpe --joined-dictionary --workers 2
