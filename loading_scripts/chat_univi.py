"""The chat_univi source as a ``datasets`` loading script; the parser ships in the package (sa2va_hf.data.sources.chat_univi)."""

from sa2va_hf.data.builder import family_builder


class ChatUnivi(family_builder("chat_univi")):
    __doc__ = family_builder("chat_univi").__doc__
