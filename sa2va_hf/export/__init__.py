"""Leaving the package: Parquet + dataset-card exports, the Hub, processors from Sa2VA checkpoints."""

from .checkpoint import processor_from_checkpoint
from .parquet import export_sources

__all__ = ["export_sources", "processor_from_checkpoint"]
