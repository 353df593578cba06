"""Compact samples: what a ``DataLoader`` worker hands to the main process, as small as exactness allows.

A v1 sample of a 640x480 image is 13 float32 tiles (31 MB) and its masks; every byte that crosses from a
worker goes through fresh shared memory, which costs about as much CPU per byte as building the sample
(pages of shared memory are faulted in 4 KB at a time). With ``Sa2VATrainingTransform(compact_samples=True)``
a sample carries instead:

* :class:`CompactTiles`: the resized uint8 tiles (a quarter of the bytes) and the float32 table that
  normalizes them -- ``x / 255`` then ``(x - mean) / std``, computed once per value in float32, the same bits
  as normalizing the tiles where they were made (``sa2va_hf.tiling.normalization_table``);
* :class:`CompactMasks`: the checked RLEs each mask is the union of (a few hundred bytes, not H*W each).

:class:`~sa2va_hf.training.collator.Sa2VACollator` batches them. In the process that uses the batch it finishes them
at once; in a ``DataLoader`` worker it puts the uint8 tiles into shared memory and leaves a :class:`Finish`
in the batch, which pickling turns into a call of the collator's ``finish_tiles`` / ``finish_masks`` -- run by the
main process when it unpickles the batch. Nothing is left for the user to call: the batch that arrives is
bit for bit the one the default samples give. ``np.asarray`` of a compact value gives its array too.

Where the finishing runs, in a ``DataLoader``:

* ``num_workers=0``: the collator finishes the batch itself (no worker, nothing crosses);
* ``num_workers > 0`` (``persistent_workers`` or not): in the main process, in the thread that takes the
  batch off the workers' queue -- the loop's thread, or with ``pin_memory=True`` the pin-memory thread, which
  then pins the finished tensors;
* a collate function of the user's that wraps ours and reads ``pixel_values`` / ``masks`` inside the worker
  finds a :class:`Finish` there: :meth:`Finish.result` finishes it in the worker (as the default samples
  would be), any other attribute, ``len`` or indexing names this. Keys it adds or changes beside them cross
  as they are;
* an error while finishing reaches the loop as a worker's error does (the collator's ``WorkerBatch``
  pickles as one call that turns it into torch's ``ExceptionWrapper``), and the loader goes on.

``return_tensors="pt"`` leaves the compact values as they are (the collator makes the tensors). Any other
collate function (``default_collate``) does not know them: use ``Sa2VACollator`` or the default samples.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .. import masks as masks_codec
from ..errors import Sa2VAError
from ..tiling import normalize_tiles_into

__all__ = ["CompactMasks", "CompactTiles", "Finish"]


class _CompactValue:
    """What a compact value shares: ``np.asarray`` gives its array, made anew (:meth:`_make_array`) each time."""

    __slots__ = ()

    def _make_array(self) -> np.ndarray:
        raise NotImplementedError

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        if copy is False:  # numpy 2's np.asarray(x, copy=False) asks for no copy: the array is always a new one
            raise ValueError(f"{self!r} makes a new array each time: np.asarray(..., copy=False) cannot be met")
        out = self._make_array()
        return out if dtype is None else out.astype(dtype, copy=False)


class CompactTiles(_CompactValue):
    """A sample's ``pixel_values``, (T, 3, S, S) float32, kept as its uint8 tiles and their (3, 256) float32
    normalization table until the batch is made."""

    __slots__ = ("table", "tiles")

    def __init__(self, tiles: np.ndarray, table: np.ndarray) -> None:
        if tiles.dtype != np.uint8 or tiles.ndim != 4 or tiles.shape[1] != 3 or table.shape != (3, 256):
            raise Sa2VAError(
                f"compact tiles are (T, 3, S, S) uint8 with a (3, 256) table, got {tiles.dtype} {tiles.shape} and "
                f"{table.shape}"
            )
        self.tiles = tiles
        self.table = np.ascontiguousarray(table, dtype=np.float32)

    @property
    def shape(self) -> tuple[int, ...]:
        return self.tiles.shape

    @property
    def ndim(self) -> int:
        return 4

    dtype = np.dtype(np.float32)

    def __len__(self) -> int:
        return len(self.tiles)

    def __repr__(self) -> str:
        return f"CompactTiles({self.tiles.shape[0]} uint8 tiles of {self.tiles.shape[-1]}, normalized when batched)"

    def _make_array(self) -> np.ndarray:
        out = np.empty(self.tiles.shape, dtype=np.float32)
        normalize_tiles_into(out, self.tiles, self.table)
        return out


class CompactMasks(_CompactValue):
    """A sample's ``masks``, (n, H, W) uint8, kept as the checked RLEs each mask is the union of
    (``unions[i]``: ``(key, rle)`` pairs, a key naming each RLE once: its region and frame)."""

    __slots__ = ("height", "record", "unions", "width")

    def __init__(self, height: int, width: int, unions: Sequence[Sequence[tuple[Any, dict]]], record: Any = None):
        self.height, self.width, self.record = height, width, record
        self.unions = [list(parts) for parts in unions]

    @classmethod
    def checked(cls, height: int, width: int, unions: Sequence[Sequence[tuple[Any, dict]]], record: Any = None):
        """Every RLE checked here, as decoding it would (errors name the record), so finishing cannot fail."""
        seen = set()
        for parts in unions:
            for key, rle in parts:
                if key not in seen:
                    seen.add(key)
                    masks_codec.segmentation_runs(rle, height, width, record=record)
        return cls(height, width, unions, record)

    @property
    def shape(self) -> tuple[int, int, int]:
        return (len(self.unions), self.height, self.width)

    def __len__(self) -> int:
        return len(self.unions)

    def __repr__(self) -> str:
        return f"CompactMasks({len(self.unions)} masks of {self.height}x{self.width}, decoded when batched)"

    def _make_array(self) -> np.ndarray:
        return masks_codec.decode_unions(self.unions, self.height, self.width, record=self.record)


class Finish:
    """``function(*args)``, called where the batch is unpickled: a worker's batch is finished by the process that
    receives it. (Made only inside a ``DataLoader`` worker, whose every batch is pickled to the main process.)"""

    __slots__ = ("args", "function")

    def __init__(self, function: Callable[..., Any], *args: Any) -> None:
        self.function, self.args = function, args

    def __reduce__(self):
        return self.function, self.args

    def result(self) -> Any:
        """The finished value, here and now (in a worker: what the default samples would have carried)."""
        return self.function(*self.args)

    def _unfinished(self, what: str) -> str:
        return (
            f"{self!r} has no {what}: a batch of compact samples collated in a DataLoader worker is finished "
            f"when the main process receives it; call .result() to finish it in the worker"
        )

    def __getattr__(self, name: str) -> Any:
        raise AttributeError(self._unfinished(repr(name)))

    def __len__(self) -> int:
        raise TypeError(self._unfinished("length"))

    def __getitem__(self, index: Any) -> Any:
        raise TypeError(self._unfinished("items"))

    def __iter__(self):
        raise TypeError(self._unfinished("items"))

    def __repr__(self) -> str:
        return f"Finish({self.function.__name__}: done when the batch reaches the main process)"
