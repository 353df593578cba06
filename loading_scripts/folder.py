"""The folder sources as a ``datasets`` loading script; the parser ships in the package (sa2va_hf.data.sources.folder)."""

from sa2va_hf.data.builder import family_builder


class Folder(family_builder("folder")):
    __doc__ = family_builder("folder").__doc__
