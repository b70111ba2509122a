"""Comparisons: the family comparison driver's runs as points, and the QRNN paper's Figure 4.

``compare``: one point per run directory of `recipes/*/compare.sh` (what it leaves there: the
training log, ``test2016.beam5.de.score`` and ``bench_translate.beam5.json``): BLEU against training
minutes, and BLEU against beam-5 translation speed.

``qrnn``: the result of `nmt bench qrnn` (a JSON file) as Bradbury et al. 2017's Figure 4, the
speed-up of a QRNN layer over an LSTM layer of the same size against sequence length, one line per
batch size, for inference and for training.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from nmt.errors import NmtError
from nmt.plot import COLORS, new_figure
from nmt.plot.curves import read_run

SCORE = "test2016.beam5.de.score"
BENCH = "bench_translate.beam5.json"


@dataclass
class Point:
    name: str
    bleu: float
    minutes: float | None
    sentences_per_s: float | None


def read_point(directory: str | Path) -> Point:
    """A compared run: its BLEU (required), training minutes and beam-5 speed (when measured)."""
    directory = Path(directory)
    score = directory / SCORE
    found = re.search(r"= ([0-9.]+) ", score.read_text(encoding="utf-8")) if score.is_file() else None
    if found is None:
        raise NmtError(f"{directory}: no BLEU in {SCORE} (run the comparison driver's stage 3)")
    seconds = [r["train_seconds"] for r in read_run(directory).events.get("train", [])
               if isinstance(r.get("train_seconds"), (int, float))]
    bench = directory / BENCH
    speed = json.loads(bench.read_text(encoding="utf-8")).get("sentences_per_s") if bench.is_file() else None
    return Point(directory.resolve().name, float(found.group(1)),
                 max(seconds) / 60 if seconds else None, speed)


def compare_figure(points: list[Point]):
    fig = new_figure(10.0, 3.8)
    left, right = fig.subplots(1, 2)
    for ax, attr, label in ((left, "minutes", "training minutes"),
                            (right, "sentences_per_s", "beam 5 sentences/s (test2016)")):
        for i, p in enumerate(points):
            x = getattr(p, attr)
            if x is None:
                continue
            ax.scatter([x], [p.bleu], color=COLORS[i % len(COLORS)], s=40)
            ax.annotate(p.name, (x, p.bleu), textcoords="offset points", xytext=(5, 4), fontsize=8)
        ax.set_xlabel(label)
        ax.set_ylabel("sacreBLEU, test2016, beam 5")
        ax.grid(alpha=0.3)
    return fig


def read_qrnn_bench(path: str | Path) -> dict:
    try:
        result = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise NmtError(f"{path}: not readable as JSON ({type(e).__name__})") from None
    if not isinstance(result, dict) or result.get("benchmark") != "qrnn_layer" or not result.get("rows"):
        raise NmtError(f"{path}: not the output of `nmt bench qrnn`")
    return result


def qrnn_figure(result: dict):
    """Speed-up (LSTM time / QRNN time) against T, a line per batch size; inference, training."""
    modes = [m for m in ("inference", "training") if m in result["rows"][0]]
    fig = new_figure(5.0 * len(modes), 3.6)
    batches = sorted({r["B"] for r in result["rows"]})
    for ax, mode in zip(fig.subplots(1, len(modes), squeeze=False)[0], modes):
        for i, b in enumerate(batches):
            rows = sorted((r for r in result["rows"] if r["B"] == b), key=lambda r: r["T"])
            ax.plot([r["T"] for r in rows], [r[mode]["speedup"] for r in rows], "o-",
                    color=COLORS[i % len(COLORS)], label=f"batch {b}", lw=1.3, ms=3)
        ax.axhline(1.0, color="grey", lw=0.8, ls=":")
        ax.set_xscale("log", base=2)
        ax.set_xlabel("sequence length T")
        ax.set_ylabel("QRNN speed-up over LSTM")
        ax.set_title(f"{mode}, {result.get('hidden', '?')} units, {result.get('precision', '')}, "
                     f"{result.get('threads', '?')} threads", fontsize=9)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    return fig
