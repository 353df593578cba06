"""A processor folder that loads anywhere: ``AutoProcessor.from_pretrained(folder, trust_remote_code=True)``
on a machine without sa2va-hf (the processing code travels in the folder)."""

from __future__ import annotations

import os
from typing import Any

__all__ = ["save_remote_code_processor"]


def save_remote_code_processor(processor: Any, folder: str | os.PathLike) -> str:
    """``save_pretrained`` with the remote-code files and ``auto_map``, leaving the classes as they were.

    ``register_for_auto_class`` marks the classes (process-wide) so that ``save_pretrained`` copies
    their code into the folder; the marks are put back afterwards, so later saves are unchanged.
    """
    processor_cls = type(processor)
    image_cls = type(processor.image_processor)
    before = (processor_cls.__dict__.get("_auto_class"), image_cls.__dict__.get("_auto_class"))
    try:
        processor_cls.register_for_auto_class("AutoProcessor")  # registers the image processor too
        processor.save_pretrained(os.fspath(folder))
    finally:
        for cls, value in zip((processor_cls, image_cls), before):
            if value is None and "_auto_class" in cls.__dict__:
                delattr(cls, "_auto_class")
            elif value is not None:
                cls._auto_class = value
    return os.fspath(folder)
