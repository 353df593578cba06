"""The finetune sources as a ``datasets`` loading script; the parser ships in the package (sa2va_hf.data.sources.finetune)."""

from sa2va_hf.data.builder import family_builder


class Finetune(family_builder("finetune")):
    __doc__ = family_builder("finetune").__doc__
