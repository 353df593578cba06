"""The osprey sources as a ``datasets`` loading script; the parser ships in the package (sa2va_hf.data.sources.osprey)."""

from sa2va_hf.data.builder import family_builder


class Osprey(family_builder("osprey")):
    __doc__ = family_builder("osprey").__doc__
