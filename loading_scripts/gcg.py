"""GLaMM GCG builder (the class ships in the package: sa2va_hf.builders.gcg)."""

from sa2va_hf.builders.gcg import GCGBuilder

__all__ = ["GCGBuilder"]
