# shellcheck shell=bash disable=SC2004,SC2034
# (OPT is an associative array declared by the caller; FOUND/TMP/... are read by the caller.)
# Shared helpers for preprocess/<corpus>.sh. Source it (after `set -euo pipefail`); do not run it.
#
# A corpus script:
#   1. sets CORPUS (the default work directory is work/$CORPUS), DEFAULT_DESTDIR, USAGE,
#      and declares its own options:  declare -A OPT=([pair]=en-de)   (options with a value)
#                                     FLAGS=(some-flag)                (boolean options -> OPT[x]=1)
#   2. calls `parse_args "$@"` then `setup`,
#   3. locates its inputs with `need_file` / `have_file` (mirror, download cache, or download),
#   4. runs its stages with `stage_done` / `stage_begin` / `stage_commit` (stamp files,
#      staging directory + rename, so nothing is ever half-written),
#   5. calls `fail_missing` when inputs are missing (after doing what it could),
#   6. ends with `run_nmt_preprocess ARGS...`.
#
# Exit codes: 0 done, 1 a step failed (bad input, tool error), 2 bad command line,
#             3 input files are missing (the message names them and where to put them).
#
# Environment: NMT_DATA    default for --mirror
#              NMT_OFFLINE=1  never download (tests set it)
#              NMT_BIN     the nmt executable (default: `nmt` on PATH, else <repo>/.venv/bin/nmt)
#              NMT_PYTHON  python with sacremoses (default: <repo>/.venv/bin/python, else python3)

PP_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(dirname "$PP_DIR")
SCRIPT_NAME=$(basename "$0")
STAGES=(fetch prepare preprocess)

log() { printf '[%s] %s\n' "${SCRIPT_NAME%.sh}" "$*" >&2; }
die() { printf '%s: error: %s\n' "$SCRIPT_NAME" "$1" >&2; exit "${2:-1}"; }
usage_error() { printf '%s: error: %s (see --help)\n' "$SCRIPT_NAME" "$1" >&2; exit 2; }

usage() {
    printf '%s\n\n' "$USAGE"
    cat <<EOF
Common options:
  --mirror DIR     take input files from a local mirror laid out like shared/data
                   (default: \$NMT_DATA when set); without one, files are downloaded
  --no-mirror      ignore \$NMT_DATA
  --workdir DIR    downloads and prepared raw text; relative paths are relative to the
                   current directory (default: ${DEFAULT_WORKDIR_HELP:-work/$CORPUS})
  --destdir DIR    output of nmt preprocess
                   (default: ${DEFAULT_DESTDIR_HELP:-$DEFAULT_DESTDIR})
  --stage STAGE    stop after STAGE: fetch | prepare | preprocess (default: preprocess)
  --only-prepare   same as --stage prepare (raw text only, nmt preprocess is not run)
  --force          redo the prepare and preprocess stages (downloads are kept) and pass
                   --force to nmt preprocess
  -h, --help       this help
Any other argument (and everything after --) is passed to nmt preprocess after the
script's own flags, so it overrides them (e.g. --workers 1, --bpe-merges 8000).
Environment: NMT_DATA (mirror), NMT_OFFLINE=1 (never download), NMT_BIN (nmt executable),
NMT_PYTHON (python used for text extraction).
Exit codes: 0 done, 1 a step failed, 2 bad command line, 3 input files missing.
EOF
}

# ------------------------------------------------------------------------------ arguments
_is_flag() { local f; for f in "${FLAGS[@]:-}"; do [[ $f == "$1" ]] && return 0; done; return 1; }

parse_args() {
    MIRROR_ARG="" NO_MIRROR=0 WORKDIR="" DESTDIR="" FORCE=0 STAGE=preprocess
    EXTRA_ARGS=()
    local arg name val has_val
    while (($#)); do
        arg=$1
        case $arg in
            --) shift; EXTRA_ARGS+=("$@"); break ;;
            -h|--help) usage; exit 0 ;;
            --force) FORCE=1; shift; continue ;;
            --only-prepare) STAGE=prepare; shift; continue ;;
            --no-mirror) NO_MIRROR=1; shift; continue ;;
            --*) ;;
            *) EXTRA_ARGS+=("$arg"); shift; continue ;;
        esac
        name=${arg#--} has_val=0 val=""
        if [[ $name == *=* ]]; then val=${name#*=} name=${name%%=*} has_val=1; fi
        if _is_flag "$name"; then
            ((has_val)) && usage_error "--$name takes no value"
            OPT[$name]=1; shift; continue
        fi
        case $name in
            mirror|workdir|destdir|stage) ;;
            *) if [[ ! -v OPT[$name] ]]; then EXTRA_ARGS+=("$arg"); shift; continue; fi ;;
        esac
        if ((!has_val)); then
            (($# >= 2)) || usage_error "--$name needs a value"
            val=$2; shift
        fi
        shift
        [[ -n $val ]] || usage_error "--$name needs a non-empty value"
        case $name in
            mirror) MIRROR_ARG=$val ;;
            workdir) WORKDIR=$val ;;
            destdir) DESTDIR=$val ;;
            stage) STAGE=$val ;;
            *) OPT[$name]=$val ;;
        esac
    done
    local s ok=0
    for s in "${STAGES[@]}"; do [[ $s == "$STAGE" ]] && ok=1; done
    ((ok)) || usage_error "--stage must be one of: ${STAGES[*]} (got '$STAGE')"
}

# Absolute path of a (possibly not yet existing) path.
abspath() { if [[ $1 == /* ]]; then printf '%s\n' "$1"; else printf '%s\n' "$PWD/$1"; fi; }

# ------------------------------------------------------------------------------ setup
setup() {
    WORKDIR=$(abspath "${WORKDIR:-work/$CORPUS}")
    DESTDIR=$(abspath "${DESTDIR:-$DEFAULT_DESTDIR}")
    ORIG_DIR=$WORKDIR/orig
    MISSING=() TMP_DIRS=() CREATED_DIRS=()
    [[ -d $WORKDIR ]] || CREATED_DIRS+=("$WORKDIR")
    [[ -d $ORIG_DIR ]] || CREATED_DIRS=("$ORIG_DIR" "${CREATED_DIRS[@]}")
    trap _cleanup EXIT
    locate_mirror
    OFFLINE=0
    [[ ${NMT_OFFLINE:-0} =~ ^(1|true|yes)$ ]] && OFFLINE=1
    log "workdir $WORKDIR"
    if ((OFFLINE)); then
        log "mirror ${MIRROR:-(none)}; downloads disabled (NMT_OFFLINE=$NMT_OFFLINE)"
    else
        log "mirror ${MIRROR:-(none: files are downloaded)}"
    fi
}

locate_mirror() {
    local dir="" from=""
    if [[ -n $MIRROR_ARG ]]; then dir=$MIRROR_ARG from="--mirror"
    elif ((!NO_MIRROR)) && [[ -n ${NMT_DATA:-} ]]; then dir=$NMT_DATA from="NMT_DATA"
    fi
    MIRROR=""
    [[ -z $dir ]] && return 0
    [[ -d $dir ]] || usage_error "$from: '$dir' is not a directory"
    MIRROR=$(cd "$dir" && pwd)
}

find_python() {
    if [[ -n ${PYTHON:-} ]]; then return 0; fi
    if [[ -n ${NMT_PYTHON:-} ]]; then PYTHON=$NMT_PYTHON
    elif [[ -x $REPO_DIR/.venv/bin/python ]]; then PYTHON=$REPO_DIR/.venv/bin/python
    elif command -v python3 >/dev/null; then PYTHON=python3
    else die "no python found: set NMT_PYTHON to the python of the nmt installation"
    fi
}

# corpus_tools SUBCOMMAND ARGS... (see corpus_tools.py)
corpus_tools() { find_python; "$PYTHON" "$PP_DIR/corpus_tools.py" "$@"; }

_cleanup() {
    local d
    for d in "${TMP_DIRS[@]:-}"; do [[ -n $d ]] && rm -rf -- "$d"; done
    # directories this run created and left empty (e.g. nothing could be fetched)
    for d in "${CREATED_DIRS[@]:-}"; do
        if [[ -n $d && -d $d ]]; then rmdir -- "$d" 2>/dev/null || true; fi
    done
    return 0
}

# ------------------------------------------------------------------------------ inputs
# need_file NAME URLS MIRROR_REL [NOTE]
#   Sets FOUND to a readable path of NAME: $WORKDIR/orig/NAME (download cache), else
#   $MIRROR/MIRROR_REL, else a fresh download into the cache from the first of URLS
#   (space-separated) that works. When none works, records NAME as missing (see
#   fail_missing), sets FOUND="" and returns 1.
need_file() {
    local name=$1 urls=$2 rel=$3 note=${4:-} url
    FOUND=""
    if [[ -s $ORIG_DIR/$name ]]; then FOUND=$ORIG_DIR/$name; return 0; fi
    if [[ -n $MIRROR && -s $MIRROR/$rel ]]; then FOUND=$MIRROR/$rel; return 0; fi
    for url in $urls; do
        if download "$url" "$ORIG_DIR/$name"; then FOUND=$ORIG_DIR/$name; return 0; fi
    done
    MISSING+=("$name"$'\t'"$urls"$'\t'"$rel"$'\t'"$note")
    return 1
}

# have_file NAME MIRROR_REL: like need_file but never downloads and records nothing.
have_file() {
    FOUND=""
    if [[ -s $ORIG_DIR/$1 ]]; then FOUND=$ORIG_DIR/$1; return 0; fi
    if [[ -n $MIRROR && -s $MIRROR/$2 ]]; then FOUND=$MIRROR/$2; return 0; fi
    return 1
}

DOWNLOAD_ERRORS=() NETWORK_DOWN=0
# download URL DEST: fetch into DEST.part, rename to DEST on success. After a failure to
# resolve or reach a host, later downloads are not tried (no network).
download() {
    local url=$1 dest=$2 rc=0
    ((OFFLINE || NETWORK_DOWN)) && return 1
    mkdir -p "$(dirname "$dest")"
    log "downloading $url"
    if command -v curl >/dev/null; then
        curl -fL --retry 2 --connect-timeout 30 -sS -o "$dest.part" "$url" 2>"$dest.err" || rc=$?
        case $rc in 5|6|7|28) NETWORK_DOWN=1 ;; esac
    elif command -v wget >/dev/null; then
        wget -q -t 3 -T 30 -O "$dest.part" "$url" 2>"$dest.err" || rc=$?
        ((rc == 4)) && NETWORK_DOWN=1
    else
        echo "neither curl nor wget is installed" >"$dest.err"; rc=1; NETWORK_DOWN=1
    fi
    if ((rc == 0)) && [[ -s $dest.part ]]; then
        mv -f -- "$dest.part" "$dest"; rm -f -- "$dest.err"; return 0
    fi
    DOWNLOAD_ERRORS+=("$url: $(tail -n 1 "$dest.err" 2>/dev/null)")
    rm -f -- "$dest.part" "$dest.err"
    return 1
}

# fail_missing [DONE_TEXT] [ALTERNATIVE_TEXT]: one message naming every missing file,
# where it comes from and where to put it; exit 3.
fail_missing() {
    local done_text=${1:-} alt=${2:-} entry name url rel note why
    {
        printf '%s: error: %d input file(s) missing; cannot continue.\n' "$SCRIPT_NAME" "${#MISSING[@]}"
        if ((OFFLINE)); then why="downloads are disabled (NMT_OFFLINE=$NMT_OFFLINE)"
        elif ((NETWORK_DOWN)); then why="downloading failed (no network?)"
        else why="downloading failed"; fi
        if [[ -n $MIRROR ]]; then
            printf 'They are not in the mirror %s, and %s.\n' "$MIRROR" "$why"
        else
            printf 'No mirror is set (--mirror DIR or NMT_DATA), and %s.\n' "$why"
        fi
        printf 'Needed:\n'
        for entry in "${MISSING[@]}"; do
            IFS=$'\t' read -r name url rel note <<<"$entry"
            printf '  %s\n      from %s\n' "$name" "${url// / or }"
            [[ -n $note ]] && printf '      (%s)\n' "$note"
        done
        local -A dirs=()
        local -a order=()
        for entry in "${MISSING[@]}"; do
            IFS=$'\t' read -r name url rel note <<<"$entry"
            rel=$(dirname "$rel")
            [[ -v dirs[$rel] ]] || order+=("$rel")
            dirs[$rel]=1
        done
        printf 'Put them in %s/ (the download cache),\n' "$ORIG_DIR"
        printf 'or in a local mirror (laid out like shared/data) under\n'
        printf '  <mirror>/%s/\n' "${order[@]}"
        printf 'and run again with --mirror <mirror> (or NMT_DATA=<mirror>).\n'
        [[ -n $alt ]] && printf '%s\n' "$alt"
        if ((${#DOWNLOAD_ERRORS[@]})); then
            printf 'Download errors:\n'; printf '  %s\n' "${DOWNLOAD_ERRORS[@]}"
        fi
        [[ -n $done_text ]] && printf 'Done so far: %s\n' "$done_text"
    } >&2
    exit 3
}

# tar_extract TARBALL DESTDIR MEMBER...: extract the named members (one pass).
tar_extract() {
    local tarball=$1 dest=$2; shift 2
    mkdir -p "$dest"
    tar -xf "$tarball" -C "$dest" "$@" 2>"$dest/.tar.err" || {
        local err; err=$(head -3 "$dest/.tar.err")
        die "cannot extract $* from $tarball: $err"
    }
    rm -f -- "$dest/.tar.err"
}

# ------------------------------------------------------------------------------ stages
# A stage NAME with signature SIG (its options) is done when $WORKDIR/.stamps/NAME holds SIG.
stage_done() {
    local stamp=$WORKDIR/.stamps/$1
    ((FORCE)) && [[ " ${FORCED_STAGES:-} " != *" $1 "* ]] && return 1
    [[ -f $stamp && $(cat "$stamp") == "$2" ]]
}

# stage_begin NAME: sets TMP to a fresh, empty staging directory for the stage's outputs
# (removed on exit unless committed).
stage_begin() {
    TMP=$WORKDIR/.tmp.$1
    rm -rf -- "$TMP"
    mkdir -p "$TMP"
    TMP_DIRS+=("$TMP")
}

# stage_commit NAME SIG TMPDIR: move every file of TMPDIR into $WORKDIR (rename), then stamp.
stage_commit() {
    local name=$1 sig=$2 tmp=$3 f
    mkdir -p "$WORKDIR/.stamps"
    rm -f -- "$WORKDIR/.stamps/$name"
    for f in "$tmp"/*; do
        [[ -e $f ]] || continue
        mv -f -- "$f" "$WORKDIR/"
    done
    rmdir -- "$tmp"
    printf '%s\n' "$sig" >"$WORKDIR/.stamps/$name.tmp"
    mv -f -- "$WORKDIR/.stamps/$name.tmp" "$WORKDIR/.stamps/$name"
    FORCED_STAGES="${FORCED_STAGES:-} $name"
}

# stage_invalidate NAME: forget that stage NAME was done (its outputs are being replaced).
stage_invalidate() { rm -f -- "$WORKDIR/.stamps/$1"; }

# stop_after STAGE: exit 0 when the user asked to stop after STAGE.
stop_after() {
    if [[ $STAGE == "$1" ]]; then log "stopping after stage '$1' (--stage $STAGE)"; exit 0; fi
}

# ------------------------------------------------------------------------------ checks
nlines() { wc -l <"$1" | tr -d ' '; }

# check_lines EXPECTED FILE...: every FILE has EXPECTED lines (EXPECTED empty: all equal).
check_lines() {
    local want=$1 f n; shift
    for f in "$@"; do
        n=$(nlines "$f")
        [[ -z $want ]] && want=$n
        [[ $n == "$want" ]] || die "$(basename "$f") has $n lines, expected $want (corrupt or wrong input file?)"
    done
}

check_sha256() {
    local file=$1 want=$2 got
    got=$(sha256sum "$file" | cut -d' ' -f1)
    [[ $got == "$want" ]] || die "$file: SHA-256 $got, expected $want (corrupt or changed upstream; delete it and run again)"
}

# ------------------------------------------------------------------------------ nmt preprocess
find_nmt() {
    if [[ -n ${NMT_BIN:-} ]]; then NMT=$NMT_BIN
    elif command -v nmt >/dev/null; then NMT=nmt
    elif [[ -x $REPO_DIR/.venv/bin/nmt ]]; then NMT=$REPO_DIR/.venv/bin/nmt
    else die "the nmt command was not found: install the package (pip install -e .) or set NMT_BIN"
    fi
}

# migrate_absolute_stamp STAMP: versions before 2026-11-30 keyed and wrote the preprocess stamp
# with absolute paths; such a stamp of this directory is rewritten with relative ones.
migrate_absolute_stamp() {
    local old
    old=$WORKDIR/.stamps/preprocess-$(printf '%s' "$DESTDIR" | md5sum | cut -c1-12)
    if [[ ! -f $1 && -f $old && $old != "$1" ]]; then
        local content
        content=$(cat "$old")
        printf '%s\n' "${content//"$PWD"\//}" >"$1"
        rm -f -- "$old"
    fi
}

# run_nmt_preprocess ARGS...: `nmt preprocess ARGS... --destdir D EXTRA_ARGS... [--force]`.
# Skipped when DESTDIR exists and was made from the same prepared data (the prepare stamps)
# with the same arguments. A DESTDIR this work directory made before is rebuilt (--force)
# when either changed; any other existing DESTDIR is left to nmt preprocess to refuse.
run_nmt_preprocess() {
    local -a cmd
    find_nmt
    cmd=(preprocess "$@" --destdir "$DESTDIR" "${EXTRA_ARGS[@]}")
    # one stamp per output directory, so one work directory can feed several (BPE, char, ...)
    # The stamp records what defines the output, with paths relative to the current directory
    # (the checkout, for the recipes), so a moved or copied checkout finds its work done.
    local key data dest=${DESTDIR#"$PWD"/} shown="nmt ${cmd[*]}"
    shown=${shown//"$PWD"\//}
    key=preprocess-$(printf '%s' "$dest" | md5sum | cut -c1-12)
    local stamp=$WORKDIR/.stamps/$key
    mkdir -p "$WORKDIR/.stamps"
    data=$(find "$WORKDIR/.stamps" -maxdepth 1 -type f ! -name 'preprocess*' -print0 |
           sort -z | xargs -0 cat | tr '\n' ';')
    local sig="$dest"$'\n'"$shown | data: $data"   # line 1: the directory it made
    migrate_absolute_stamp "$stamp"
    if [[ -d $DESTDIR ]] && stage_done "$key" "$sig"; then
        log "preprocess: already done ($DESTDIR)"
        return 0
    fi
    local existed=0 rc=0
    if [[ -d $DESTDIR ]]; then
        existed=1
        if ((!FORCE)) && [[ -f $stamp && $(head -n 1 "$stamp") == "$dest" ]]; then
            log "preprocess: the prepared data or the arguments changed; rebuilding $DESTDIR"
            FORCE=1
        fi
    fi
    ((FORCE)) && cmd+=(--force)
    log "running: $NMT ${cmd[*]}"
    "$NMT" "${cmd[@]}" || rc=$?
    if ((rc)); then
        ((existed && !FORCE)) &&
            die "nmt preprocess failed (exit $rc); $DESTDIR already existed (made with other arguments?): pass --force to rebuild it"
        die "nmt preprocess failed (exit $rc); see the message above"
    fi
    printf '%s\n' "$sig" >"$stamp.tmp"
    mv -f -- "$stamp.tmp" "$stamp"
    log "done: $DESTDIR"
}
