"""sa2va-hf bench: a smoke test (no timing is asserted; the numbers are in docs/speed.md)."""

from __future__ import annotations

from sa2va_hf.cli import main


def test_bench_runs_and_checks_outputs_before_timing(capsys):
    assert main(["bench", "--quick", "--repeat", "1"]) == 0
    text = capsys.readouterr().out
    for row in ("vs upstream", "vs its floor", "torch backend", "GotOcr2", "prompt grid from RLE (pool)",
                "bench/training.py"):  # fmt: skip
        assert row in text, row
    assert "outputs differ" not in text
