"""Training curves from ``train.log.jsonl``: loss, valid BLEU, learning rate and tokens/s, against
updates and against wall-clock minutes, several runs on the same axes.

Reads what any version of the trainer logged: a field a run did not log (valid BLEU without
``--valid-bleu``, ``train_seconds`` in old logs) is left out, not an error, and a log still being
written (its last line cut) is read up to its last whole line.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from nmt.errors import NmtError
from nmt.plot import COLORS, new_figure

LOG = "train.log.jsonl"
# panel title -> [(event, field, line style, label suffix)]
PANELS = {
    "loss": [("train", "loss", "-", "train"), ("valid", "valid_loss", "--", "valid")],
    "valid BLEU": [("valid", "valid_bleu", "-", "")],
    "learning rate": [("train", "lr", "-", "")],
    "train tokens/s": [("train", "tokens_per_s", "-", "")],
}
AXES = [("update", "updates", 1.0), ("train_seconds", "training minutes", 60.0)]


@dataclass
class Run:
    name: str
    events: dict[str, list[dict]] = field(default_factory=dict)  # "train" / "valid" -> records

    def series(self, event: str, key: str, x_key: str, scale: float) -> tuple[list, list]:
        """(x, y) of the ``event`` records holding both ``x_key`` and ``key``."""
        points = [(r[x_key] / scale, r[key]) for r in self.events.get(event, [])
                  if isinstance(r.get(key), (int, float)) and isinstance(r.get(x_key), (int, float))]
        return [x for x, _ in points], [y for _, y in points]


def read_run(directory: str | Path) -> Run:
    """The train and valid records of a training directory's log."""
    log = Path(directory) / LOG
    if not log.is_file():
        raise NmtError(f"{directory}: no {LOG} here (not a training directory?)")
    run = Run(Path(directory).resolve().name)
    for line in log.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue  # the line being written while we read, or a stray one
        if isinstance(record, dict) and record.get("event") in ("train", "valid"):
            run.events.setdefault(record["event"], []).append(record)
    if not run.events:
        raise NmtError(f"{log}: no train or valid records yet")
    return run


def curves_figure(runs: list[Run]):
    """One row per quantity any run logged, one column per x axis any run logged."""
    panels = [p for p, lines in PANELS.items()
              if any(run.series(e, k, "update", 1)[0] for run in runs for e, k, _, _ in lines)]
    axes = [a for a in AXES if any(run.series(e, k, a[0], a[2])[0] for run in runs
                                   for p in panels for e, k, _, _ in PANELS[p])]
    fig = new_figure(5.2 * len(axes), 2.6 * len(panels))
    grid = fig.subplots(len(panels), len(axes), squeeze=False)
    for row, panel in enumerate(panels):
        for col, (x_key, x_label, scale) in enumerate(axes):
            ax = grid[row][col]
            for i, run in enumerate(runs):
                for event, key, style, suffix in PANELS[panel]:
                    x, y = run.series(event, key, x_key, scale)
                    if x:
                        label = f"{run.name} {suffix}".strip()
                        ax.plot(x, y, style, color=COLORS[i % len(COLORS)], label=label, lw=1.3)
            ax.set_xlabel(x_label)
            ax.set_ylabel(panel)
            ax.grid(alpha=0.3)
            if panel == "learning rate":
                ax.set_yscale("log")
            if row == 0 and col == 0:
                ax.legend(fontsize=8)
    return fig
