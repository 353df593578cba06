"""``import sa2va_hf`` registers the classes with AutoProcessor / AutoImageProcessor and imports nothing heavy.

Each case runs in a fresh process (``tests/child.py``): what a process has imported is the point.
"""

from __future__ import annotations

import pytest

from .child import run_module


@pytest.mark.parametrize("order", ["sa2va_hf_first", "transformers_first"])
def test_importing_sa2va_hf_registers_the_classes_with_the_auto_factories(order, tmp_path):
    out = run_module("tests.registration_probe", order, str(tmp_path))
    assert "AutoImageProcessor: Sa2VAQwen2VLImageProcessor" in out
    assert "AutoProcessor: Sa2VAProcessor max_tiles=3" in out
    if order == "sa2va_hf_first":
        assert "after import sa2va_hf, transformers imported: False" in out
