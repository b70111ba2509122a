"""`nmt score --hyp FILE --ref FILE [--ref FILE2 ...] [--metrics bleu chrf ter] [--json]`."""

from __future__ import annotations

import argparse
import json
import sys

from nmt.data.text import decode_line, read_lines
from nmt.errors import NmtError
from nmt.scoring import METRICS, corpus_scores, test_set_references, tokenized_bleu


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--hyp", required=True, help="detokenized hypotheses, one per line ('-': stdin)")
    p.add_argument("--ref", action="append", default=[], help="raw references (repeat for several)")
    p.add_argument("--test-set", help="take references from sacreBLEU's cache, e.g. wmt14/full")
    p.add_argument("--langpair", help="with --test-set, e.g. en-de")
    p.add_argument("--metrics", nargs="+", default=["bleu"], choices=METRICS)
    p.add_argument("--lowercase", action="store_true", help="case-insensitive scores")
    p.add_argument("--tokenize", help="sacreBLEU BLEU tokenizer (default 13a; zh, intl, char, ...)")
    p.add_argument("--tokenized-bleu", metavar="LANG",
                   help="also the paper-style BLEU on Moses-tokenized text in target language LANG")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of text")


def _read(path: str) -> list[str]:
    if path == "-":
        return [decode_line(raw, "<stdin>", i) for i, raw in enumerate(sys.stdin.buffer, 1)]
    return list(read_lines(path))


def run(args: argparse.Namespace) -> int:
    if bool(args.ref) == bool(args.test_set):
        raise NmtError("give either --ref FILE (repeatable) or --test-set NAME --langpair L1-L2")
    if args.test_set and not args.langpair:
        raise NmtError("--test-set needs --langpair, e.g. --langpair en-de")
    hyps = _read(args.hyp)
    refs = [_read(r) for r in args.ref] if args.ref else test_set_references(args.test_set, args.langpair)
    scores = corpus_scores(hyps, refs, args.metrics, args.lowercase, args.tokenize)
    if args.tokenized_bleu:
        scores.append(tokenized_bleu(hyps, refs, args.tokenized_bleu))
    if args.json:
        print(json.dumps({"scores": [s.to_dict() for s in scores], "sentences": len(hyps)}))
    else:
        for s in scores:
            print(s.text)
    return 0
