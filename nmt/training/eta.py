"""How long training has left, for the progress bar: the nearest of the stopping rules that have
a horizon (``stop_time_minutes``, ``max_update``, ``max_epoch``), at this run's pace so far.

Other rules (patience, a minimum learning rate) end a run at a moment nobody can foresee, so a run
with none of the three shows no ETA. Validation and checkpoint time are inside the pace measured
over whole epochs and outside it before the first epoch ends, so early estimates run a little short.
"""

from __future__ import annotations


def remaining_seconds(*, trained_seconds: float, stop_time_minutes: float | None,
                      updates_done: int, seconds_this_run: float, update: int,
                      max_update: int | None, epoch: int, max_epoch: int | None,
                      updates_left_in_epoch: float, updates_per_epoch: float) -> float | None:
    """Seconds to the first of the horizons, or None when no horizon is set (or none can be
    estimated yet: the update-based ones need an update of this run to time)."""
    found = []
    if stop_time_minutes is not None:
        found.append(60 * stop_time_minutes - trained_seconds)
    pace = seconds_this_run / updates_done if updates_done > 0 else None  # seconds per update
    if pace is not None and max_update is not None:
        found.append((max_update - update) * pace)
    if pace is not None and max_epoch is not None:
        found.append(((max_epoch - epoch) * updates_per_epoch + updates_left_in_epoch) * pace)
    return max(0.0, min(found)) if found else None


def clock(seconds: float) -> str:
    """3725 -> '1:02:05', 65 -> '1:05'."""
    s = int(round(seconds))
    hours, rest = divmod(s, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"
