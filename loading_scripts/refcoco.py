"""RefCOCO / RefCOCO+ / RefCOCOg builder (the class ships in the package: sa2va_hf.builders.refcoco)."""

from sa2va_hf.builders.refcoco import RefCOCOBuilder

__all__ = ["RefCOCOBuilder"]
