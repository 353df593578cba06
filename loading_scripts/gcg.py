"""The gcg sources as a ``datasets`` loading script; the parser ships in the package (sa2va_hf.data.sources.gcg)."""

from sa2va_hf.data.builder import family_builder


class Gcg(family_builder("gcg")):
    __doc__ = family_builder("gcg").__doc__
