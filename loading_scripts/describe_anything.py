"""The describe_anything sources as a ``datasets`` loading script; the parser ships in the package (sa2va_hf.data.sources.describe_anything)."""

from sa2va_hf.data.builder import family_builder


class DescribeAnything(family_builder("describe_anything")):
    __doc__ = family_builder("describe_anything").__doc__
