"""`nmt translate --checkpoint FILE [--input FILE|-] [--output FILE|-] [--beam 5 ...]`.

Output, one line per input line: the translation; with ``--scores`` ``score<TAB>translation``;
with ``--print-alignment`` a final ``<TAB>s-t s-t ...`` (source piece - target piece, 0-based,
argmax of the attention). With ``--nbest N > 1``: N lines per input,
``line<TAB>rank<TAB>score<TAB>translation``. Scores are length-normalised log-probabilities (nats).

Several ``--checkpoint`` options translate with their ensemble; ``--prefix FILE`` gives each line a
target prefix (one per line, an empty line for none); ``--sampling`` draws ``--nbest`` samples per
line instead of searching; ``--shortlist FILE`` (from `nmt shortlist`) narrows the output layer.
"""

from __future__ import annotations

import argparse
import os
import select
import sys
from collections.abc import Iterator
from itertools import islice

from tqdm import tqdm

from nmt.data.files import check_output_path, open_output
from nmt.data.pipeline import FORMATS
from nmt.data.text import count_lines, decode_line, read_lines, require_file
from nmt.errors import NmtError
from nmt.search import SearchConfig
from nmt.translation import (
    Output,
    Translator,
    bind_shortlist,
    load_unk_dict,
    prepare_models,
    read_shortlist,
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--checkpoint", required=True, action="append",
                   help="an nmt checkpoint (.safetensors); repeat it to translate with an ensemble")
    p.add_argument("--input", default="-", help="raw text, one sentence per line ('-': stdin)")
    p.add_argument("--output", default="-", help="'-': stdout; a file is replaced atomically, "
                   "a FIFO or device is written in place")
    p.add_argument("--prefix", metavar="FILE", help="a target prefix per input line (empty: "
                   "none), in --input-format; each translation starts with it")
    s = p.add_argument_group("search")
    s.add_argument("--beam", type=int, default=5)
    s.add_argument("--lenpen", type=float, default=1.0, help="score = log-prob / length**lenpen")
    s.add_argument("--max-len-a", type=float, default=0.0)
    s.add_argument("--max-len-b", type=int, default=200, help="max length = a * source length + b")
    s.add_argument("--min-len", type=int, default=1)
    s.add_argument("--nbest", type=int, default=1)
    s.add_argument("--unkpen", type=float, default=0.0, help="subtracted from <unk>'s log-prob")
    s.add_argument("--no-repeat-ngram-size", type=int, default=0)
    s.add_argument("--shortlist", metavar="FILE", help="lexical shortlist from `nmt shortlist`: the "
                   "output layer over each batch's candidate target pieces only")
    r = p.add_argument_group("sampling (instead of search: --nbest samples per line)")
    r.add_argument("--sampling", action="store_true", help="draw each token from the model")
    r.add_argument("--temperature", type=float, default=1.0, help="divides the log-probs")
    r.add_argument("--topk", type=int, default=0, help="draw among the k most probable (0: all)")
    r.add_argument("--topp", type=float, default=0.0,
                   help="draw among the most probable tokens holding this mass (0: off)")
    r.add_argument("--seed", type=int, default=0, help="same seed, same samples")
    b = p.add_argument_group("batches and hardware")
    b.add_argument("--max-tokens", type=int, default=None)
    b.add_argument("--batch-size", type=int, default=128)
    b.add_argument("--buffer-size", type=int, default=None,
                   help="lines read before translating (default: 1 on a terminal, else 10000)")
    b.add_argument("--precision", choices=("fp32", "bf16"), default="fp32")
    b.add_argument("--quantize", choices=("none", "int8"), default="none",
                   help="int8 matrix products (Linear layers, convolution taps), CPU only")
    b.add_argument("--device", default="cpu")
    b.add_argument("--threads", type=int, default=None)
    f = p.add_argument_group("formats")
    f.add_argument("--input-format", choices=FORMATS, default="raw",
                   help="raw text, Moses tokens, or subword pieces (bring your own tokenization)")
    f.add_argument("--output-format", choices=FORMATS, default="raw")
    f.add_argument("--replace-unk", nargs="?", const="", default=None, metavar="DICT",
                   help="replace <unk> by the most attended source piece (or its DICT entry)")
    f.add_argument("--print-alignment", action="store_true")
    f.add_argument("--scores", action="store_true")


STALL_SECONDS = 0.02  # stdin quiet this long: translate the lines that have arrived


def _chunks(path: str, size: int) -> Iterator[list[str]]:
    """Input lines in chunks of up to ``size``; from stdin a chunk also ends when no more input
    is waiting, so a program feeding lines one at a time through a pipe gets each answer
    without closing its end."""
    if path != "-":
        lines = read_lines(path)
        while chunk := list(islice(lines, size)):
            yield chunk
        return
    chunk: list[str] = []
    lineno = 0
    for raw in _stdin_lines():
        if raw is None:  # input stalled
            if chunk:
                yield chunk
                chunk = []
            continue
        lineno += 1
        chunk.append(decode_line(raw, "<stdin>", lineno))
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _stdin_lines() -> Iterator[bytes | None]:
    """Raw lines of stdin as they arrive, and None whenever input stalls (nothing has come for
    STALL_SECONDS). Reads the file descriptor itself: a buffered reader hides what is waiting."""
    fd, pending = sys.stdin.fileno(), b""
    while True:
        if not select.select([fd], [], [], STALL_SECONDS)[0]:
            yield None
            select.select([fd], [], [])  # then wait for more without spinning
        data = os.read(fd, 1 << 16)
        if not data:
            break
        *complete, pending = (pending + data).split(b"\n")
        for line in complete:
            yield line + b"\n"
    if pending:
        yield pending


def _format(index: int, outputs: list[Output], args) -> list[str]:
    def align(o: Output) -> str:
        return "\t" + " ".join(f"{s}-{t}" for s, t in o.alignment) if args.print_alignment else ""

    if args.nbest > 1:
        if not outputs:
            return [f"{index}\t{r}\t0\t" for r in range(1, args.nbest + 1)]
        return [f"{index}\t{r}\t{o.score:.4f}\t{o.text}{align(o)}" for r, o in enumerate(outputs, 1)]
    if not outputs:
        return ["0.0000\t" if args.scores else ""]
    o = outputs[0]
    return [(f"{o.score:.4f}\t" if args.scores else "") + o.text + align(o)]


def search_config(args: argparse.Namespace) -> SearchConfig:
    cfg = SearchConfig(beam=args.beam, lenpen=args.lenpen, max_len_a=args.max_len_a, max_len_b=args.max_len_b,
                       min_len=args.min_len, nbest=args.nbest, unkpen=args.unkpen,
                       no_repeat_ngram_size=args.no_repeat_ngram_size,
                       autocast_dtype="bfloat16" if args.precision == "bf16" else None,
                       sampling=args.sampling, temperature=args.temperature, topk=args.topk,
                       topp=args.topp, seed=args.seed,
                       # the attention is read only for alignments and unknown-word replacement
                       attention=args.print_alignment or args.replace_unk is not None)
    cfg.validate()  # before the model loads
    return cfg


def translator_from_args(args: argparse.Namespace) -> Translator:
    """The Translator the options of `nmt translate` describe (`nmt bench translate` shares them)."""
    cfg = search_config(args)
    table = read_shortlist(args.shortlist) if args.shortlist else None  # before the model loads
    loaded = prepare_models(args.checkpoint, device=args.device, quantize=args.quantize,
                            threads=args.threads)
    unk_dict = load_unk_dict(args.replace_unk) if args.replace_unk else None
    shortlist = bind_shortlist(table, loaded.pipeline) if table else None
    return Translator(loaded, cfg, args.max_tokens, args.batch_size, args.input_format,
                      args.output_format, args.replace_unk is not None, unk_dict, args.device,
                      shortlist)


def check_prefix_file(args: argparse.Namespace) -> None:
    """--prefix needs as many lines as a file --input (stdin is checked as it is read)."""
    if args.prefix is None:
        return
    require_file(args.prefix, "--prefix file")
    if args.input != "-":
        require_file(args.input)
        n_input, n_prefix = count_lines(args.input), count_lines(args.prefix)
        if n_input != n_prefix:
            raise NmtError(f"--prefix {args.prefix} has {n_prefix} lines, --input {args.input} "
                           f"has {n_input}: give one prefix per input line (empty for none)")


def _prefix_chunks(args: argparse.Namespace, chunks: Iterator[list[str]]):
    """(input lines, their prefixes or None) per chunk; unequal line counts are an error."""
    prefixes = read_lines(args.prefix) if args.prefix else None
    for chunk in chunks:
        if prefixes is None:
            yield chunk, None
            continue
        wanted = list(islice(prefixes, len(chunk)))
        if len(wanted) < len(chunk):
            raise NmtError(f"--prefix {args.prefix} has fewer lines than the input")
        yield chunk, wanted
    if prefixes is not None and next(prefixes, None) is not None:
        raise NmtError(f"--prefix {args.prefix} has more lines than the input")


def progress_bar(args: argparse.Namespace) -> tqdm:
    """A sentences/s bar on stderr for a file input, shown only when stderr is a terminal (never
    in a log or a pipe) and the output does not go to that terminal too."""
    to_terminal = args.output == "-" and sys.stdout.isatty()
    if args.input == "-" or to_terminal or not sys.stderr.isatty():
        return tqdm(disable=True)
    return tqdm(total=count_lines(args.input), unit=" sent", desc="translating", leave=False,
                dynamic_ncols=True)


def run(args: argparse.Namespace) -> int:
    check_output_path(args.output)  # a directory is refused before the model is even loaded
    check_prefix_file(args)
    translator = translator_from_args(args)
    interactive = args.input == "-" and sys.stdin.isatty()
    buffer = args.buffer_size or (1 if interactive else 10000)
    index = 0
    with open_output(args.output) as out, progress_bar(args) as bar:
        for chunk, prefixes in _prefix_chunks(args, _chunks(args.input, buffer)):
            for outputs in translator.translate(chunk, prefixes, progress=bar.update):
                out.write("\n".join(_format(index, outputs, args)) + "\n")
                index += 1
            out.flush()
    if translator.truncated:
        print(f"nmt translate: note: {translator.truncated} input lines were longer than the model's "
              f"{translator.max_source - 1} source positions and were cut", file=sys.stderr)
    return 0
