"""`nmt bench`: speed and memory measurements printed as one JSON object.

``nmt bench data DATA_DIR`` measures batching + collation; ``nmt bench train DATA_DIR --arch A``
training throughput (same config options as ``nmt train``).
"""

from __future__ import annotations

import argparse
import json

from nmt import benchmark
from nmt.cli import train as train_cli


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


def run(args: argparse.Namespace) -> int:
    if args.what == "data":
        result = benchmark.bench_data(args.data_dir, args.split, args.max_tokens, args.batch_size, args.repeats)
    elif args.what == "train":
        cfg = train_cli.resolve_config(args)
        result = benchmark.bench_train(cfg, args.data_dir, args.warmup, args.windows, args.window_updates)
    print(json.dumps(result))
    return 0
