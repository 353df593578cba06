"""The one place that knows COCO mask encodings.

Annotations arrive in three shapes (pycocotools conventions, ``size`` is [h, w]):

* polygons: a list of flat ``[x1, y1, x2, y2, ...]`` lists, one per part; the parts
  are merged (union) into one binary mask;
* uncompressed RLE: ``{"size": [h, w], "counts": [int, ...]}``: run lengths over the
  pixels in column-major order, background first (so the first run may be 0);
* compressed RLE: ``{"size": [h, w], "counts": "<ascii>"}`` (``bytes`` counts come
  from pickles written with ``pycocotools.mask.encode``): the same runs, each number
  written as 5-bit groups in the characters '0'..'o', and from the fourth run on as the
  difference to the run two places before. It is *canonical* when every number uses
  the fewest characters, as pycocotools writes it.

Everything leaves as a binary ``uint8`` mask or as canonical compressed RLE whose
``counts`` is an ASCII ``str`` (``bytes`` in a string column silently becomes ``"b'...'"``).

pycocotools' C code checks no bounds, so nothing reaches it unchecked:

* a mask has at most ``MAX_MASK_PIXELS`` pixels (its allocations are unchecked, and its
  string encoder overruns its buffer once runs reach 2**24);
* RLE runs are integers (never bools, strings or floats), non-negative, summing to h*w;
* a non-canonical compressed RLE is re-encoded from its runs (pycocotools misreads a
  number of 7 or more characters);
* polygon coordinates stay within ±1e8 (pycocotools scales them by 5 into 32-bit ints),
  and tracing all parts takes at most ``2**24`` steps (it allocates 16 bytes a step).

Within these bounds every result is exactly pycocotools' own.
"""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .errors import MaskFormatError, ShapeMismatchError, where

__all__ = [
    "MAX_MASK_PIXELS",
    "Segmentation",
    "decode",
    "decode_many",
    "encode",
    "to_rle",
    "rle_counts",
    "segmentation_runs",
    "segmentations_runs",
    "rle_area",
    "rle_bbox",
    "is_rle",
    "MaskUnions",
    "decode_unions",
]

Segmentation = Any  # list[list[float]] | {"size": [h, w], "counts": list[int] | str | bytes}


@functools.cache
def _pycocotools_mask():
    # imported on first use, in a ``try`` (which transformers' check of remote-code imports skips): a saved
    # processor needs pycocotools only when it is given RLE or polygon masks, never for array masks
    try:
        from pycocotools import mask
    except ImportError:
        raise ImportError("masks given as COCO RLE or polygons need pycocotools: pip install pycocotools") from None
    return mask


class _LazyPycocotools:
    """``pycocotools.mask``, imported when an attribute is first read."""

    def __getattr__(self, name: str):
        return getattr(_pycocotools_mask(), name)


mask_utils = _LazyPycocotools()

# pycocotools' string encoder writes each run in up to 6 characters into a buffer of exactly 6
# per run, so its terminating NUL lands outside once every run needs 6 (runs of 2**24 or more;
# a 4-run mask of 2**26 + 1 pixels aborts glibc). Below 2**24 pixels no run needs 6.
_PYCOCOTOOLS_MAX_PIXELS = (1 << 24) - 1

MAX_MASK_PIXELS = _PYCOCOTOOLS_MAX_PIXELS
"""Largest mask (h*w) accepted: 16,777,215 pixels, about 4096×4096. Set it lower to bound
memory; a higher value has no effect (see ``_PYCOCOTOOLS_MAX_PIXELS``)."""

# Exact types, so that bool (an int subclass) is not one; numpy scalars come from pickles and arrays.
_INTEGER_TYPES = frozenset({int, *(np.dtype(c).type for c in np.typecodes["AllInteger"])})
_REAL_TYPES = _INTEGER_TYPES | {float, *(np.dtype(c).type for c in np.typecodes["Float"])}

_MIN_POLYGON_NUMBERS = 6  # frPyObjects reads 4 numbers as a bbox and fails below 4
_MAX_POLYGON_COORDINATE = 1e8  # pycocotools computes int(5 * v + 0.5), and differences of those, in 32 bits
_POLYGON_SCALE = 5  # pycocotools traces polygon outlines on a grid 5 times finer than the pixels
_MAX_POLYGON_STEPS = 1 << 24  # 16 bytes a step: 256 MiB, ~3 million pixels of outline

# A compressed-RLE number is not canonical when its last character only repeats the sign of the
# one before: a continued character with the sign bit clear ('P'..'_') then '0', or set ('`'..'o')
# then 'O'. Mapping characters to those classes, then searching, is 5x faster than a regex.
_SIGN_CLASSES = bytes(
    ord("+") if 0x50 <= b <= 0x5F else ord("-") if 0x60 <= b <= 0x6F else b if b in b"0O" else ord(" ")
    for b in range(256)
)


def is_rle(segmentation: Segmentation) -> bool:
    return isinstance(segmentation, dict) and "counts" in segmentation


def _show(value: object, width: int = 60) -> str:
    """``repr`` cut to ``width``; never raises (a 5000-digit int has no repr)."""
    try:
        text = repr(value)
    except ValueError:
        text = f"<{type(value).__name__} too large to print>"
    return text if len(text) <= width else text[: width - 3] + "..."


def _mask_shape(h: object, w: object, ctx: str) -> tuple[int, int]:
    """(h, w) as ints once they are non-negative integers within ``MAX_MASK_PIXELS``."""
    if not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v >= 0 for v in (h, w)):
        raise MaskFormatError(f"a mask size must be [height, width] of non-negative ints, got {_show([h, w])}{ctx}")
    h, w = int(h), int(w)
    limit = min(MAX_MASK_PIXELS, _PYCOCOTOOLS_MAX_PIXELS)
    if h * w > limit:
        raise MaskFormatError(
            f"a mask of {_show(h)} x {_show(w)} pixels is over the limit of {limit} pixels "
            f"(sa2va_hf.masks.MAX_MASK_PIXELS){ctx}"
        )
    return h, w


def _check_size(got: tuple[int, int], height: object, width: object, ctx: str) -> None:
    if height is not None and width is not None:
        expected = _mask_shape(height, width, ctx)
        if got != expected:
            raise ShapeMismatchError(f"RLE size {list(got)} (h, w) differs from the image's {list(expected)}{ctx}")


def _numbers(values: object, types: frozenset[type], dtype: type) -> np.ndarray | None:
    """``values`` as a flat ``dtype`` array if the type of each one is in ``types``, else None.

    numpy alone would coerce: ``["1", "4"]``, ``[True, 4]`` and ``[1.9, 4.9]`` all become ``[1, 4]``.
    Raises OverflowError for an int that ``dtype`` cannot hold.
    """
    if isinstance(values, np.ndarray):
        values = values.tolist()  # Python scalars: a uint64 array then cannot wrap into int64
    if not isinstance(values, (list, tuple)) or not set(map(type, values)) <= types:
        return None
    return np.asarray(values, dtype=dtype)


# Each character of a compressed RLE as a signed base-32 digit: '0'..'O' end a number (their 0x10 bit
# is the number's sign, so the last digit counts d - 32), 'P'..'o' continue it, anything else is 64.
_LAST_DIGIT = ord("P")
_DIGITS = np.full(256, 64, dtype=np.int64)
_DIGITS[48:80] = [d - 32 if d & 0x10 else d for d in range(32)]
_DIGITS[80:112] = np.arange(32)
_POWERS_OF_32 = 32 ** np.arange(12, dtype=np.int64)  # 12 characters hold 60 bits


def _rle_numbers(raw: np.ndarray) -> np.ndarray:
    """The numbers of compressed-RLE characters (one string, or several each ending a number), not yet un-delta'd."""
    digits = _DIGITS[raw]
    if digits.max() == 64:
        raise MaskFormatError("RLE counts contain characters outside the COCO alphabet ('0'..'o')")
    if raw[-1] >= _LAST_DIGIT:
        raise MaskFormatError("RLE counts end in the middle of a number")
    ends = np.flatnonzero(raw < _LAST_DIGIT)
    if ends.size == raw.size:  # every number one character
        return digits
    starts = np.empty_like(ends)
    starts[0] = 0
    np.add(ends[:-1], 1, out=starts[1:])
    lengths = ends - starts + 1
    if lengths.max() > _POWERS_OF_32.size:
        raise MaskFormatError("RLE counts hold a number too long to be a run length")
    place = np.arange(raw.size) - np.repeat(starts, lengths)
    return np.add.reduceat(digits * _POWERS_OF_32[place], starts)


def _undelta(values: np.ndarray) -> np.ndarray:
    """Runs j > 2 were stored as run[j] - run[j-2]: add them back up (odd and even runs apart), in place."""
    if values.size > 3:
        values[3::2] = np.cumsum(values[1::2])[1:]
    if values.size > 4:
        values[4::2] = np.cumsum(values[2::2])[1:]
    return values


def rle_counts(counts: str | bytes) -> np.ndarray:
    """Decode a compressed RLE ``counts`` string into its run lengths (int64).

    Mirrors pycocotools' ``rleFrString``: 5 data bits per character (offset 48), 0x20
    marks continuation, 0x10 in the last character is the sign, and from the fourth run
    on each value is a delta against the run two places before.
    """
    raw = np.frombuffer(counts.encode("ascii") if isinstance(counts, str) else bytes(counts), dtype=np.uint8)
    if raw.size == 0:
        return np.zeros(0, dtype=np.int64)
    return _undelta(_rle_numbers(raw))


def _is_padded(counts: bytes) -> bool:
    classes = counts.translate(_SIGN_CLASSES)
    return b"+0" in classes or b"-O" in classes


def _check_runs(runs: np.ndarray, h: int, w: int, ctx: str) -> None:
    if runs.size and runs.min() < 0:
        raise MaskFormatError(f"corrupt RLE: negative run length{ctx}")
    # Each run <= h*w < 2**24 keeps the int64 sum exact; beyond that sum as Python ints, which never wrap.
    total = int(runs.sum()) if not runs.size or runs.max() <= h * w else sum(runs.tolist())
    if total != h * w:
        raise MaskFormatError(f"corrupt RLE: runs cover {total} pixels, size {[h, w]} needs {h * w}{ctx}")


def _encode_runs(runs: np.ndarray, h: int, w: int) -> dict:
    """pycocotools' canonical compressed RLE of checked runs."""
    return mask_utils.frPyObjects({"size": [h, w], "counts": runs.tolist()}, h, w)


def _rle_runs(rle: dict, height: object, width: object, ctx: str) -> tuple[np.ndarray, int, int, bytes | None]:
    """(checked runs, h, w, the counts as bytes for a compressed RLE else None) of an RLE dict."""
    if not isinstance(rle, Mapping) or "counts" not in rle:  # e.g. a polygon list, or a string, where an RLE goes
        got = f"a dict with keys {sorted(map(str, rle))}" if isinstance(rle, Mapping) else _show(rle)
        raise MaskFormatError(f"an RLE must be a dict {{'size': [h, w], 'counts': ...}}, got {got}{ctx}")
    size = rle.get("size")
    if not isinstance(size, (list, tuple)) or len(size) != 2:
        raise MaskFormatError(f"RLE 'size' must be [height, width], got {_show(size)}{ctx}")
    h, w = _mask_shape(size[0], size[1], ctx)
    _check_size((h, w), height, width, ctx)
    counts = rle["counts"]
    if isinstance(counts, (str, bytes, bytearray)):
        try:
            data = counts.encode("ascii") if isinstance(counts, str) else bytes(counts)
            runs = rle_counts(data)
        except (MaskFormatError, UnicodeEncodeError) as e:
            raise MaskFormatError(f"corrupt compressed RLE{ctx}: {e}") from None
        _check_runs(runs, h, w, ctx)
        return runs, h, w, data
    if isinstance(counts, (list, tuple, np.ndarray)):
        try:
            runs = _numbers(counts, _INTEGER_TYPES, np.int64)
        except OverflowError:
            raise MaskFormatError(f"corrupt RLE: a run length beyond 64 bits{ctx}") from None
        if runs is None:
            raise MaskFormatError(f"uncompressed RLE counts must be a flat list of integers{ctx}")
        _check_runs(runs, h, w, ctx)
        return runs, h, w, None
    raise MaskFormatError(f"RLE 'counts' must be a str, bytes or a list of ints, got {type(counts).__name__}{ctx}")


def _validated_rle(rle: dict, height: object, width: object, ctx: str) -> dict:
    """Return a pycocotools-ready canonical compressed RLE (``bytes`` counts) after checking it."""
    runs, h, w, data = _rle_runs(rle, height, width, ctx)
    if data is not None and not _is_padded(data):
        return {"size": [h, w], "counts": data}
    return _encode_runs(runs, h, w)


def _trace_steps(xy: np.ndarray) -> int:
    """How many points pycocotools' ``rleFrPoly`` walks along the closed outline ``xy``."""
    points = np.trunc(_POLYGON_SCALE * xy + 0.5).reshape(-1, 2)  # C's (int) cast truncates
    edges = np.abs(np.diff(points, axis=0, append=points[:1]))
    return int(edges.max(axis=1).sum()) + len(points)


def _far_outside(part: int, ctx: str) -> MaskFormatError:
    return MaskFormatError(
        f"polygon part {part} has a coordinate beyond ±{_MAX_POLYGON_COORDINATE:.0e}, far outside any image{ctx}"
    )


def _validated_polygons(polygons: Sequence, ctx: str) -> list[list[float]]:
    if len(polygons) == 0:
        raise MaskFormatError(f"empty polygon list{ctx}")
    out = []
    steps = 0
    for k, poly in enumerate(polygons):
        if not isinstance(poly, (list, tuple, np.ndarray)):
            raise MaskFormatError(
                f"polygon segmentation must be a list of [x1, y1, x2, y2, ...] lists; part {k} is {_show(poly)}{ctx}"
            )
        try:
            xy = _numbers(poly, _REAL_TYPES, np.float64)
        except OverflowError:  # an int too large even for a float
            raise _far_outside(k, ctx) from None
        if xy is None:
            raise MaskFormatError(f"polygon part {k} holds a non-number{ctx}")
        if xy.size < _MIN_POLYGON_NUMBERS or xy.size % 2:
            raise MaskFormatError(
                f"polygon part {k} has {xy.size} numbers; a polygon needs an even count of at least "
                f"{_MIN_POLYGON_NUMBERS} (3 points){ctx}"
            )
        if not np.all(np.isfinite(xy)):
            raise MaskFormatError(f"polygon part {k} has a non-finite coordinate{ctx}")
        if np.abs(xy).max() > _MAX_POLYGON_COORDINATE:
            raise _far_outside(k, ctx)
        steps += _trace_steps(xy)
        out.append(xy.tolist())
    if steps > _MAX_POLYGON_STEPS:
        raise MaskFormatError(
            f"polygon outline too long to rasterise: {steps} steps of 1/{_POLYGON_SCALE} pixel, "
            f"over the limit of {_MAX_POLYGON_STEPS} (points far outside the image?){ctx}"
        )
    return out


def _to_coco_rle(segmentation: Segmentation, height: object, width: object, ctx: str) -> dict:
    """Any segmentation -> one pycocotools compressed RLE (``bytes`` counts)."""
    if isinstance(segmentation, dict):
        if "counts" not in segmentation or "size" not in segmentation:
            raise MaskFormatError(f"RLE dict needs 'size' and 'counts', got keys {_show(list(segmentation))}{ctx}")
        return _validated_rle(segmentation, height, width, ctx)
    if isinstance(segmentation, (list, tuple)):
        if height is None or width is None:
            raise MaskFormatError(f"a polygon needs the image height and width to be rasterised{ctx}")
        h, w = _mask_shape(height, width, ctx)
        polygons = _validated_polygons(segmentation, ctx)
        if h * w == 0:  # pycocotools' rasteriser computes w - 1 unsigned: garbage runs for w = 0
            return _encode_runs(np.zeros(1, dtype=np.int64), h, w)
        return mask_utils.merge(mask_utils.frPyObjects(polygons, h, w))
    raise MaskFormatError(f"segmentation must be a polygon list or an RLE dict, got {type(segmentation).__name__}{ctx}")


def to_rle(
    segmentation: Segmentation,
    height: int | None = None,
    width: int | None = None,
    *,
    file: object = None,
    record: object = None,
) -> dict:
    """Canonical compressed RLE ``{"size": [h, w], "counts": str}`` of any segmentation.

    Polygons are merged (union, so overlaps stay binary); ``height``/``width`` are required
    for polygons and, when given, must match an RLE's own size.
    """
    ctx = where(file, record)
    rle = _to_coco_rle(segmentation, height, width, ctx)
    return {"size": [int(rle["size"][0]), int(rle["size"][1])], "counts": rle["counts"].decode("ascii")}


def decode(
    segmentation: Segmentation,
    height: int | None = None,
    width: int | None = None,
    *,
    file: object = None,
    record: object = None,
) -> np.ndarray:
    """Binary ``uint8`` (H, W) mask of a polygon list or an RLE (compressed or not)."""
    ctx = where(file, record)
    return mask_utils.decode(_to_coco_rle(segmentation, height, width, ctx))


def decode_many(
    segmentations: Sequence[Segmentation], height: int, width: int, *, file: object = None, record: object = None
) -> np.ndarray:
    """Stack of binary masks, (n, H, W) uint8; ``n`` may be 0."""
    ctx = where(file, record)
    h, w = _mask_shape(height, width, ctx)
    rles = [_to_coco_rle(s, h, w, ctx) for s in segmentations]
    # numpy allocates the stack (MemoryError if it cannot); pycocotools decodes one checked mask at a time
    # (its own allocation is unchecked).
    out = np.empty((len(rles), h, w), dtype=np.uint8)
    for k, rle in enumerate(rles):
        out[k] = mask_utils.decode(rle)
    return out


def segmentation_runs(
    segmentation: Segmentation, height: int, width: int, *, file: object = None, record: object = None
) -> np.ndarray:
    """Run lengths of a segmentation at ``height`` x ``width``, without decoding it to pixels.

    int64, over the pixels in column-major order, background first (COCO's runs): what
    :func:`decode` would decode, checked the same way (the same errors for the same input). An RLE
    is parsed here; a polygon is rasterised by pycocotools to its RLE first.
    """
    ctx = where(file, record)
    _mask_shape(height, width, ctx)
    if isinstance(segmentation, dict) and "counts" in segmentation and "size" in segmentation:
        return _rle_runs(segmentation, height, width, ctx)[0]
    return rle_counts(_to_coco_rle(segmentation, height, width, ctx)["counts"])


def segmentations_runs(
    segmentations: Sequence[Segmentation], height: int, width: int, *, file: object = None, record: object = None
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`segmentation_runs` of several segmentations of one image: (all runs, ``n + 1`` offsets).

    The runs of segmentation ``k`` are ``runs[offsets[k]:offsets[k + 1]]``. Compressed RLEs of
    the image's size are parsed together, in one pass over all their characters; anything else,
    and any input that fails a check, goes one by one through :func:`segmentation_runs` (whose
    errors name the problem).
    """
    ctx = where(file, record)
    h, w = _mask_shape(height, width, ctx)
    datas = []
    for segmentation in segmentations:
        counts = segmentation.get("counts") if type(segmentation) is dict else None
        size = segmentation.get("size") if counts is not None else None
        if type(counts) is str and counts.isascii():
            counts = counts.encode("ascii")
        if not (
            type(counts) is bytes and counts and counts[-1] < _LAST_DIGIT
            and type(size) in (list, tuple) and len(size) == 2 and type(size[0]) is int and type(size[1]) is int
            and (size[0], size[1]) == (h, w)
        ):  # fmt: skip
            break
        datas.append(counts)
    else:
        if not datas:
            return np.zeros(0, dtype=np.int64), np.zeros(1, dtype=np.int64)
        hw = h * w
        try:
            if len(datas) == 1:
                runs = _undelta(_rle_numbers(np.frombuffer(datas[0], dtype=np.uint8)))
                offsets = np.array([0, runs.size], dtype=np.int64)
                ok = runs.min() >= 0 and runs.max() <= hw and runs.sum() == hw
            else:
                lengths = np.fromiter(map(len, datas), dtype=np.int64, count=len(datas))
                raw = np.frombuffer(b"".join(datas), dtype=np.uint8)
                runs = _rle_numbers(raw)
                offsets = np.zeros(len(datas) + 1, dtype=np.int64)
                np.cumsum(
                    np.add.reduceat(raw < _LAST_DIGIT, np.cumsum(lengths) - lengths, dtype=np.int64), out=offsets[1:]
                )
                for a, b in zip(offsets[:-1].tolist(), offsets[1:].tolist()):
                    _undelta(runs[a:b])
                ok = runs.min() >= 0 and runs.max() <= hw and (np.add.reduceat(runs, offsets[:-1]) == hw).all()
        except MaskFormatError:
            ok = False
        if ok:
            return runs, offsets
    parts = [segmentation_runs(s, h, w, file=file, record=record) for s in segmentations]
    offsets = np.zeros(len(parts) + 1, dtype=np.int64)
    np.cumsum([len(p) for p in parts], out=offsets[1:])
    return (np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)), offsets


def encode(mask: np.ndarray, *, file: object = None, record: object = None) -> dict:
    """Compressed RLE with ASCII ``str`` counts of a 2-D mask (nonzero = foreground)."""
    mask = np.asarray(mask)
    if mask.ndim != 2:
        raise ShapeMismatchError(f"encode expects one (H, W) mask, got shape {mask.shape}{where(file, record)}")
    _mask_shape(*mask.shape, where(file, record))
    rle = mask_utils.encode(np.asfortranarray(mask != 0, dtype=np.uint8))
    return {"size": [int(rle["size"][0]), int(rle["size"][1])], "counts": rle["counts"].decode("ascii")}


def rle_area(rle: dict, *, file: object = None, record: object = None) -> int:
    """Foreground pixel count of an RLE (checked first), without decoding it."""
    return int(mask_utils.area(_validated_rle(rle, None, None, where(file, record))))


def rle_intersection_union(a: dict | None, b: dict, *, file: object = None, record: object = None) -> tuple[int, int]:
    """(intersection, union) pixel counts of two RLEs of one size (checked first), without decoding
    them; ``a`` may be ``None`` (no mask: intersection 0, union ``b``'s area)."""
    ctx = where(file, record)
    theirs = _validated_rle(b, None, None, ctx)
    if a is None:
        return 0, int(mask_utils.area(theirs))
    ours = _validated_rle(a, *theirs["size"], ctx)  # pycocotools merges masks of one size only
    inter = int(mask_utils.area(mask_utils.merge([ours, theirs], intersect=True)))
    return inter, int(mask_utils.area(mask_utils.merge([ours, theirs], intersect=False)))


def rle_bbox(rle: dict, *, file: object = None, record: object = None) -> list[float]:
    """[x, y, w, h] box of an RLE (checked first), without decoding it; zeros when it is empty."""
    coco = _validated_rle(rle, None, None, where(file, record))
    if mask_utils.area(coco) == 0:  # pycocotools' box wraps around for an empty mask with a zero run ([4, 0])
        return [0.0, 0.0, 0.0, 0.0]
    return [float(v) for v in mask_utils.toBbox(coco)]


_OFF_ON = np.array([0, 1], dtype=np.uint8)  # COCO runs alternate background, foreground


class MaskUnions:
    """Unions of one image's (or one video's) segmentations, written straight into ``(H, W)`` uint8 arrays.

    What a training sample's ``masks`` are: per entry, the OR of a few regions' masks. Each segmentation is
    decoded once per key (e.g. ``(region, frame)``), from its runs (checked as :func:`decode` checks them) to
    its pixels in COCO's column-major order -- one ``np.repeat``, no per-pixel work -- and each union is
    written with one transposing copy of its bounding box, the rest of the output set to 0. A union of keys
    already written is copied from where it went. Every value equals the OR of :func:`decode` of the parts.
    """

    def __init__(
        self, height: int, width: int, *, file: object = None, record: object = None, uses: Mapping[Any, int] | None = None
    ) -> None:
        self.height, self.width = _mask_shape(height, width, where(file, record))
        self.file, self.record = file, record
        self._columns: dict[Any, tuple[np.ndarray, tuple[int, int, int, int]] | None] = {}
        self._written: dict[tuple, np.ndarray] = {}
        # key -> writes still to come that name it: a key's pixels are dropped after its last one, so memory
        # holds the masks still needed, not all of them (None: every decoded key is kept)
        self._uses = None if uses is None else dict(uses)

    def _used(self, key: Any) -> None:
        if self._uses is not None and key in self._uses:
            self._uses[key] -= 1
            if self._uses[key] <= 0:
                self._columns.pop(key, None)

    def columns(self, key: Any, segmentation: Segmentation) -> tuple[np.ndarray, tuple[int, int, int, int]] | None:
        """(the mask as a ``(W, H)`` array: the transpose of its pixels, its box ``(x0, x1, y0, y1)``), or
        None for an empty mask; decoded on the first call for ``key``."""
        if key not in self._columns:
            h, w = self.height, self.width
            runs = segmentation_runs(segmentation, h, w, file=self.file, record=self.record)
            ends = np.cumsum(runs)
            starts, stops = (ends - runs)[1::2], ends[1::2]  # foreground runs [start, stop), column-major
            filled = stops > starts
            if not filled.any():
                self._columns[key] = None
            else:
                starts, last = starts[filled], stops[filled] - 1
                x0, x1 = int(starts[0]) // h, int(last[-1]) // h + 1
                if (starts // h != last // h).any():  # a run crosses a column's end: every row
                    y0, y1 = 0, h
                else:
                    y0, y1 = int((starts % h).min()), int((last % h).max()) + 1
                pixels = np.repeat(np.resize(_OFF_ON, runs.size), runs).reshape(w, h)
                self._columns[key] = (pixels, (x0, x1, y0, y1))
        return self._columns[key]

    def write(self, out: np.ndarray, parts: Sequence[tuple[Any, Segmentation]]) -> None:
        """Write the union of ``parts`` (``(key, segmentation)`` pairs; none: an empty mask) into ``out``,
        an ``(H, W)`` uint8 array whose every value is set."""
        if out.shape != (self.height, self.width) or out.dtype != np.uint8:
            raise ShapeMismatchError(
                f"a mask of {self.height}x{self.width} (h x w) cannot be written into a {out.dtype} array of shape "
                f"{out.shape}{where(self.file, self.record)}"
            )
        keys = tuple(key for key, _ in parts)
        done = self._written.get(keys)
        if done is not None:
            np.copyto(out, done)
            for key in keys:
                self._used(key)
            return
        out.fill(0)
        union, box, owned = None, None, False
        for key, segmentation in parts:  # OR-ed one part at a time: two masks in memory, not every part
            decoded = self.columns(key, segmentation)
            self._used(key)
            if decoded is None:
                continue
            pixels, (a0, a1, b0, b1) = decoded
            if union is None:
                union, box = pixels, [a0, a1, b0, b1]
                continue
            if not owned:
                union, owned = union.copy(), True
            np.bitwise_or(union[a0:a1, b0:b1], pixels[a0:a1, b0:b1], out=union[a0:a1, b0:b1])
            box = [min(box[0], a0), max(box[1], a1), min(box[2], b0), max(box[3], b1)]
        if union is not None:
            x0, x1, y0, y1 = box
            out[y0:y1, x0:x1] = union[x0:x1, y0:y1].T
        self._written[keys] = out


def decode_unions(
    unions: Sequence[Sequence[tuple[Any, Segmentation]]], height: int, width: int, *, file: object = None,
    record: object = None,
) -> np.ndarray:  # fmt: skip
    """(n, H, W) uint8: mask ``i`` the union of ``unions[i]``'s ``(key, segmentation)`` pairs, each key decoded once
    (:class:`MaskUnions`) and its pixels dropped after its last union."""
    uses = Counter(key for parts in unions for key, _ in parts)
    writer = MaskUnions(height, width, file=file, record=record, uses=uses)
    out = np.empty((len(unions), writer.height, writer.width), dtype=np.uint8)
    for i, parts in enumerate(unions):
        writer.write(out[i], parts)
    return out
