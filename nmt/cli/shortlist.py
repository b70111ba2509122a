"""`nmt shortlist DATA_DIR --output FILE [--frequent 100] [--per-source 100] [--split train]`.

Builds the lexical shortlist `nmt translate --shortlist FILE` reads (see
:mod:`nmt.data.shortlist`): per source piece the target pieces that co-occur with it most
(Dice coefficient over sentence pairs of the split), plus the most frequent target pieces.
"""

from __future__ import annotations

import argparse

from nmt.data.files import check_output_path
from nmt.data.shortlist import build_shortlist


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("data_dir", help="a data directory made by `nmt preprocess`")
    p.add_argument("--output", required=True, help="the shortlist file (JSON)")
    p.add_argument("--split", default="train", help="the split to count (default: train)")
    p.add_argument("--frequent", type=int, default=100,
                   help="most frequent target pieces, always candidates (default: 100)")
    p.add_argument("--per-source", type=int, default=100,
                   help="target pieces kept per source piece (default: 100)")


def run(args: argparse.Namespace) -> int:
    check_output_path(args.output, special_ok=False)  # before any work
    shortlist = build_shortlist(args.data_dir, args.split, args.frequent, args.per_source)
    shortlist.save(args.output)
    sizes = [len(v) for v in shortlist.table.values()]
    print(f"wrote {args.output}: {len(shortlist.frequent)} frequent target pieces, "
          f"{len(sizes)} source pieces with {sum(sizes) / max(1, len(sizes)):.1f} targets each")
    return 0
