"""Run test code in a fresh Python process with a deadline that ends a hang as a failure, stacks printed.

A process blocked in C code (a thread waiting on a condition variable that will never be signalled)
cannot be interrupted from inside; from outside it can. The child dumps every thread's Python stack
(``faulthandler``) shortly before the deadline, then the whole process group -- the child and any
workers it forked -- is killed and the test fails with what the child printed.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# the child dumps its stacks this many seconds before it is killed
_DUMP_MARGIN = 10


def run_module(module: str, *args: str, timeout: float = 120) -> str:
    """``python -m module *args`` from the checkout's root; its output, or a failure naming what overran."""
    code = (
        "import faulthandler, runpy, sys\n"
        f"faulthandler.dump_traceback_later({max(1.0, timeout - _DUMP_MARGIN)!r}, exit=False)\n"
        f"sys.argv = [{module!r}, *{list(args)!r}]\n"
        f"runpy.run_module({module!r}, run_name='__main__', alter_sys=True)\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True,  # its own process group: its forked workers are killed with it
    )  # fmt: skip
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        pytest.fail(f"{module} {' '.join(args)} did not finish in {timeout} s (a hang); its output:\n{out}")
    finally:
        try:  # workers a finished child left behind
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    if proc.returncode != 0:
        pytest.fail(f"{module} {' '.join(args)} exited with {proc.returncode}; its output:\n{out}")
    return out
