"""The ``sa2va-hf`` command line (``sa2va_hf.cli.main:main``); nothing in the package imports it."""

from .main import build_parser, main

__all__ = ["build_parser", "main"]
