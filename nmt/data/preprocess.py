"""`nmt preprocess` as a library call: raw parallel text -> a self-describing binarized directory.

Stages (each streams file to file, so corpora larger than memory pass through):

1. read both sides in lockstep (UTF-8 and line counts checked), normalise, Moses-tokenize,
   lowercase; clean the training split only (empty lines, ``max_len``, length ratio, as Moses'
   clean-corpus-n does, counting word tokens);
2. learn the subword model on the cleaned training text (joint or per language);
3. segment every split; 4. build the dictionaries from the training pieces;
5. binarize; then write ``pipeline.json``, the assets and ``summary.json``.

Everything is written into a temporary sibling directory that is renamed to ``destdir`` only at
the end, so a failure or an interrupt never leaves a half-written data directory.
"""

from __future__ import annotations

import json
import shutil
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

from nmt.data import workers
from nmt.data.binarized import write_split
from nmt.data.dictionary import UNK_ID, Dictionary
from nmt.data.files import no_space_left, remove_stale_temporaries, temporary_path
from nmt.data.pipeline import Pipeline, make_spec
from nmt.data.subword import SUBWORD_KINDS, learn_sentencepiece, learn_subword_nmt
from nmt.data.text import count_lines, read_lines, read_parallel, require_file
from nmt.data.tokenizer import TextSteps
from nmt.errors import NmtError


@dataclass
class PreprocessOptions:
    source_lang: str
    target_lang: str
    destdir: str
    trainpref: list[str] = field(default_factory=list)
    validpref: list[str] = field(default_factory=list)
    testpref: list[str] = field(default_factory=list)
    force: bool = False
    # word-level steps (nmt.data.tokenizer.TextSteps)
    unicode_norm: str = "NFC"
    punct_norm: bool = True
    tokenizer: str = "moses"
    moses_escape: bool = False
    aggressive_dash_splits: bool = False
    lowercase: bool = False
    # cleaning of the training split
    min_len: int = 1
    max_len: int = 250
    max_len_ratio: float = 9.0
    # subwords and dictionaries
    bpe: str = "subword-nmt"
    bpe_merges: int = 10000
    vocab_size: int = 8000
    sentencepiece_model_type: str = "unigram"
    joint_bpe: bool = True
    joined_dictionary: bool | None = None  # None: joined when the subword model is joint
    threshold: int = 0
    nwords: int = -1
    padding_factor: int = 8
    pipeline_from: str | None = None  # reuse an existing pipeline: a data directory's (or, from
    # the command line, a checkpoint's: preprocess() is then handed it as ``reused``)
    workers: int = 2
    keep_text: bool = False  # keep the tokenized and segmented text in destdir/text/

    @property
    def langs(self) -> tuple[str, str]:
        return (self.source_lang, self.target_lang)


def split_names(opts: PreprocessOptions) -> dict[str, list[str]]:
    """Split name -> its prefixes: all train prefixes form one split; valid/test get valid1, ..."""
    splits: dict[str, list[str]] = {}
    if opts.trainpref:
        splits["train"] = list(opts.trainpref)
    for kind, prefixes in (("valid", opts.validpref), ("test", opts.testpref)):
        for i, p in enumerate(prefixes):
            splits[kind if i == 0 else f"{kind}{i}"] = [p]
    return splits


def check_inputs(opts: PreprocessOptions, reused: Pipeline | None = None) -> dict[str, list[str]]:
    """Fail early, before any work: bad options, missing files, an occupied ``destdir``."""
    if opts.source_lang == opts.target_lang:
        raise NmtError("--source-lang and --target-lang must differ")
    if opts.bpe not in SUBWORD_KINDS:
        raise NmtError(f"unknown --bpe {opts.bpe!r}; use one of {', '.join(SUBWORD_KINDS)}")
    if not opts.trainpref and opts.pipeline_from is None:
        raise NmtError("--trainpref is required (or --pipeline-from DIR to reuse a pipeline)")
    splits = split_names(opts)
    for prefixes in splits.values():
        for prefix in prefixes:
            for lang in opts.langs:
                require_file(f"{prefix}.{lang}")
    if opts.pipeline_from is not None and reused is None:
        Pipeline.load(opts.pipeline_from)  # a damaged or hostile pipeline is refused before any work
    dest = Path(opts.destdir)
    if dest.exists() and not dest.is_dir():
        raise NmtError(f"--destdir {dest} exists and is not a directory")
    if dest.is_dir() and any(dest.iterdir()) and not opts.force:
        raise NmtError(f"--destdir {dest} exists and is not empty; use --force to replace it")
    return splits


def text_steps(opts: PreprocessOptions, lang: str) -> TextSteps:
    return TextSteps(
        lang=lang, unicode_norm=opts.unicode_norm, punct_norm=opts.punct_norm,
        tokenizer=opts.tokenizer, moses_escape=opts.moses_escape,
        aggressive_dash_splits=opts.aggressive_dash_splits, lowercase=opts.lowercase,
    )


def preprocess(opts: PreprocessOptions, log=print, reused: Pipeline | None = None) -> dict:
    """Run all stages; returns the summary (also written to ``destdir/summary.json``). ``reused``:
    the pipeline named by ``opts.pipeline_from`` when the caller has read it already."""
    splits = check_inputs(opts, reused)
    dest = Path(opts.destdir)
    with no_space_left(dest):
        dest.parent.mkdir(parents=True, exist_ok=True)
        remove_stale_temporaries(dest.parent, dest.name)
        tmp = temporary_path(dest, "partial")
        tmp.mkdir()
        try:
            summary = _run(opts, splits, tmp, log, reused)
            _replace_dir(tmp, dest)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    return summary


def _run(opts: PreprocessOptions, splits: dict[str, list[str]], tmp: Path, log,
         reused: Pipeline | None) -> dict:
    summary: dict = {"options": asdict(opts), "splits": {}, "seconds": {}}
    text_dir = tmp / "text"
    text_dir.mkdir()
    started = time.perf_counter()
    if opts.pipeline_from is None:
        steps = {lang: text_steps(opts, lang) for lang in opts.langs}
    else:
        reused = reused or Pipeline.load(opts.pipeline_from)
        if (reused.source_lang, reused.target_lang) != opts.langs:
            raise NmtError(f"--pipeline-from {opts.pipeline_from} is for {reused.source_lang}-{reused.target_lang}")
        steps = {lang: reused.sides[lang].words.steps for lang in opts.langs}

    word_counts = {lang: Counter() for lang in opts.langs}
    for split, prefixes in splits.items():
        summary["splits"][split] = _tokenize_split(
            opts, steps, split, prefixes, text_dir, word_counts if split == "train" else None
        )
    if "train" in splits and summary["splits"]["train"]["kept"] == 0:
        raise NmtError(f"the training set is empty after cleaning (read {summary['splits']['train']['read']} lines)")
    summary["seconds"]["tokenize"] = round(time.perf_counter() - started, 2)

    t = time.perf_counter()
    if opts.pipeline_from is None:
        spec, assets = _learn_pipeline(opts, steps, word_counts, text_dir, splits, log)
    else:
        spec, assets = reused.spec, reused.assets
    pipeline = Pipeline(spec, assets)
    summary["seconds"]["learn"] = round(time.perf_counter() - t, 2)

    t = time.perf_counter()
    for split in splits:
        summary["splits"][split].update(_binarize_split(opts, pipeline, split, text_dir, tmp))
    summary["seconds"]["binarize"] = round(time.perf_counter() - t, 2)
    summary["vocab"] = {lang: len(pipeline.sides[lang].dictionary) for lang in opts.langs}
    summary["seconds"]["total"] = round(time.perf_counter() - started, 2)

    pipeline.save(tmp)
    (tmp / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    if not opts.keep_text:
        shutil.rmtree(text_dir)
    return summary


def _tokenize_split(opts, steps, split, prefixes, text_dir: Path, counts) -> dict:
    """Stage 1 for one split: tokenized text files, cleaning statistics, word counts (train)."""
    src, tgt = opts.langs
    stats = {"read": 0, "kept": 0, "dropped": {"empty": 0, "length": 0, "ratio": 0}}
    clean = split == "train"
    total = sum(count_lines(f"{p}.{src}") for p in prefixes)
    with open(text_dir / f"{split}.tok.{src}", "w", encoding="utf-8") as fs, \
         open(text_dir / f"{split}.tok.{tgt}", "w", encoding="utf-8") as ft:
        pairs = (pair for p in prefixes for pair in read_parallel(f"{p}.{src}", f"{p}.{tgt}"))
        for s, t in workers.tokenize_pairs(pairs, steps, src, tgt, opts.workers, total, f"tokenize {split}"):
            stats["read"] += 1
            if clean:
                reason = _clean_reason(len(s), len(t), opts)
                if reason:
                    stats["dropped"][reason] += 1
                    continue
                counts[src].update(s)
                counts[tgt].update(t)
            stats["kept"] += 1
            fs.write(" ".join(s) + "\n")
            ft.write(" ".join(t) + "\n")
    if not clean:
        del stats["dropped"]
    return stats


def _clean_reason(ns: int, nt: int, opts: PreprocessOptions) -> str | None:
    """Why Moses clean-corpus-n would drop a pair of ``ns`` and ``nt`` word tokens, or None."""
    if ns == 0 or nt == 0:
        return "empty"
    if min(ns, nt) < opts.min_len or max(ns, nt) > opts.max_len:
        return "length"
    if ns / nt > opts.max_len_ratio or nt / ns > opts.max_len_ratio:
        return "ratio"
    return None


def _learn_pipeline(opts, steps, word_counts, text_dir: Path, splits, log) -> tuple[dict, dict]:
    """Stages 2-4: the subword model(s) and the dictionaries, as a pipeline spec and its assets."""
    if "train" not in splits:
        raise NmtError("learning a pipeline needs --trainpref")
    src, tgt = opts.langs
    assets: dict[str, bytes] = {}
    subword: dict[str, dict] = {}
    groups = [[src, tgt]] if opts.joint_bpe else [[src], [tgt]]
    for group in groups:
        name = _learn_subword(opts, group, word_counts, text_dir, assets, log)
        for lang in group:
            subword[lang] = _subword_spec(opts.bpe, name)
    languages = {lang: {"text": steps[lang].to_dict(), "subword": subword[lang]} for lang in opts.langs}
    piece_counts = _count_pieces(opts, languages, assets, text_dir)
    joined = opts.joint_bpe if opts.joined_dictionary is None else opts.joined_dictionary
    build = {"threshold": opts.threshold, "nwords": opts.nwords, "padding_factor": opts.padding_factor}
    if joined:
        shared = Dictionary.build(piece_counts[src] + piece_counts[tgt], **build).to_text()
        dicts = {src: shared, tgt: shared}
    else:
        dicts = {lang: Dictionary.build(piece_counts[lang], **build).to_text() for lang in opts.langs}
    for lang in opts.langs:
        assets[f"dict.{lang}.txt"] = dicts[lang].encode("utf-8")
        languages[lang]["dictionary"] = f"dict.{lang}.txt"
    return make_spec(src, tgt, languages), assets


def _learn_subword(opts, group: list[str], word_counts, text_dir: Path, assets: dict, log) -> str | None:
    """Learn one subword model for the languages in ``group``; returns its asset name."""
    suffix = "" if len(group) == 2 else f".{group[0]}"
    if opts.bpe == "subword-nmt":
        log(f"learning {opts.bpe_merges} BPE merges on {'+'.join(group)} ...")
        name = f"bpe{suffix}.codes"
        assets[name] = learn_subword_nmt(sum((word_counts[g] for g in group), Counter()), opts.bpe_merges)
        return name
    if opts.bpe == "sentencepiece":
        log(f"training a sentencepiece {opts.sentencepiece_model_type} model of {opts.vocab_size} pieces on {'+'.join(group)} ...")
        name = f"spm{suffix}.model"
        files = [text_dir / f"train.tok.{g}" for g in group]
        assets[name] = learn_sentencepiece(files, opts.vocab_size, opts.sentencepiece_model_type, opts.workers)
        return name
    return None


def _subword_spec(kind: str, asset: str | None) -> dict:
    if kind == "subword-nmt":
        return {"type": kind, "codes": asset, "separator": "@@"}
    if kind == "sentencepiece":
        return {"type": kind, "model": asset}
    return {"type": kind}


def _count_pieces(opts, languages: dict, assets: dict, text_dir: Path) -> dict[str, Counter]:
    """Segment the training text once and count pieces, keeping the segmented files for stage 5."""
    counts = {}
    for lang in opts.langs:
        counts[lang] = Counter()
        _segment_file(opts, languages[lang]["subword"], assets, text_dir, "train", lang, counts[lang])
    return counts


def _segment_file(opts, subword_spec, assets, text_dir: Path, split: str, lang: str, counter=None) -> None:
    src_file, out_file = text_dir / f"{split}.tok.{lang}", text_dir / f"{split}.sub.{lang}"
    lines = (line.split() for line in read_lines(src_file))
    total = count_lines(src_file)
    with open(out_file, "w", encoding="utf-8") as out:
        for pieces in workers.segment_lines(lines, subword_spec, assets, opts.workers, total, f"segment {split}.{lang}"):
            if counter is not None:
                counter.update(pieces)
            out.write(" ".join(pieces) + "\n")


def _binarize_split(opts, pipeline: Pipeline, split: str, text_dir: Path, tmp: Path) -> dict:
    """Stage 5: ids for every segmented line; token counts and the unknown-token rate."""
    stats = {"tokens": {}, "unk_rate": {}}
    for lang in opts.langs:
        side = pipeline.sides[lang]
        sub_file = text_dir / f"{split}.sub.{lang}"
        if not sub_file.exists():
            _segment_file(opts, side.segmenter.spec(), pipeline.assets, text_dir, split, lang)
        unk = Counter()
        n = write_split(tmp, split, lang, _encode_lines(sub_file, side.dictionary, unk), len(side.dictionary))
        stats["tokens"][lang] = n
        stats["unk_rate"][lang] = round(unk[UNK_ID] / n, 6) if n else 0.0
    return stats


def _encode_lines(path: Path, dictionary: Dictionary, unk: Counter):
    """Yield the ids of each line of segmented text, counting unknowns into ``unk[UNK_ID]``."""
    for line in read_lines(path):
        row = dictionary.encode(line.split())
        unk[UNK_ID] += row.count(UNK_ID)
        yield row


def _replace_dir(new: Path, dest: Path) -> None:
    """Move ``new`` to ``dest``, replacing an existing ``dest`` only after the move is certain."""
    if dest.exists():
        old = temporary_path(dest, "old")
        dest.rename(old)
        new.rename(dest)
        shutil.rmtree(old)
    else:
        new.rename(dest)


def format_summary(summary: dict) -> str:
    """Human-readable summary lines for the terminal."""
    lines = []
    for split, s in summary["splits"].items():
        line = f"{split:>8}: read {s['read']:,} lines, kept {s['kept']:,}"
        if "dropped" in s:
            dropped = ", ".join(f"{k} {v:,}" for k, v in s["dropped"].items())
            line += f" (dropped: {dropped})"
        toks = ", ".join(f"{lang} {n:,}" for lang, n in s["tokens"].items())
        line += f"; tokens {toks}"
        if split != "train":
            unk = ", ".join(f"{lang} {100 * r:.2f}%" for lang, r in s["unk_rate"].items())
            line += f"; unknown {unk}"
        lines.append(line)
    lines.append("vocabulary: " + ", ".join(f"{lang} {n:,}" for lang, n in summary["vocab"].items()))
    lines.append(f"time: {summary['seconds']['total']:.1f} s")
    return "\n".join(lines)
