"""Reading untrusted annotation files safely.

* :func:`load_pickle` / :func:`loads_pickle`: a restricted unpickler that admits only plain
  data (dict, list, tuple, set, frozenset, str, bytes, int, float, bool, None). A pickle that
  would import anything else, and so could run code, is refused with
  :class:`~sa2va_hf.errors.UnsafePickleError` naming the file.
* :func:`safe_join`: join a path taken from an annotation (``file_name`` ...) onto a data
  directory, refusing absolute paths and ``..`` components that climb out of it.
* :func:`check_output_folder`: a folder the user names for writing (a cache, an export) is one, or
  can be made: no file stands in its place or on its way.
"""

from __future__ import annotations

import io
import os
import pickle
import posixpath
from typing import Any

from ..errors import Sa2VAError, UnsafePathError, UnsafePickleError, where

__all__ = ["check_output_folder", "load_pickle", "loads_pickle", "safe_join", "SafeUnpickler"]


def _latin1_bytes(text: object, encoding: object = "latin1", errors: object = "strict") -> bytes:
    """What ``_codecs.encode`` may do in a plain-data pickle: ``str`` -> ``bytes`` via latin-1 only.

    Python 3 pickles ``bytes`` (protocols 0-2) as ``_codecs.encode(text, "latin1")``; any other
    codec (``base64``, ``zlib`` ...) or argument is refused rather than run.
    """
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1") or errors != "strict":
        raise UnsafePickleError(
            f"refusing _codecs.encode({type(text).__name__}, {encoding!r:.30}): only latin-1 str -> bytes is allowed"
        )
    return text.encode("latin-1")


def _empty_bytes(*args: object) -> bytes:
    """Python 3 pickles ``b""`` (protocols 0-2) as ``bytes()``; nothing else may call ``bytes``."""
    if args:
        raise UnsafePickleError(f"refusing bytes() with arguments ({len(args)} given): only bytes() is allowed")
    return b""


# The only globals a pickle of plain data may need:
#  * sets/frozensets are pickled (protocols 0-3) as a call of the builtin type on a list;
#  * bytes pickled by Python 3 with protocol 0-2 become ``_codecs.encode(str, "latin1")``
#    (served by :func:`_latin1_bytes`, never by the real ``_codecs.encode``), and ``b""``
#    becomes ``bytes()`` (served by :func:`_empty_bytes`).
_ALLOWED_GLOBALS = {
    ("builtins", "set"): set,
    ("builtins", "frozenset"): frozenset,
    ("__builtin__", "set"): set,
    ("__builtin__", "frozenset"): frozenset,
    ("_codecs", "encode"): _latin1_bytes,
    ("builtins", "bytes"): _empty_bytes,
    ("__builtin__", "bytes"): _empty_bytes,
}


class SafeUnpickler(pickle.Unpickler):
    """An Unpickler whose ``find_class`` admits only the plain-data globals above."""

    def __init__(self, file, *, source: object = None, encoding: str = "latin1"):
        # ``latin1`` maps every Python 2 ``str`` byte to a code point, so REFER's py2-era
        # pickles load without a UnicodeDecodeError (their text is ASCII anyway).
        super().__init__(file, encoding=encoding)
        self._source = source

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _ALLOWED_GLOBALS:
            return _ALLOWED_GLOBALS[(module, name)]
        raise UnsafePickleError(
            f"refusing to unpickle global {module}.{name}: only plain containers and scalars are allowed; "
            f"this pickle would import code{where(self._source)}"
        )

    def persistent_load(self, pid: Any) -> Any:
        raise UnsafePickleError(f"refusing a pickle with persistent ids{where(self._source)}")


def _load(fileobj, source: object) -> Any:
    try:
        return SafeUnpickler(fileobj, source=source).load()
    except UnsafePickleError as e:
        if source is not None and str(source) not in str(e):
            raise UnsafePickleError(f"{e}{where(source)}") from None
        raise
    except (
        pickle.UnpicklingError,
        EOFError,
        ValueError,
        TypeError,
        AttributeError,
        IndexError,
        KeyError,
        LookupError,
        OverflowError,
        RecursionError,
    ) as e:
        raise UnsafePickleError(f"corrupt or unsupported pickle{where(source)}: {type(e).__name__}: {e}") from None
    except MemoryError:
        # a corrupt length field (BINBYTES8, LONG4 ...) makes the unpickler allocate its claimed size
        raise UnsafePickleError(
            f"corrupt pickle: a length field claims more memory than exists{where(source)}"
        ) from None


def load_pickle(path: str | os.PathLike) -> Any:
    """Load a pickle file of plain data; anything that would import code raises UnsafePickleError."""
    with open(path, "rb") as f:
        return _load(f, os.fspath(path))


def loads_pickle(data: bytes, *, source: object = None) -> Any:
    """:func:`load_pickle` for bytes (``source`` names where they came from in errors)."""
    return _load(io.BytesIO(data), source)


def safe_join(base: str | os.PathLike, *parts: str, file: object = None, record: object = None) -> str:
    """``base/part/...`` for relative ``parts`` that stay inside ``base``.

    Absolute parts, drive letters, NUL bytes and ``..`` components that climb above ``base``
    raise :class:`UnsafePathError` (naming the annotation ``file`` and ``record``). The check is
    lexical, so symlinks inside ``base`` (a common way to share COCO folders) keep working.
    """
    rel_parts = []
    for part in parts:
        if not isinstance(part, str):
            raise UnsafePathError(f"a path must be a string, got {type(part).__name__}{where(file, record)}")
        norm = part.replace("\\", "/")
        if "\x00" in norm or norm.startswith("/") or os.path.isabs(part) or (len(norm) >= 2 and norm[1] == ":"):
            raise UnsafePathError(
                f"path {part!r} is absolute; it must be relative to the data directory{where(file, record)}"
            )
        rel_parts.append(norm)
    joined = posixpath.normpath(posixpath.join(*rel_parts)) if rel_parts else "."
    if joined == ".." or joined.startswith("../"):
        raise UnsafePathError(f"path {'/'.join(rel_parts)!r} climbs out of the data directory{where(file, record)}")
    if joined == ".":
        return os.fspath(base)
    return os.path.join(os.fspath(base), *joined.split("/"))


def check_output_folder(path: str | os.PathLike, what: str) -> str:
    """``path``, a folder to write into: refused, naming ``what`` (``"cache_dir"``, ``"--output"``), when a
    file stands there or on its way (``/etc/passwd/x``), before anything is built."""
    path = os.fspath(path)
    existing = os.path.abspath(os.path.expanduser(path))
    while not os.path.exists(existing) and os.path.dirname(existing) != existing:
        existing = os.path.dirname(existing)
    if not os.path.isdir(existing):
        where_ = "is a file" if existing == os.path.abspath(os.path.expanduser(path)) else f"is inside the file {existing!r}"
        raise Sa2VAError(f"{what} {path!r} {where_}; give a folder (it is made if missing)")
    return path
