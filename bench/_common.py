"""What the benchmark scripts share: the best of repeated timings, and this process's memory."""

from __future__ import annotations

import time


def best(run, repeat: int) -> float:
    """Seconds of the fastest of ``repeat`` calls of ``run()`` (the machine is shared: the least disturbed)."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times)


def rss_kb(field: str) -> int:
    """A memory figure of this process from ``/proc/self/status`` (``VmRSS``, ``VmHWM``, ``RssAnon``), in kB."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(field)
