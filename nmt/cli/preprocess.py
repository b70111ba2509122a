"""`nmt preprocess`: parse the options, call :func:`nmt.data.preprocess.preprocess`, print a summary."""

from __future__ import annotations

import argparse
import os
from dataclasses import fields
from pathlib import Path

from nmt.data.preprocess import PreprocessOptions, format_summary, preprocess
from nmt.data.subword import SUBWORD_KINDS
from nmt.data.tokenizer import TOKENIZERS, UNICODE_FORMS
from nmt.translation import checkpoint_pipeline

BOOL = argparse.BooleanOptionalAction
DEFAULTS = PreprocessOptions(source_lang="", target_lang="", destdir="")


def _prefixes(value: str) -> list[str]:
    return [p for p in value.split(",") if p]


def add_arguments(p: argparse.ArgumentParser) -> None:
    d = DEFAULTS
    io = p.add_argument_group("data")
    io.add_argument("-s", "--source-lang", required=True)
    io.add_argument("-t", "--target-lang", required=True)
    io.add_argument("--trainpref", type=_prefixes, default=[], help="train prefix(es), comma-separated; files are PREFIX.LANG")
    io.add_argument("--validpref", type=_prefixes, default=[], help="valid prefix(es): splits valid, valid1, ...")
    io.add_argument("--testpref", type=_prefixes, default=[], help="test prefix(es): splits test, test1, ...")
    io.add_argument("--destdir", required=True, help="output data directory")
    io.add_argument("--force", action="store_true", help="replace a non-empty --destdir")
    io.add_argument("--pipeline-from", metavar="DIR|CHECKPOINT",
                    help="reuse the pipeline (tokenizer, subwords, dictionaries) of a data directory "
                         "or a checkpoint; only binarize")
    io.add_argument("--keep-text", action="store_true", help="keep tokenized and segmented text in DESTDIR/text/")
    io.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1))

    t = p.add_argument_group("text")
    t.add_argument("--unicode-norm", choices=UNICODE_FORMS, default=d.unicode_norm)
    t.add_argument("--punct-norm", action=BOOL, default=d.punct_norm, help="Moses punctuation normalisation")
    t.add_argument("--tokenizer", choices=TOKENIZERS, default=d.tokenizer)
    t.add_argument("--moses-escape", action=BOOL, default=d.moses_escape, help="Moses XML escaping (&apos; ...)")
    t.add_argument("--aggressive-dash-splits", action=BOOL, default=d.aggressive_dash_splits)
    t.add_argument("--lowercase", action=BOOL, default=d.lowercase)

    c = p.add_argument_group("cleaning (training split only, like Moses clean-corpus-n)")
    c.add_argument("--min-len", type=int, default=d.min_len, help="minimum word tokens per side")
    c.add_argument("--max-len", type=int, default=d.max_len, help="maximum word tokens per side")
    c.add_argument("--max-len-ratio", type=float, default=d.max_len_ratio, help="maximum length ratio of the sides")

    s = p.add_argument_group("subwords and dictionaries")
    s.add_argument("--bpe", choices=SUBWORD_KINDS, default=d.bpe)
    s.add_argument("--bpe-merges", type=int, default=d.bpe_merges, help="subword-nmt merge operations")
    s.add_argument("--vocab-size", type=int, default=d.vocab_size, help="sentencepiece vocabulary size")
    s.add_argument("--sentencepiece-model-type", choices=("unigram", "bpe"), default=d.sentencepiece_model_type)
    s.add_argument("--joint-bpe", action=BOOL, default=d.joint_bpe, help="one subword model for both languages")
    s.add_argument("--joined-dictionary", action=BOOL, default=None, help="one dictionary for both languages (default: as --joint-bpe)")
    s.add_argument("--threshold", type=int, default=d.threshold, help="drop symbols seen fewer times")
    s.add_argument("--nwords", type=int, default=d.nwords, help="keep at most this many symbols (-1: all)")
    s.add_argument("--padding-factor", type=int, default=d.padding_factor, help="pad the dictionary size to a multiple")


def run(args: argparse.Namespace) -> int:
    names = {f.name for f in fields(PreprocessOptions)}
    opts = PreprocessOptions(**{k: v for k, v in vars(args).items() if k in names})
    reused = None
    if opts.pipeline_from is not None and Path(opts.pipeline_from).is_file():  # a checkpoint's
        reused = checkpoint_pipeline(opts.pipeline_from)
    summary = preprocess(opts, log=lambda msg: print(msg, flush=True), reused=reused)
    print(format_summary(summary))
    print(f"wrote {opts.destdir}")
    return 0
