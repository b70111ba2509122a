"""`nmt bench`: speed and memory measurements printed as one JSON object.

``nmt bench data DATA_DIR`` measures batching + collation (later: ``train``, ``translate``).
"""

from __future__ import annotations

import argparse
import json

from nmt import benchmark


def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="what", metavar="WHAT", required=True)
    d = sub.add_parser("data", help="batches/s of the batch iterator and collation over one epoch")
    d.add_argument("data_dir")
    d.add_argument("--split", default="train")
    d.add_argument("--max-tokens", type=int, default=4000)
    d.add_argument("--batch-size", type=int, default=None)
    d.add_argument("--repeats", type=int, default=3, help="epochs to time; the median is reported")


def run(args: argparse.Namespace) -> int:
    if args.what == "data":
        result = benchmark.bench_data(args.data_dir, args.split, args.max_tokens, args.batch_size, args.repeats)
    print(json.dumps(result))
    return 0
