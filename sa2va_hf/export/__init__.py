"""Leaving the package: processors from Sa2VA checkpoints (and, to come, Parquet / Hub export)."""

from .checkpoint import processor_from_checkpoint

__all__ = ["processor_from_checkpoint"]
