"""Where search spends its time: torch.profiler over `Translator.search` on pre-encoded batches.

    python recipes/profile_search.py --checkpoint CKPT --input work/multi30k_en_de/test.en \
        [--lines 512] [--beam 5] [--batch-size 128] [--threads 2] [--precision bf16] [--shapes]

Prints the wall time, the ops' own time (the rest is Python and dispatch) and the ops by their own
time (grouped by input shape with --shapes), after one warm-up batch.
"""

from __future__ import annotations

import argparse
import itertools

import torch
from profiling import profile_and_print

from nmt.data.text import read_lines
from nmt.heap import keep_freed_memory
from nmt.search import SearchConfig
from nmt.translation import Translator, prepare_model


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--input", required=True)
    p.add_argument("--lines", type=int, default=512)
    p.add_argument("--beam", type=int, default=5)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--precision", choices=("fp32", "bf16"), default="fp32")
    p.add_argument("--quantize", choices=("none", "int8"), default="none")
    p.add_argument("--shapes", action="store_true", help="group the ops by input shape")
    args = p.parse_args()
    torch.set_flush_denormal(True)
    keep_freed_memory()  # as the CLI does (nmt/heap.py)
    translator = Translator(prepare_model(args.checkpoint, threads=args.threads, quantize=args.quantize),
                            SearchConfig(beam=args.beam, autocast_dtype="bfloat16" if args.precision == "bf16" else None),
                            batch_size=args.batch_size)
    lines = list(itertools.islice(read_lines(args.input), args.lines))
    batches = translator.encoded_batches([translator.source(line) for line in lines])
    translator.search(*batches[0][1:])  # warm-up
    profile_and_print(lambda: [translator.search(src, lens) for _, src, lens in batches], "",
                      args.shapes, rows=18)


if __name__ == "__main__":
    main()
