"""Describe Anything DLC-SFT builder (the class ships in the package: sa2va_hf.builders.describe_anything)."""

from sa2va_hf.builders.describe_anything import DescribeAnythingBuilder

__all__ = ["DescribeAnythingBuilder"]
