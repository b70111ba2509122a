"""`nmt plot curves | attention | compare | qrnn ... --output FILE.png|svg|pdf`.

    nmt plot curves RUN_DIR [RUN_DIR ...] --output curves.png
    nmt plot attention --checkpoint CKPT --source "A dog runs." --output att.png
    nmt plot attention --checkpoint CKPT --input test.en --line 7 --output att.png
    nmt plot compare RUN_DIR [RUN_DIR ...] --output compare.png
    nmt plot qrnn BENCH.json --output figure4.png          (BENCH.json from `nmt bench qrnn`)

Needs the plot extra (matplotlib): ``pip install -e '.[plot]'``.
"""

from __future__ import annotations

import argparse
from itertools import islice

from nmt.data.text import read_lines, require_file
from nmt.errors import NmtError, UsageError


def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="what", metavar="WHAT", required=True)
    c = sub.add_parser("curves", help="loss, valid BLEU, lr and tokens/s of training runs")
    c.add_argument("runs", nargs="+", help="training directories (their train.log.jsonl)")
    a = sub.add_parser("attention", help="the attention of a translation, per decoder layer for ConvS2S")
    a.add_argument("--checkpoint", required=True)
    a.add_argument("--source", help="the sentence to translate (raw text)")
    a.add_argument("--input", help="a file of sentences; with --line")
    a.add_argument("--line", type=int, default=1, help="1-based line of --input (default: 1)")
    a.add_argument("--beam", type=int, default=5)
    a.add_argument("--threads", type=int, default=None)
    m = sub.add_parser("compare", help="BLEU vs training minutes and vs speed, a point per run")
    m.add_argument("runs", nargs="+", help="run directories of a comparison driver")
    q = sub.add_parser("qrnn", help="`nmt bench qrnn` as the QRNN paper's Figure 4")
    q.add_argument("bench_json", help="the JSON `nmt bench qrnn` printed")
    for parser, default in ((c, "curves.png"), (a, "attention.png"), (m, "compare.png"),
                            (q, "qrnn_speedup.png")):
        parser.add_argument("--output", default=default, help=f"PNG, SVG or PDF (default: {default})")


def _source_line(args: argparse.Namespace) -> str:
    if (args.source is None) == (args.input is None):
        raise UsageError("give one of --source TEXT or --input FILE [--line N]")
    if args.source is not None:
        line = args.source
    else:
        require_file(args.input)
        if args.line < 1:
            raise NmtError(f"--line must be >= 1, got {args.line}")
        found = list(islice(read_lines(args.input), args.line - 1, args.line))
        if not found:
            raise NmtError(f"{args.input} has fewer than {args.line} lines")
        line = found[0]
    if not line.strip():
        raise NmtError("the source sentence is empty")
    return line


def _figure(args: argparse.Namespace):
    from nmt import plot
    from nmt.plot import compare, curves

    plot.new_figure(1, 1)  # the missing extra is the first thing a user hears about
    if args.what == "curves":
        return curves.curves_figure([curves.read_run(r) for r in args.runs])
    if args.what == "compare":
        return compare.compare_figure([compare.read_point(r) for r in args.runs])
    if args.what == "qrnn":
        return compare.qrnn_figure(compare.read_qrnn_bench(args.bench_json))
    from nmt.plot import attention
    from nmt.translation import prepare_model

    line = _source_line(args)
    loaded = prepare_model(args.checkpoint, threads=args.threads)
    return attention.attention_figure(attention.attention_of(loaded, line, args.beam))


def run(args: argparse.Namespace) -> int:
    from nmt import plot

    plot.check_output(args.output)  # a bad suffix or a directory fails before any work
    fig = _figure(args)
    plot.save(fig, args.output)
    width, height = (round(v) for v in fig.get_size_inches() * 110)
    print(f"wrote {args.output} ({width}x{height})")
    return 0
