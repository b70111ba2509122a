"""The table of `study.sh`: per run, how far training got, when the loss reached near zero, and
the test accuracy.

    python recipes/synthetic/study_table.py checkpoints/synthetic/delay100/tcn_small ...

A run directory is ``.../delay{T}/{preset}`` as `run.sh` leaves it: ``train.log.jsonl`` and
``test.accuracy.json``. "Near zero" is a training nll (per target token, averaged over a
logging window) below ``--threshold`` nats; the time is the training wall clock at that window.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

COLUMNS = ("preset", "delay T", "updates", "train minutes", "minutes to nll < {threshold}",
           "last train nll", "sequence accuracy", "token accuracy")


def row(run: Path, threshold: float) -> tuple[str, ...]:
    log = run / "train.log.jsonl"
    events = ([json.loads(line) for line in log.read_text(encoding="utf-8").splitlines() if line.strip()]
              if log.exists() else [])
    train = [e for e in events if e["event"] == "train"]
    reached = next((e for e in train if e["nll"] < threshold), None)
    acc_path = run / "test.accuracy.json"
    acc = json.loads(acc_path.read_text(encoding="utf-8")) if acc_path.exists() else {}
    def minutes(event: dict) -> str:  # logs written before train_seconds was logged have none
        return f"{event['train_seconds'] / 60:.1f}" if "train_seconds" in event else "-"

    return (
        run.name, run.parent.name.removeprefix("delay"),
        str(train[-1]["update"]) if train else "-", minutes(train[-1]) if train else "-",
        minutes(reached) if reached else "not reached",
        f"{train[-1]['nll']:.4f}" if train else "-",
        f"{acc['sequence_accuracy']:.3f}" if acc else "-", f"{acc['token_accuracy']:.3f}" if acc else "-",
    )


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("runs", nargs="+", type=Path, help="run directories .../delay{T}/{preset}")
    p.add_argument("--threshold", type=float, default=0.01, help="near-zero training nll (nats)")
    args = p.parse_args(argv)
    columns = [c.format(threshold=args.threshold) for c in COLUMNS]
    print("| " + " | ".join(columns) + " |")
    print("|" + "---|" * len(columns))
    for run in args.runs:
        print("| " + " | ".join(row(run, args.threshold)) + " |")


if __name__ == "__main__":
    main()
