"""`nmt translate --checkpoint FILE [--input FILE|-] [--output FILE|-] [--beam 5 ...]`.

Output, one line per input line: the translation; with ``--scores`` ``score<TAB>translation``;
with ``--print-alignment`` a final ``<TAB>s-t s-t ...`` (source piece - target piece, 0-based,
argmax of the attention). With ``--nbest N > 1``: N lines per input,
``line<TAB>rank<TAB>score<TAB>translation``. Scores are length-normalised log-probabilities (nats).
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Iterator
from itertools import islice

import torch

from nmt.data.text import atomic_write, decode_line, read_lines
from nmt.errors import NmtError
from nmt.inference import device_of, load_model
from nmt.search import SearchConfig
from nmt.translation import FORMATS, Output, Translator, load_unk_dict, quantize_int8


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--checkpoint", required=True, help="an nmt checkpoint (.safetensors)")
    p.add_argument("--input", default="-", help="raw text, one sentence per line ('-': stdin)")
    p.add_argument("--output", default="-", help="'-': stdout; a file is written atomically")
    s = p.add_argument_group("search")
    s.add_argument("--beam", type=int, default=5)
    s.add_argument("--lenpen", type=float, default=1.0, help="score = log-prob / length**lenpen")
    s.add_argument("--max-len-a", type=float, default=0.0)
    s.add_argument("--max-len-b", type=int, default=200, help="max length = a * source length + b")
    s.add_argument("--min-len", type=int, default=1)
    s.add_argument("--nbest", type=int, default=1)
    s.add_argument("--unkpen", type=float, default=0.0, help="subtracted from <unk>'s log-prob")
    s.add_argument("--no-repeat-ngram-size", type=int, default=0)
    b = p.add_argument_group("batches and hardware")
    b.add_argument("--max-tokens", type=int, default=None)
    b.add_argument("--batch-size", type=int, default=128)
    b.add_argument("--buffer-size", type=int, default=None,
                   help="lines read before translating (default: 1 on a terminal, else 10000)")
    b.add_argument("--precision", choices=("fp32", "bf16"), default="fp32")
    b.add_argument("--quantize", choices=("none", "int8"), default="none", help="dynamic int8 Linear layers")
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


def _input_lines(path: str) -> Iterator[str]:
    if path == "-":
        for lineno, raw in enumerate(sys.stdin.buffer, 1):
            yield decode_line(raw, "<stdin>", lineno)
    else:
        yield from read_lines(path)


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


def translator_from_args(args: argparse.Namespace) -> Translator:
    """The Translator the options of `nmt translate` describe (`nmt bench translate` shares them)."""
    if args.threads:
        torch.set_num_threads(args.threads)
    device = device_of(args.device)
    loaded = load_model(args.checkpoint, str(device))
    if args.quantize == "int8":
        if device.type != "cpu":
            raise NmtError("--quantize int8 is a CPU feature")
        loaded.model = quantize_int8(loaded.model)
    cfg = SearchConfig(beam=args.beam, lenpen=args.lenpen, max_len_a=args.max_len_a, max_len_b=args.max_len_b,
                       min_len=args.min_len, nbest=args.nbest, unkpen=args.unkpen,
                       no_repeat_ngram_size=args.no_repeat_ngram_size,
                       autocast_dtype="bfloat16" if args.precision == "bf16" else None)
    unk_dict = load_unk_dict(args.replace_unk) if args.replace_unk else None
    return Translator(loaded, cfg, args.max_tokens, args.batch_size, args.input_format,
                      args.output_format, args.replace_unk is not None, unk_dict, str(device))


def run(args: argparse.Namespace) -> int:
    translator = translator_from_args(args)
    interactive = args.input == "-" and sys.stdin.isatty()
    buffer = args.buffer_size or (1 if interactive else 10000)
    lines = _input_lines(args.input)
    sink = contextlib.nullcontext(sys.stdout) if args.output == "-" else atomic_write(args.output)
    index = 0
    with sink as out:
        while chunk := list(islice(lines, buffer)):
            for outputs in translator.translate(chunk):
                out.write("\n".join(_format(index, outputs, args)) + "\n")
                index += 1
            out.flush()
    if translator.truncated:
        print(f"nmt translate: note: {translator.truncated} input lines were longer than the model's "
              f"{translator.max_source - 1} source positions and were cut", file=sys.stderr)
    return 0
