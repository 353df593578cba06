"""CPU time of the command line before it does anything (a measurement, not a test).

Each row starts fresh processes and takes the median of their CPU time (user + system, from
``resource.getrusage(RUSAGE_CHILDREN)``: steady on a shared machine, where wall time is not):

* ``sa2va-hf --help``, ``sa2va-hf COMMAND --help``, an argument error, a misspelt command: parsing only;
* ``python -c pass``: the interpreter's own start, the floor;
* ``import sa2va_hf`` + transformers' Auto classes: what every command paid before 0.3 (the package
  imported transformers, and torch with it, to register its classes).

Run: ``.venv/bin/python bench/cli_startup.py [--repeat 7]``
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys

ROWS = [
    ("sa2va-hf --help", ["-m", "sa2va_hf.cli", "--help"]),
    ("sa2va-hf export --help", ["-m", "sa2va_hf.cli", "export", "--help"]),
    ("sa2va-hf info refcoco --num-proc 0 (an argument error)", ["-m", "sa2va_hf.cli", "info", "refcoco", "--num-proc", "0"]),
    ("sa2va-hf bild (a misspelt command)", ["-m", "sa2va_hf.cli", "bild"]),
    ("python -c pass (the floor)", ["-c", "pass"]),
    ("import sa2va_hf + AutoProcessor (every command, 0.2)", ["-c", "import sa2va_hf, transformers; transformers.AutoProcessor"]),
]  # fmt: skip


def cpu_seconds(args: list[str]) -> float:
    """User + system CPU seconds of one fresh ``python ARGS`` process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run([sys.executable, *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=300)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7, help="processes per row (default 7)")
    args = parser.parse_args()
    env_load = os.getloadavg()[0]
    print(f"{args.repeat} fresh processes per row, median CPU time (user + system); load average {env_load:.2f}")
    print(f"{'':<58}{'CPU s':>8}{'min':>8}{'max':>8}")
    for name, argv in ROWS:
        cpu_seconds(argv)  # warm the page cache
        times = [cpu_seconds(argv) for _ in range(args.repeat)]
        print(f"{name:<58}{statistics.median(times):>8.3f}{min(times):>8.3f}{max(times):>8.3f}")


if __name__ == "__main__":
    main()
