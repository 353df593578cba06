"""Run in a fresh process by ``tests/cli/test_startup.py``: what parsing the command line imports.

``python -m tests.cli.import_probe ARG...`` runs ``sa2va-hf ARG...`` (help or an argument error: no command
runs) and prints its exit status and which heavy libraries it imported.
"""

from __future__ import annotations

import contextlib
import io
import sys

HEAVY = ("transformers", "torch", "datasets", "pyarrow", "av", "pycocotools")

if __name__ == "__main__":
    from sa2va_hf.cli import main

    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        code = main(sys.argv[1:])
    print(f"exit {code}; imported {sorted(name for name in HEAVY if name in sys.modules)}")
