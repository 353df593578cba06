"""The ref_sav source as a ``datasets`` loading script; the parser ships in the package (sa2va_hf.data.sources.ref_sav)."""

from sa2va_hf.data.builder import family_builder


class RefSav(family_builder("ref_sav")):
    __doc__ = family_builder("ref_sav").__doc__
