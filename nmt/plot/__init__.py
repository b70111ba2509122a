"""Pictures: `nmt plot curves | attention | compare | qrnn` (matplotlib, Agg, no display needed).

Plotting is an optional extra (``pip install -e .[plot]``); without matplotlib every command ends
with one line naming the extra. Figures are built on ``matplotlib.figure.Figure`` directly (no
pyplot and its global state) and written atomically in the format of the output's suffix.
"""

from __future__ import annotations

from pathlib import Path

from nmt.data.files import atomic_write, check_output_path
from nmt.errors import NmtError

FORMATS = {".png": "png", ".svg": "svg", ".pdf": "pdf"}
COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf"]


def new_figure(width: float, height: float):
    """A matplotlib Figure of ``width`` x ``height`` inches, or a one-line NmtError."""
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise NmtError("plotting needs matplotlib: pip install -e '.[plot]' "
                       "(or pip install matplotlib)") from None
    return Figure(figsize=(width, height), layout="constrained")


def check_output(path: str | Path) -> str:
    """The matplotlib format for ``path`` (by suffix); refuses unknown suffixes and directories
    before any work."""
    fmt = FORMATS.get(Path(path).suffix.lower())
    if fmt is None:
        raise NmtError(f"--output {path}: give a file ending in {', '.join(FORMATS)}")
    check_output_path(path, special_ok=False)
    return fmt


def save(fig, path: str | Path) -> None:
    """Write ``fig`` to ``path`` atomically (a reader never sees half a picture)."""
    fmt = check_output(path)
    with atomic_write(path, "wb", encoding=None) as f:
        fig.savefig(f, format=fmt, dpi=110)
