"""Osprey-724K builder (the class ships in the package: sa2va_hf.builders.osprey)."""

from sa2va_hf.builders.osprey import OspreyBuilder

__all__ = ["OspreyBuilder"]
