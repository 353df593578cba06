"""Getting processors and data out: Sa2VA checkpoint folders -> processors (more to come: Parquet, the Hub)."""

from .checkpoint import processor_from_checkpoint

__all__ = ["processor_from_checkpoint"]
