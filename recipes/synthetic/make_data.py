"""Synthetic sequence-to-sequence tasks that every model family can be trained on in minutes.

    python recipes/synthetic/make_data.py --task delay --delay 100 --out work/synthetic/delay100

writes raw parallel text ``{train,valid,test}.{src,tgt}`` (one sequence per line, tokens separated
by spaces) for ``nmt preprocess --bpe none --tokenizer none``.

Tasks:
- ``copy``: the target is the source, a random string of ``--vocab`` symbols of random length;
- ``reverse``: the target is the source reversed;
- ``delay``: the copy-memory task of Bai, Kolter & Koltun (2018) as a sequence-to-sequence
  problem: ``--memory`` (10) symbols from 8 (``a``..``h``), then ``--delay`` T blanks ``_`` and a
  marker ``:``; the target is the ``--memory`` symbols. Their claim: TCNs solve it with near-zero
  loss for T up to 1,000 where LSTMs and GRUs fail, there as a sequence model without attention
  (an attention decoder can look back over any delay, which is why this recipe reports it).
"""

from __future__ import annotations

import argparse
import random
from pathlib import Path

SPLITS = {"train": 20000, "valid": 500, "test": 500}


def symbols(n: int) -> list[str]:
    return [f"s{i}" for i in range(n)]


def example(task: str, rng: random.Random, args) -> tuple[list[str], list[str]]:
    if task == "delay":
        memory = [rng.choice("abcdefgh") for _ in range(args.memory)]
        return memory + ["_"] * args.delay + [":"], memory
    vocab = symbols(args.vocab)
    src = [rng.choice(vocab) for _ in range(rng.randint(args.min_len, args.max_len))]
    return src, (src if task == "copy" else src[::-1])


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--task", choices=("copy", "reverse", "delay"), required=True)
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--vocab", type=int, default=20, help="copy/reverse: number of symbols")
    p.add_argument("--min-len", type=int, default=5)
    p.add_argument("--max-len", type=int, default=30)
    p.add_argument("--memory", type=int, default=10, help="delay: symbols to remember")
    p.add_argument("--delay", type=int, default=100, help="delay: blanks between symbols and marker")
    p.add_argument("--train-size", type=int, default=SPLITS["train"])
    p.add_argument("--seed", type=int, default=1)
    args = p.parse_args(argv)
    rng = random.Random(args.seed)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for split, n in {**SPLITS, "train": args.train_size}.items():
        pairs = [example(args.task, rng, args) for _ in range(n)]
        (out / f"{split}.src").write_text("".join(" ".join(s) + "\n" for s, _ in pairs))
        (out / f"{split}.tgt").write_text("".join(" ".join(t) + "\n" for _, t in pairs))


if __name__ == "__main__":
    main()
