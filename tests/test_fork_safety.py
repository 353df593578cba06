"""Forked children (DataLoader workers, ``datasets.map(num_proc=2)``, ``multiprocessing`` pools) decode and
process correctly whatever the parent did first -- the hang of 0.2.1 with PyAV 18.1.1, and its kin.

Each scenario (``tests/fork_scenarios.py``) runs in a fresh process with a deadline: a hang fails the test
with every thread's stack instead of stopping the suite.
"""

from __future__ import annotations

import pytest

from .child import run_module
from .fork_scenarios import SCENARIOS


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_children_finish_after_the_parent_worked(scenario, tmp_path):
    assert "scenario passed" in run_module("tests.fork_scenarios", scenario, str(tmp_path))


@pytest.mark.parametrize("resize_backend", ["pil", "torch"])
def test_image_samples_through_workers_after_the_parent_used_its_threads(resize_backend, tmp_path):
    out = run_module("tests.fork_scenarios", "image_samples_through_workers", str(tmp_path), resize_backend)
    assert "scenario passed" in out
