#!/usr/bin/env python3
"""Text helpers for the preprocess/<corpus>.sh scripts.

Standard library only, except `pairs --moses-clean` (sacremoses) and
`pairs --remove-nonprinting` (regex); both are dependencies of nmt, so present in the
project's virtualenv.

    segs IN OUT [IN OUT ...]        one line per <seg> of WIT3 XML / WMT SGM files
    strip-tags --style S IN OUT     remove TED talk metadata lines from a train.tags file
    pairs --langs S T --out P ...   join, clean and (optionally) split parallel corpora

Errors a user can cause end with one line `corpus_tools: error: ...` and exit code 1.
The calling script writes into a staging directory and renames, so outputs are never
half-written from the user's point of view.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from itertools import islice, zip_longest
from xml.sax.saxutils import unescape

SEG_RE = re.compile(r"<seg\b[^>]*>(.*)</seg>")
CHAR_REF_RE = re.compile(r"&#(x[0-9a-fA-F]+|[0-9]+);")
XML_ENTITIES = {"&quot;": '"', "&apos;": "'"}

# fairseq examples/translation/prepare-iwslt14.sh: `grep -v` these, then `sed` the others away.
FAIRSEQ_DROP = ("<url>", "<talkid>", "<keywords>")
FAIRSEQ_REMOVE = ("<title>", "</title>", "<description>", "</description>")
# torchtext.datasets.IWSLT.clean (the IWSLT 2016 loader): drop any line holding one of these.
TORCHTEXT_DROP = ("<url", "<keywords", "<talkid", "<description", "<reviewer",
                  "<translator", "<title", "<speaker")


class UserError(Exception):
    pass


def read_lines(path):
    try:
        with open(path, encoding="utf-8", newline="") as f:
            for line in f:
                yield line.rstrip("\r\n")
    except FileNotFoundError:
        raise UserError(f"{path}: no such file") from None
    except UnicodeDecodeError as e:
        raise UserError(f"{path}: not valid UTF-8 ({e.reason} at byte {e.start})") from None


def write_lines(path, lines):
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        n = 0
        for line in lines:
            f.write(line)
            f.write("\n")
            n += 1
    return n


# ---------------------------------------------------------------------------- segs
def clean_seg(text):
    """Raw segment text: XML entities decoded, Unicode whitespace runs -> one space."""
    text = unescape(text, XML_ENTITIES)
    text = CHAR_REF_RE.sub(
        lambda m: chr(int(m.group(1)[1:], 16) if m.group(1)[0] == "x" else int(m.group(1))), text)
    return " ".join(text.split())


def extract_segs(path):
    for lineno, line in enumerate(read_lines(path), 1):
        if "<seg" not in line:
            continue
        m = SEG_RE.search(line)
        if m is None:
            raise UserError(f"{path}:{lineno}: <seg> without </seg> on the same line")
        yield clean_seg(m.group(1))


def cmd_segs(args):
    if len(args.files) % 2:
        raise UserError("segs takes pairs of IN OUT paths")
    for src, dst in zip(args.files[::2], args.files[1::2]):
        n = write_lines(dst, extract_segs(src))
        if n == 0:
            raise UserError(f"{src}: no <seg> lines found")


# ---------------------------------------------------------------------------- strip-tags
def strip_tags(lines, style):
    for line in lines:
        if style == "fairseq":
            if any(t in line for t in FAIRSEQ_DROP):
                continue
            for t in FAIRSEQ_REMOVE:
                line = line.replace(t, "")
            yield line
        else:
            if any(t in line for t in TORCHTEXT_DROP):
                continue
            yield line.strip()


def cmd_strip_tags(args):
    write_lines(args.output, strip_tags(read_lines(args.input), args.style))


# ---------------------------------------------------------------------------- pairs
_FILTER = None


class PairFilter:
    """Per-pair cleaning; built once per worker process."""

    def __init__(self, langs, remove_nonprinting, drop_empty, max_chars, moses_clean, max_tokens,
                 ratio):
        self.drop_empty = drop_empty or moses_clean
        self.max_chars = max_chars
        self.moses_clean = moses_clean
        self.max_tokens = max_tokens
        self.ratio = ratio
        self.nonprinting = self.tok = None
        if remove_nonprinting:
            import regex
            self.nonprinting = regex.compile(r"\p{C}")
        if moses_clean:
            from sacremoses import MosesTokenizer
            self.tok = [MosesTokenizer(lang) for lang in langs]

    def __call__(self, pair):
        if self.nonprinting is not None:
            # Moses remove-non-printing-char.perl, as fairseq's WMT recipes run it
            pair = tuple(self.nonprinting.sub(" ", s) for s in pair)
        pair = tuple(s.strip() for s in pair)
        if self.drop_empty and not all(pair):
            return None
        if self.max_chars and any(len(s) > self.max_chars for s in pair):
            return None
        if self.moses_clean and not self._clean_ok(pair):
            return None
        return pair

    def _clean_ok(self, pair):
        """Moses clean-corpus-n.perl MIN=1 MAX=max_tokens -ratio R, on Moses-tokenized text
        (tokenizer.perl defaults: no -a, escaping on), as fairseq's prepare-iwslt14.sh runs it."""
        counts = []
        for tok, s in zip(self.tok, pair):
            words = tok.tokenize(s, escape=True, return_str=True).split()
            if not words or len(words) > self.max_tokens:
                return False
            if any(len(w) > 1000 for w in words):
                return False
            counts.append(len(words))
        a, b = counts
        return a / b <= self.ratio and b / a <= self.ratio


def _init_worker(kwargs):
    global _FILTER
    _FILTER = PairFilter(**kwargs)


def _run_chunk(chunk):
    return [_FILTER(p) for p in chunk]


def read_pairs(prefixes, langs):
    for prefix in prefixes:
        paths = [f"{prefix}.{lang}" for lang in langs]
        for pair in zip_longest(*(read_lines(p) for p in paths)):
            if None in pair:
                counts = [sum(1 for _ in read_lines(p)) for p in paths]
                raise UserError(f"{paths[0]} and {paths[1]} have different line counts "
                                f"({counts[0]} vs {counts[1]})")
            yield pair


def chunks(it, size):
    it = iter(it)
    while chunk := list(islice(it, size)):
        yield chunk


def cmd_pairs(args):
    kwargs = dict(langs=args.langs, remove_nonprinting=args.remove_nonprinting,
                  drop_empty=args.drop_empty,
                  max_chars=args.max_chars, moses_clean=args.moses_clean,
                  max_tokens=args.max_tokens, ratio=args.ratio)
    pairs = chunks(read_pairs(args.inputs, args.langs), 2000)
    if args.workers > 1:
        import multiprocessing as mp
        pool = mp.get_context("fork").Pool(args.workers, _init_worker, (kwargs,))
        results = pool.imap(_run_chunk, pairs, chunksize=1)
    else:
        pool = None
        _init_worker(kwargs)
        results = map(_run_chunk, pairs)

    src, tgt = args.langs
    outs = {"train": [open(f"{args.out}.{lang}", "w", encoding="utf-8", newline="\n")
                      for lang in args.langs]}
    if args.valid_out:
        outs["valid"] = [open(f"{args.valid_out}.{lang}", "w", encoding="utf-8", newline="\n")
                         for lang in args.langs]
    stats = {"input": 0, "kept": 0, "train": 0, "valid": 0}
    try:
        for chunk in results:
            for pair in chunk:
                stats["input"] += 1
                if pair is None:
                    continue
                stats["kept"] += 1
                split = "valid" if args.every and stats["kept"] % args.every == 0 else "train"
                stats[split] += 1
                for f, s in zip(outs[split], pair):
                    f.write(s)
                    f.write("\n")
    finally:
        for files in outs.values():
            for f in files:
                f.close()
        if pool is not None:
            pool.terminate()
    if stats["train"] == 0:
        raise UserError(f"no training pairs left out of {stats['input']} input pairs")
    print(json.dumps(stats), file=sys.stderr)


# ---------------------------------------------------------------------------- main
def build_parser():
    p = argparse.ArgumentParser(prog="corpus_tools", description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)

    s = sub.add_parser("segs", help="one line per <seg> of XML/SGM files")
    s.add_argument("files", nargs="+", metavar="IN OUT")
    s.set_defaults(func=cmd_segs)

    s = sub.add_parser("strip-tags", help="remove TED metadata lines from train.tags files")
    s.add_argument("--style", choices=["fairseq", "torchtext"], required=True)
    s.add_argument("input")
    s.add_argument("output")
    s.set_defaults(func=cmd_strip_tags)

    s = sub.add_parser("pairs", help="join, clean and split parallel corpora")
    s.add_argument("--langs", nargs=2, required=True, metavar=("SRC", "TGT"))
    s.add_argument("--out", required=True, help="output prefix (writes PREFIX.SRC, PREFIX.TGT)")
    s.add_argument("--valid-out", help="prefix for the pairs taken out as validation data")
    s.add_argument("--every", type=int, default=0,
                   help="every N-th kept pair (N, 2N, ... counted from 1) goes to --valid-out")
    s.add_argument("--remove-nonprinting", action="store_true",
                   help="replace non-printing characters (Unicode category C) with a space")
    s.add_argument("--drop-empty", action="store_true", help="drop pairs with an empty side")
    s.add_argument("--max-chars", type=int, default=0,
                   help="drop pairs with a side longer than N characters (code points)")
    s.add_argument("--moses-clean", action="store_true",
                   help="keep only pairs clean-corpus-n.perl keeps after Moses tokenization")
    s.add_argument("--max-tokens", type=int, default=175)
    s.add_argument("--ratio", type=float, default=1.5)
    s.add_argument("--workers", type=int, default=1)
    s.add_argument("inputs", nargs="+", metavar="PREFIX", help="reads PREFIX.SRC and PREFIX.TGT")
    s.set_defaults(func=cmd_pairs)
    return p


def main(argv=None):
    args = build_parser().parse_args(argv)
    if getattr(args, "every", 0) and not args.valid_out:
        print("corpus_tools: error: --every needs --valid-out", file=sys.stderr)
        return 1
    try:
        args.func(args)
    except UserError as e:
        print(f"corpus_tools: error: {e}", file=sys.stderr)
        return 1
    except ImportError as e:
        print(f"corpus_tools: error: {e.name} is not installed for {sys.executable} "
              "(install nmt's dependencies, or point NMT_PYTHON at the right python)",
              file=sys.stderr)
        return 1
    except OSError as e:
        print(f"corpus_tools: error: {e.filename or ''}: {e.strerror}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
