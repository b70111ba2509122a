"""`nmt average CKPT [CKPT ...] --output OUT` or `nmt average --save-dir DIR --last N --output OUT`."""

from __future__ import annotations

import argparse

from nmt.checkpoint import save_checkpoint
from nmt.checkpoint.average import average_checkpoints, last_checkpoints
from nmt.data.files import check_output_path
from nmt.errors import NmtError


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("checkpoints", nargs="*", help="checkpoints to average")
    p.add_argument("--save-dir", help="take the newest checkpoints of this training directory")
    p.add_argument("--last", type=int, help="with --save-dir: how many epoch checkpoints")
    p.add_argument("--last-updates", type=int, help="with --save-dir: how many update checkpoints")
    p.add_argument("--output", required=True)


def run(args: argparse.Namespace) -> int:
    check_output_path(args.output, special_ok=False)  # before any work
    paths = list(args.checkpoints)
    if args.save_dir:
        if bool(args.last) == bool(args.last_updates):
            raise NmtError("with --save-dir give one of --last N or --last-updates N")
        paths += last_checkpoints(args.save_dir, args.last or args.last_updates, by_updates=bool(args.last_updates))
    save_checkpoint(args.output, average_checkpoints(paths))
    print(f"wrote {args.output}: the average of {len(paths)} checkpoints")
    return 0
