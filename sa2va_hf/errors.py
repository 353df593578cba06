"""Exceptions raised on bad input.

Every error is a ``ValueError`` subclass, so callers that already guard against
bad data with ``except ValueError`` keep working, and the message always names
what disagrees: the file, the record id, or the shapes involved.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class Sa2VAError(ValueError):
    """Base class of every error sa2va-hf raises on bad input."""


class MaskFormatError(Sa2VAError):
    """A segmentation is neither a valid polygon list nor a valid RLE."""


class ShapeMismatchError(Sa2VAError):
    """Two things that must have the same shape (image and mask, RLE and record) do not."""


class ImageLoadError(Sa2VAError):
    """An image file is missing, corrupt, or too large to decode safely."""


class VideoLoadError(Sa2VAError):
    """A video file is missing, cannot be decoded, or has fewer frames than its annotation needs."""


class EmptyRegionError(Sa2VAError):
    """A visual-prompt region covers fewer cells of the token grid than allowed."""


class AnnotationError(Sa2VAError):
    """A native annotation file is malformed or inconsistent (missing key, bad type, dangling reference)."""


class UnsafePathError(Sa2VAError):
    """A path taken from an annotation is absolute or climbs out of the data directory."""


class UnsafePickleError(Sa2VAError):
    """A pickle holds more than plain containers and scalars (it would import or run code)."""


class SampleDroppedError(Sa2VAError):
    """Upstream builds no training sample from this record (it asserts, crashes, or drops and redraws)."""


class PlanError(Sa2VAError):
    """A sampling plan that does not fit its record or recipe (an index out of range, a missing key)."""


def where(file: object = None, record: object = None) -> str:
    """Format the 'in file X, record Y' suffix used by error messages."""
    parts = []
    if file is not None:
        parts.append(f"file {str(file)!r}")
    if record is not None:
        parts.append(f"record {record!r}")
    return f" ({', '.join(parts)})" if parts else ""


def closest(word: object, known: Iterable[str]) -> str | None:
    """The entry of ``known`` closest to a mistyped ``word`` (``difflib``), or None when none is close."""
    close = difflib.get_close_matches(str(word), list(known), n=1)
    return close[0] if close else None


def did_you_mean(word: object, known: Iterable[str]) -> str:
    """``"; did you mean 'x'?"`` for the entry of ``known`` closest to ``word``, or ``""``."""
    close = closest(word, known)
    return f"; did you mean {close!r}?" if close else ""
