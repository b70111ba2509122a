"""Where a training step spends its time: torch.profiler over `Trainer.train_step`.

    python recipes/profile_train.py data-bin/multi30k_en_de --arch convs2s_iwslt_de_en \
        [--precision bf16] [--steps 10] [--warmup 3] [--threads 2] [--shapes]

Same config options as `nmt train` (a preset or a recipe YAML). Prints the wall time, the ops' own
time (the rest is Python and dispatch) and the ops by their own time (by input shape with
--shapes), after ``--warmup`` steps that are not profiled.
"""

from __future__ import annotations

import argparse
import tempfile

import torch
from profiling import profile_and_print

from nmt.cli import train as train_cli
from nmt.heap import keep_freed_memory
from nmt.training.trainer import Trainer


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("data_dir")
    train_cli.add_config_arguments(p)
    p.add_argument("--steps", type=int, default=10, help="profiled updates")
    p.add_argument("--warmup", type=int, default=3, help="updates before profiling")
    p.add_argument("--shapes", action="store_true", help="group the ops by input shape")
    args = p.parse_args()
    torch.set_flush_denormal(True)
    keep_freed_memory()  # as the CLI does (nmt/heap.py)
    cfg = train_cli.resolve_config(args)
    with tempfile.TemporaryDirectory() as tmp:
        trainer = Trainer(cfg, args.data_dir, tmp, log=lambda *_: None)
        batches = trainer.batches.epoch_batches(1)
        groups = [[trainer.train_data.collate(batches[i * cfg.update_freq + j])
                   for j in range(cfg.update_freq)] for i in range(args.warmup + args.steps)]
        for group in groups[:args.warmup]:
            trainer.train_step(group)
        tokens = sum(b.ntokens for g in groups[args.warmup:] for b in g)
        profile_and_print(lambda: [trainer.train_step(g) for g in groups[args.warmup:]],
                          f"{args.steps} updates, {tokens} target tokens: ", args.shapes, rows=22)


if __name__ == "__main__":
    main()
