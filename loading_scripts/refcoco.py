"""The refcoco sources as a ``datasets`` loading script; the parser ships in the package (sa2va_hf.data.sources.refcoco)."""

from sa2va_hf.data.builder import family_builder


class Refcoco(family_builder("refcoco")):
    __doc__ = family_builder("refcoco").__doc__
