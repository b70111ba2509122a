"""Sequence and token accuracy of hypotheses against references (one sequence per line).

    python recipes/synthetic/accuracy.py HYP REF   ->   {"sequence_accuracy": ..., "token_accuracy": ...}
"""

from __future__ import annotations

import json
import sys


def accuracy(hyps: list[str], refs: list[str]) -> dict:
    if len(hyps) != len(refs):
        raise SystemExit(f"accuracy.py: {len(hyps)} hypotheses but {len(refs)} references")
    exact = sum(h.split() == r.split() for h, r in zip(hyps, refs))
    tokens = sum(len(r.split()) for r in refs)
    right = sum(a == b for h, r in zip(hyps, refs) for a, b in zip(h.split(), r.split()))
    return {"sequences": len(refs), "sequence_accuracy": exact / max(len(refs), 1),
            "token_accuracy": right / max(tokens, 1)}


if __name__ == "__main__":
    hyp, ref = (open(p, encoding="utf-8").read().splitlines() for p in sys.argv[1:3])
    print(json.dumps(accuracy(hyp, ref)))
