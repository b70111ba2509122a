"""The part `profile_search.py` and `profile_train.py` share: run a piece of work under
torch.profiler and print the wall time, the ops' own time (the rest is Python and dispatch) and
the ops by their own time (grouped by input shape with ``shapes``)."""

from __future__ import annotations

import time
from collections.abc import Callable

from torch.profiler import ProfilerActivity, profile


def profile_and_print(work: Callable[[], object], heading: str, shapes: bool = False,
                      rows: int = 20) -> None:
    started = time.perf_counter()
    with profile(activities=[ProfilerActivity.CPU], record_shapes=shapes) as prof:
        work()
    wall = time.perf_counter() - started
    table = prof.key_averages(group_by_input_shape=shapes)
    print(f"{heading}wall {wall:.2f} s under the profiler, ops' own time "
          f"{sum(e.self_cpu_time_total for e in table) / 1e6:.2f} s")
    print(table.table(sort_by="self_cpu_time_total", row_limit=rows, max_name_column_width=40,
                      max_shapes_column_width=60))
