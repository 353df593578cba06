"""The refvos sources (ReVOS, MeViS, Ref-YouTube-VOS) as a ``datasets`` loading script; the parser ships in the package (sa2va_hf.data.sources.refvos)."""

from sa2va_hf.data.builder import family_builder


class Refvos(family_builder("refvos")):
    __doc__ = family_builder("refvos").__doc__
