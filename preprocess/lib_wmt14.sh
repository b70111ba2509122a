# shellcheck shell=bash
# The WMT'14 recipe shared by wmt14_en_de.sh and wmt14_en_fr.sh. Source it after setting
#   SRC, TGT                 languages (en, de|fr)
#   TRAIN_CORPORA            "TARBALL|URL|MEMBER_PREFIX" entries, in concatenation order;
#                            the members are MEMBER_PREFIX.SRC and MEMBER_PREFIX.TGT
#                            (a trailing .gz on the prefix means gzip-compressed members)
#   TEST_SET                 newstest2014-deen | newstest2014-fren (test-full.tgz name)
set -euo pipefail

CORPUS=wmt14_${SRC}_$TGT
declare -A OPT=([valid-every]=0)
FLAGS=()
DEFAULT_DESTDIR=data-bin/wmt14_${SRC}_$TGT
STATMT=http://statmt.org
DEV_TGZ="dev.tgz|$STATMT/wmt14/dev.tgz"
TEST_TGZ="test-full.tgz|$STATMT/wmt14/test-full.tgz"
MIRROR_ORIG=wmt14/orig                       # where the tarballs go in a mirror
MIRROR_TEST=wmt14/newstest2014-full/sgm      # the mirror's unpacked test-full SGM files
TEST_SIZE=3003 DEV_SIZE=3000
USAGE="Usage: bash preprocess/wmt14_${SRC}_$TGT.sh [options] [nmt preprocess args]

WMT'14 English-$([[ $TGT == de ]] && echo German || echo French) as in the ConvS2S paper (Gehring et al. 2017):
training data $(for e in "${TRAIN_CORPORA[@]}"; do IFS='|' read -r _ _ m <<<"$e"; m=${m%.gz}; printf '%s ' "${m##*/}"; done)
(statmt.org tarballs), valid newstest2013 (3,000 pairs, from dev.tgz), test newstest2014
full (3,003 pairs, from test-full.tgz). Training text: non-printing characters replaced by
spaces (as fairseq's prepare-wmt14en2$TGT.sh), pairs with an empty side dropped. Then nmt
preprocess, as fairseq's recipe: Moses punctuation normalization, Moses tokenization with
aggressive hyphen splitting (-a), joint subword-nmt BPE with 40,000 merges, joined
dictionary; training pairs longer than 250 tokens or with length ratio > 1.5 dropped.

  --valid-every N   take every N-th training pair as validation data instead of
                    newstest2013 (the ConvS2S paper's own setup; fairseq uses N=100
                    for en-de and N=1333 for en-fr); dev.tgz is then not needed"
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

parse_args "$@"
[[ ${OPT[valid-every]} =~ ^[0-9]+$ ]] || usage_error "--valid-every takes a number"
VALID_EVERY=$((10#${OPT[valid-every]}))
setup
LANGS=("$SRC" "$TGT")

# ---- fetch
declare -A TARBALL=()
fetch_tarball() {   # fetch_tarball "NAME|URL" [NOTE]
    local name url
    IFS='|' read -r name url <<<"$1"
    [[ -v TARBALL[$name] ]] && return 0
    if need_file "$name" "$url" "$MIRROR_ORIG/$name" "${2:-}"; then TARBALL[$name]=$FOUND; fi
}
# test: the mirror's unpacked SGM, else test-full.tgz
declare -A TEST_SGM=()
test_sgm_name() { [[ $1 == "$SRC" ]] && echo "$TEST_SET-src.$1.sgm" || echo "$TEST_SET-ref.$1.sgm"; }
if ! have_file test-full.tgz "$MIRROR_ORIG/test-full.tgz" && [[ -n $MIRROR ]]; then
    for l in "${LANGS[@]}"; do
        f=$MIRROR/$MIRROR_TEST/$(test_sgm_name "$l")
        [[ -s $f ]] && TEST_SGM[$l]=$f
    done
fi
((${#TEST_SGM[@]} == 2)) || { TEST_SGM=(); fetch_tarball "$TEST_TGZ" "newstest2014 full, 3,003 segments"; }
((VALID_EVERY > 0)) || fetch_tarball "$DEV_TGZ" "newstest2013, the validation set"
for entry in "${TRAIN_CORPORA[@]}"; do
    IFS='|' read -r name url member <<<"$entry"
    if [[ $member == *.gz ]]; then files="${member%.gz}.{$SRC,$TGT}.gz"; else files="$member.{$SRC,$TGT}"; fi
    fetch_tarball "$name|$url" "training data: $files"
done
if [[ $STAGE == fetch ]]; then
    ((${#MISSING[@]} == 0)) || fail_missing
    stop_after fetch
fi

# extract_sgm_or_txt TARBALL DEST MEMBER...: extract the first member the tarball has.
extract_one_of() {
    local tarball=$1 dest=$2 m; shift 2
    local listing; listing=$(tar -tf "$tarball") || die "cannot list $tarball"
    for m in "$@"; do
        if grep -qxF -- "$m" <<<"$listing"; then tar_extract "$tarball" "$dest" "$m"; echo "$m"; return 0; fi
    done
    die "$tarball has none of: $*"
}

# ---- prepare test: newstest2014 (full), raw text
DONE=()
if ((${#TEST_SGM[@]} == 2)) || [[ -v TARBALL[test-full.tgz] ]]; then
    SIG="wmt14 test $TEST_SET v1"
    if stage_done prepare-test "$SIG"; then
        log "prepare test: already done"
    else
        stage_begin prepare-test
        if ((${#TEST_SGM[@]} < 2)); then
            members=()
            for l in "${LANGS[@]}"; do members+=("test-full/$(test_sgm_name "$l")"); done
            tar_extract "${TARBALL[test-full.tgz]}" "$TMP/x" "${members[@]}"
            for l in "${LANGS[@]}"; do TEST_SGM[$l]=$TMP/x/test-full/$(test_sgm_name "$l"); done
        fi
        corpus_tools segs "${TEST_SGM[$SRC]}" "$TMP/test.$SRC" "${TEST_SGM[$TGT]}" "$TMP/test.$TGT" ||
            die "could not extract newstest2014"
        rm -rf -- "$TMP/x"
        check_lines "$TEST_SIZE" "$TMP/test.$SRC" "$TMP/test.$TGT"
        stage_commit prepare-test "$SIG" "$TMP"
        log "prepare test: newstest2014 (full), $TEST_SIZE pairs"
    fi
    DONE+=("test = newstest2014 (full) in $WORKDIR/test.{$SRC,$TGT} ($TEST_SIZE pairs, verified)")
fi

# ---- prepare valid: newstest2013 from dev.tgz (plain text when present, else the SGM)
if ((VALID_EVERY == 0)) && [[ -v TARBALL[dev.tgz] ]]; then
    SIG="wmt14 valid newstest2013 v1"
    if stage_done prepare-valid "$SIG"; then
        log "prepare valid: already done"
    else
        stage_begin prepare-valid
        for l in "${LANGS[@]}"; do
            kind=ref; [[ $l == "$SRC" ]] && kind=src
            m=$(extract_one_of "${TARBALL[dev.tgz]}" "$TMP/x" "dev/newstest2013-$kind.$l.sgm" \
                "dev/newstest2013.$l")
            if [[ $m == *.sgm ]]; then
                corpus_tools segs "$TMP/x/$m" "$TMP/valid.$l" || die "could not extract $m"
            else
                mv -- "$TMP/x/$m" "$TMP/valid.$l"
            fi
        done
        rm -rf -- "$TMP/x"
        check_lines "$DEV_SIZE" "$TMP/valid.$SRC" "$TMP/valid.$TGT"
        stage_commit prepare-valid "$SIG" "$TMP"
        log "prepare valid: newstest2013, $DEV_SIZE pairs"
    fi
    DONE+=("valid = newstest2013 in $WORKDIR/valid.{$SRC,$TGT} ($DEV_SIZE pairs, verified)")
fi

# ---- prepare train: all corpora, non-printing characters out, empty pairs dropped
have_all_train=1
for entry in "${TRAIN_CORPORA[@]}"; do
    IFS='|' read -r name _ _ <<<"$entry"
    [[ -v TARBALL[$name] ]] || have_all_train=0
done
if ((have_all_train)); then
    SIG="wmt14 train $(printf '%s ' "${TRAIN_CORPORA[@]}")valid-every=$VALID_EVERY v1"
    if stage_done prepare-train "$SIG"; then
        log "prepare train: already done"
    else
        stage_begin prepare-train
        prefixes=()
        for entry in "${TRAIN_CORPORA[@]}"; do
            IFS='|' read -r name _ member <<<"$entry"
            gz=""; [[ $member == *.gz ]] && gz=.gz member=${member%.gz}
            log "prepare train: extracting ${member##*/} from $name"
            tar_extract "${TARBALL[$name]}" "$TMP/x" "$member.$SRC$gz" "$member.$TGT$gz"
            if [[ -n $gz ]]; then gzip -d -- "$TMP/x/$member.$SRC.gz" "$TMP/x/$member.$TGT.gz"; fi
            prefixes+=("$TMP/x/$member")
        done
        args=(--langs "$SRC" "$TGT" --remove-nonprinting --drop-empty --workers 2 --out "$TMP/train")
        ((VALID_EVERY > 0)) && args+=(--every "$VALID_EVERY" --valid-out "$TMP/valid")
        log "prepare train: cleaning $(printf '%s ' "${prefixes[@]##*/}")(this takes a while)"
        corpus_tools pairs "${args[@]}" "${prefixes[@]}" || die "could not build the training data"
        rm -rf -- "$TMP/x"
        # with --valid-every this replaces valid.*, so newstest2013 must be extracted again later
        ((VALID_EVERY == 0)) || stage_invalidate prepare-valid
        stage_commit prepare-train "$SIG" "$TMP"
        log "prepare train: $(nlines "$WORKDIR/train.$SRC") pairs"
    fi
fi

done_text=""
((${#DONE[@]} == 0)) || done_text=$(printf '%s; ' "${DONE[@]}")
((${#MISSING[@]} == 0)) || fail_missing "${done_text%; }" \
    "$([[ " ${MISSING[*]} " == *" dev.tgz"$'\t'* ]] && echo "(dev.tgz is not needed with --valid-every N.)")"
stop_after prepare

# ---- preprocess
W=$WORKDIR
run_nmt_preprocess --source-lang "$SRC" --target-lang "$TGT" \
    --trainpref "$W/train" --validpref "$W/valid" --testpref "$W/test" \
    --punct-norm --aggressive-dash-splits \
    --bpe subword-nmt --bpe-merges 40000 --joint-bpe --joined-dictionary \
    --max-len 250 --max-len-ratio 1.5 --workers 2
