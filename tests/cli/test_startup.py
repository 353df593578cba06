"""``sa2va-hf --help`` and argument errors import none of the heavy libraries (transformers and torch cost
seconds of CPU; ``bench/cli_startup.py`` measures the time). Fresh processes: what is imported is the point."""

from __future__ import annotations

import pytest

from ..child import run_module


@pytest.mark.parametrize(
    ("argv", "code"),
    [
        (["--help"], 0),
        (["export", "--help"], 0),
        (["bild"], 2),
        (["info", "refcoco", "--num-proc", "0"], 2),
        (["show", "photo.jpg", "--output", "x.txt"], 2),
    ],
)
def test_parsing_imports_nothing_heavy(argv, code):
    out = run_module("tests.cli.import_probe", *argv)
    assert f"exit {code}; imported []" in out
