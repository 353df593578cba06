"""The llava sources as a ``datasets`` loading script; the parser ships in the package (sa2va_hf.data.sources.llava)."""

from sa2va_hf.data.builder import family_builder


class Llava(family_builder("llava")):
    __doc__ = family_builder("llava").__doc__
