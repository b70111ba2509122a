"""`nmt bench`: speed and memory measurements printed as one JSON object.

``nmt bench data DATA_DIR`` measures batching + collation; ``nmt bench train DATA_DIR --arch A``
training throughput (same config options as ``nmt train``); ``nmt bench translate --checkpoint C
--input FILE`` translation throughput (same options as ``nmt translate``).
"""

from __future__ import annotations

import argparse
import json

from nmt import benchmark
from nmt.cli import train as train_cli
from nmt.cli import translate as translate_cli
from nmt.data.text import read_lines
from nmt.errors import NmtError


def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="what", metavar="WHAT", required=True)
    d = sub.add_parser("data", help="batches/s of the batch iterator and collation over one epoch")
    d.add_argument("data_dir")
    d.add_argument("--split", default="train")
    d.add_argument("--max-tokens", type=int, default=4000)
    d.add_argument("--batch-size", type=int, default=None)
    d.add_argument("--repeats", type=int, default=3, help="epochs to time; the median is reported")


    t = sub.add_parser("train", help="training target tokens/s, GFLOP/s and peak memory")
    t.add_argument("data_dir")
    train_cli.add_config_arguments(t)
    t.add_argument("--warmup", type=int, default=5, help="updates before timing")
    t.add_argument("--windows", type=int, default=5, help="timed windows; the median is reported")
    t.add_argument("--window-updates", type=int, default=10, help="updates per window")
    tr = sub.add_parser("translate", help="translation sentences/s and tokens/s (same options as nmt translate)")
    translate_cli.add_arguments(tr)
    tr.add_argument("--repeats", type=int, default=3, help="timed passes over the input; the median is reported")


def run(args: argparse.Namespace) -> int:
    if args.what == "data":
        result = benchmark.bench_data(args.data_dir, args.split, args.max_tokens, args.batch_size, args.repeats)
    elif args.what == "train":
        cfg = train_cli.resolve_config(args)
        result = benchmark.bench_train(cfg, args.data_dir, args.warmup, args.windows, args.window_updates)
    elif args.what == "translate":
        if args.input == "-":
            raise NmtError("nmt bench translate needs --input FILE")
        lines = list(read_lines(args.input))
        result = benchmark.bench_translate(translate_cli._translator(args), lines, args.repeats)
        result["quantize"] = args.quantize
    print(json.dumps(result))
    return 0
