"""The family comparison table of `compare.sh`, from what each run left in its save directory.

    python recipes/multi30k_en_de/compare_table.py checkpoints/multi30k_en_de/compare/{convs2s,lstm}

For every directory: the preset (config.yaml) and parameter count (checkpoint_best's model), the training
progress (finished epochs, updates up to the last validation) and speed (median of the logged target tokens/s), the best validation loss, the sacreBLEU
score of the beam-5 translation of test2016 and its length ratio (``test2016.beam5.de.score``) and the translation
speed (``bench_translate.json``, written by ``nmt bench translate``). Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
from pathlib import Path

import yaml

from nmt.translation import load_model

COLUMNS = ("model", "preset", "params", "epochs", "updates", "train tok/s", "best valid loss",
           "BLEU (beam 5)", "length ratio", "beam 5 sent/s", "greedy sent/s")


def log_events(run: Path) -> list[dict]:
    lines = (run / "train.log.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def from_score(run: Path, pattern: str) -> str:
    """A number from the sacreBLEU line of the beam-5 translation's score file, or '-'."""
    score = run / "test2016.beam5.de.score"
    if not score.exists():
        return "-"
    match = re.search(pattern, score.read_text(encoding="utf-8"))
    return match.group(1) if match else "-"


def bench(run: Path, beam: int) -> str:
    path = run / f"bench_translate.beam{beam}.json"
    if not path.exists():
        return "-"
    return f"{json.loads(path.read_text(encoding='utf-8'))['sentences_per_s']:.1f}"


def finished_epochs(valids: list[dict]) -> int:
    """Epochs trained to their end. A run stopped inside an epoch validates there too
    (``mid_epoch``); that epoch is not finished, though its updates count."""
    ends = [v["epoch"] for v in valids if not v.get("mid_epoch")]
    return ends[-1] if ends else 0


def row(run: Path) -> tuple[str, ...]:
    events = log_events(run)
    config = yaml.safe_load((run / "config.yaml").read_text(encoding="utf-8"))
    speeds = [e["tokens_per_s"] for e in events if e["event"] == "train"]
    valids = [e for e in events if e["event"] == "valid"]
    ckpt = run / "checkpoint_best.safetensors"
    params = sum(p.numel() for p in load_model(ckpt).model.parameters())  # tied tables once
    return (
        run.name, config.get("arch", "-"), f"{params / 1e6:.1f} M",
        str(finished_epochs(valids)), str(valids[-1]["update"]) if valids else "0",
        f"{statistics.median(speeds):,.0f}" if speeds else "-",
        f"{min(v['valid_loss'] for v in valids):.3f}" if valids else "-",
        from_score(run, r"= ([0-9.]+) "), from_score(run, r"ratio = ([0-9.]+)"),
        bench(run, 5), bench(run, 1),
    )


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("runs", nargs="+", type=Path, help="save directories of the compared runs")
    args = p.parse_args(argv)
    print("| " + " | ".join(COLUMNS) + " |")
    print("|" + "---|" * len(COLUMNS))
    for run in args.runs:
        print("| " + " | ".join(row(run)) + " |")


if __name__ == "__main__":
    main()
