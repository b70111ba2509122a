"""`nmt import-fairseq CHECKPOINT --dict-dir DIR [--bpe-codes FILE] --output OUT`."""

from __future__ import annotations

import argparse

from nmt.convert import import_fairseq
from nmt.data.files import check_output_path


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("checkpoint", help="a fairseq fconv checkpoint.pt")
    p.add_argument("--dict-dir", required=True, help="folder with fairseq's dict.SRC.txt and dict.TGT.txt")
    p.add_argument("--bpe-codes", help="subword-nmt codes the training data was segmented with")
    p.add_argument("--output", required=True, help="the nmt checkpoint to write (.safetensors)")
    p.add_argument("--source-lang", help="default: from the checkpoint's task config")
    p.add_argument("--target-lang", help="default: from the checkpoint's task config")
    p.add_argument("--moses-escape", action=argparse.BooleanOptionalAction, default=True,
                   help="Moses XML escaping, as sacremoses does by default (fairseq's examples)")


def run(args: argparse.Namespace) -> int:
    check_output_path(args.output, special_ok=False)  # before any work
    meta = import_fairseq(args.checkpoint, args.dict_dir, args.output, args.bpe_codes,
                          args.source_lang, args.target_lang, args.moses_escape)
    langs = f"{meta['pipeline']['source_lang']}-{meta['pipeline']['target_lang']}"
    print(f"wrote {args.output}: ConvS2S {langs}, {meta['progress']['update']} updates")
    return 0
