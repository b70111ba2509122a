#!/usr/bin/env bash
# Character-level IWSLT German-English, the setting of the QRNN paper (Bradbury et al. 2017,
# section 3.3). See preprocess/README.md. Usage: bash preprocess/iwslt_de_en_char.sh [options]
set -euo pipefail

CORPUS=iwslt16_de_en_char
declare -A OPT=([train-dir]="" [dev-set]=TED.tst2013 [test-set]=TED.tst2014 [max-chars]=300)
FLAGS=()
DEFAULT_DESTDIR=data-bin/iwslt16_de_en_char
USAGE="Usage: bash preprocess/iwslt_de_en_char.sh [options] [nmt preprocess args]

Character-level IWSLT German-English as in the QRNN paper (Bradbury et al. 2017, 3.3):
the WIT3 IWSLT 2016-01 de-en release (de-en.tgz), training data train.tags.de-en.{de,en}
with the metadata lines removed and pairs with an empty side or a side longer than 300
characters dropped; dev TED.tst2013 (993 pairs), test TED.tst2014 (1,305 pairs); raw,
untokenized text. Then nmt preprocess --bpe char --tokenizer none --no-punct-norm
--joined-dictionary (one vocabulary of characters for both languages).

  --train-dir DIR    a directory holding train.tags.de-en.de and train.tags.de-en.en
                     (instead of taking them from de-en.tgz)
  --dev-set NAME     dev set (default TED.tst2013); any set of the 2016-01 release:
                     TED.dev2010, TED.tst2010..TED.tst2014, TEDX.dev2012, TEDX.tst2013,
                     TEDX.tst2014
  --test-set NAME    test set (default TED.tst2014)
  --max-chars N      drop training pairs with a side longer than N characters (default 300)"
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

URL=https://wit3.fbk.eu/archive/2016-01/texts/de/en/de-en.tgz
declare -A SET_SIZE=([TED.dev2010]=887 [TED.tst2010]=1565 [TED.tst2011]=1433 [TED.tst2012]=1700
                     [TED.tst2013]=993 [TED.tst2014]=1305 [TEDX.dev2012]=1165
                     [TEDX.tst2013]=1363 [TEDX.tst2014]=1414)
LANGS=(de en)

parse_args "$@"
for o in dev-set test-set; do
    [[ -v SET_SIZE[${OPT[$o]}] ]] ||
        usage_error "--$o: unknown set '${OPT[$o]}' (known: ${!SET_SIZE[*]})"
done
[[ ${OPT[max-chars]} =~ ^[0-9]+$ ]] || usage_error "--max-chars takes a number"
setup
DEV=${OPT[dev-set]} TEST=${OPT[test-set]}

# ---- fetch
TRAIN_DIR=""
if [[ -n ${OPT[train-dir]} ]]; then
    for l in "${LANGS[@]}"; do
        [[ -s ${OPT[train-dir]}/train.tags.de-en.$l ]] ||
            usage_error "--train-dir ${OPT[train-dir]}: no (or empty) train.tags.de-en.$l there"
    done
    TRAIN_DIR=$(cd "${OPT[train-dir]}" && pwd)
fi
# mirror_xml SET LANG: the set's XML in the mirror. The 2016-01 release's dev2010,
# tst2010-2012 and TEDX.dev2012 have the same segments as the 2014-01 ones (only the
# setid attribute differs), so iwslt14_de_en/xml serves for those.
mirror_xml() {
    local f
    [[ -n $MIRROR ]] || return 1
    for f in "$MIRROR/iwslt16_de_en/xml/IWSLT16.$1.de-en.$2.xml" \
             "$MIRROR/iwslt14_de_en/xml/IWSLT14.$1.de-en.$2.xml"; do
        if [[ -s $f ]]; then printf '%s\n' "$f"; return 0; fi
    done
    return 1
}
declare -A XML=()
TGZ=""
if have_file de-en.tgz iwslt16_de_en/orig/de-en.tgz; then
    TGZ=$FOUND
else
    for s in "$DEV" "$TEST"; do
        for l in "${LANGS[@]}"; do
            if f=$(mirror_xml "$s" "$l"); then XML[$s.$l]=$f; fi
        done
    done
fi
if [[ -z $TGZ && ( -z $TRAIN_DIR || ${#XML[@]} -lt 4 ) ]]; then
    needs=()
    [[ -n $TRAIN_DIR ]] || needs+=("de-en/train.tags.de-en.de and de-en/train.tags.de-en.en")
    ((${#XML[@]} == 4)) || needs+=("de-en/IWSLT16.{$DEV,$TEST}.de-en.{de,en}.xml")
    note="WIT3 IWSLT 2016-01 de-en release; the script needs its ${needs[0]}"
    ((${#needs[@]} == 1)) || note+=", and ${needs[1]}"
    if need_file de-en.tgz "$URL" iwslt16_de_en/orig/de-en.tgz "$note"; then TGZ=$FOUND; fi
fi
if [[ -n $TGZ ]]; then
    members=(de-en/train.tags.de-en.de de-en/train.tags.de-en.en)
    for s in "$DEV" "$TEST"; do
        for l in "${LANGS[@]}"; do members+=("de-en/IWSLT16.$s.de-en.$l.xml"); done
    done
    if ! { stage_done extract "$TGZ ${members[*]}" && [[ -f $ORIG_DIR/${members[-1]} ]]; }; then
        stage_begin extract
        tar_extract "$TGZ" "$TMP" "${members[@]}"
        mkdir -p "$ORIG_DIR" && rm -rf -- "$ORIG_DIR/de-en" && mv -- "$TMP/de-en" "$ORIG_DIR/de-en"
        stage_commit extract "$TGZ ${members[*]}" "$TMP"
    fi
    [[ -n $TRAIN_DIR ]] || TRAIN_DIR=$ORIG_DIR/de-en
    for s in "$DEV" "$TEST"; do
        for l in "${LANGS[@]}"; do XML[$s.$l]=$ORIG_DIR/de-en/IWSLT16.$s.de-en.$l.xml; done
    done
fi
if [[ $STAGE == fetch ]]; then
    ((${#MISSING[@]} == 0)) || fail_missing
    stop_after fetch
fi

# ---- prepare valid/test: one line per <seg>, raw text
DONE=()
for split in valid test; do
    s=$DEV; [[ $split == test ]] && s=$TEST
    [[ -v XML[$s.de] && -v XML[$s.en] ]] || continue
    SIG="iwslt16 $split $s v1"
    if stage_done "prepare-$split" "$SIG"; then
        log "prepare $split: already done ($s)"
    else
        stage_begin "prepare-$split"
        corpus_tools segs "${XML[$s.de]}" "$TMP/$split.de" "${XML[$s.en]}" "$TMP/$split.en" ||
            die "could not extract $s"
        check_lines "${SET_SIZE[$s]}" "$TMP/$split.de" "$TMP/$split.en"
        stage_commit "prepare-$split" "$SIG" "$TMP"
        log "prepare $split: IWSLT16.$s, ${SET_SIZE[$s]} pairs"
    fi
    DONE+=("$split = IWSLT16.$s in $WORKDIR/$split.{de,en} (${SET_SIZE[$s]} pairs, verified)")
done

# ---- prepare train: metadata lines out (torchtext's IWSLT rule), empty / too long pairs out
if [[ -n $TRAIN_DIR ]]; then
    SIG="iwslt16 train max-chars=${OPT[max-chars]} v1"
    if stage_done prepare-train "$SIG"; then
        log "prepare train: already done"
    else
        stage_begin prepare-train
        for l in "${LANGS[@]}"; do
            corpus_tools strip-tags --style torchtext "$TRAIN_DIR/train.tags.de-en.$l" "$TMP/tags.$l" ||
                die "could not read $TRAIN_DIR/train.tags.de-en.$l"
        done
        corpus_tools pairs --langs de en --drop-empty --max-chars "${OPT[max-chars]}" \
            --out "$TMP/train" "$TMP/tags" ||
            die "could not build train from $TRAIN_DIR/train.tags.de-en.{de,en}"
        rm -f -- "$TMP"/tags.*
        stage_commit prepare-train "$SIG" "$TMP"
        log "prepare train: $(nlines "$WORKDIR/train.de") pairs (the paper reports 209,772 before its length filter)"
    fi
fi

done_text=""
((${#DONE[@]} == 0)) || done_text=$(printf '%s; ' "${DONE[@]}")
((${#MISSING[@]} == 0)) || fail_missing "${done_text%; }" \
    "Or pass --train-dir DIR, a directory holding train.tags.de-en.de and train.tags.de-en.en."
stop_after prepare

# ---- preprocess. The paper's only length filter is the character one above; a line of at most
# N characters has at most N/2 words, so --max-len N --max-len-ratio N make nmt preprocess's
# word-level cleaning a no-op. No punctuation normalization: raw characters.
W=$WORKDIR
N=${OPT[max-chars]}; ((N > 0)) || N=1000000
run_nmt_preprocess --source-lang de --target-lang en \
    --trainpref "$W/train" --validpref "$W/valid" --testpref "$W/test" \
    --tokenizer none --no-punct-norm --max-len "$N" --max-len-ratio "$N" \
    --bpe char --joined-dictionary --workers 2
