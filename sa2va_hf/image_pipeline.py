"""``pixel_values`` and ``g_pixel_values`` of a list of images: decoded once, resized side by side, written in place.

Per image the recipe needs one decode and three resizes of the decoded RGB image -- the tile
canvas (cols*448 x rows*448, cut into tiles), the 448x448 thumbnail and the grounding image --
then the tiles' ``x/255``, ``(x - mean)/std``. Here:

* the output arrays of the whole call are allocated once, from the images' sizes (a file's
  header, a PIL image's ``size``), and every step writes its part of them: tiles are read out
  of the resized canvas as views, normalized by table lookup straight into ``pixel_values``,
  and the grounding image's planes land in ``g_pixel_values`` -- nothing is converted twice;
* each image is decoded once, on the calling thread: a file through :func:`~.image_io.open_image`
  (an RGB file is not copied), a lazily opened PIL image read under a lock
  (:func:`~.inputs.load_image`), so no two threads ever read one file;
* with ``num_threads`` > 1 (see :mod:`.threads`) the three resizes of an image, each followed by
  the normalization of what it made, run on a thread pool, longest first (PIL and torch release
  the GIL while resizing), while the calling thread decodes the next image of a batch and works
  out the visual prompts; with 1 they run in order on the calling thread. Outputs are identical.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import FIRST_EXCEPTION, Future, wait
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image

from .errors import Sa2VAError, ShapeMismatchError
from .grounding import GroundingTransform
from .image_io import image_file_size, open_image
from .inputs import load_image, to_rgb_image
from .resize import resize, resize_cost, torch_source
from .threads import resolve_num_threads, thread_pool
from .tiling import choose_grid, normalization_table, normalize_planes_into, planes_into

#: Relative cost of normalizing one output pixel, in the units of :func:`~.resize.resize_cost`.
_NORMALIZE_COST = 4.5
#: torch's uint8 kernel against PIL's, for ordering the tasks only.
_TORCH_SPEEDUP = 5.0


@dataclass
class _Item:
    """One image of the call: what was given, its size, and where its tiles go."""

    given: Any  # a path, a PIL image (maybe not read yet), or an RGB PIL image made from an array
    width: int
    height: int
    cols: int
    rows: int
    first_tile: int
    thumbnail: bool

    @property
    def tiles(self) -> int:
        return self.cols * self.rows + self.thumbnail


def _size_of(image: Any, opts: Any, what: str) -> tuple[Any, int, int]:
    """(what to decode later, width, height): only a file's header is read here."""
    if isinstance(image, (str, os.PathLike)):
        w, h = image_file_size(image, opts.max_image_pixels)
    elif isinstance(image, Image.Image):
        w, h = image.size
        if image.mode != "RGB" and not opts.do_convert_rgb:
            raise Sa2VAError(
                f"{what} is a {image.mode!r} image and do_convert_rgb=False; give RGB images or convert them"
            )
    else:  # an array or tensor: made an RGB PIL image now (cheap next to the resizes)
        image = to_rgb_image(
            image, opts.max_image_pixels, input_data_format=opts.input_data_format,
            do_convert_rgb=opts.do_convert_rgb, what=what,
        )  # fmt: skip
        w, h = image.size
    if w == 0 or h == 0:
        raise ShapeMismatchError(f"{what} is {w}x{h} pixels (W x H); an image needs at least one")
    return image, w, h


class ImagePixels:
    """The pixel outputs of one call: plan them (:meth:`__init__`), :meth:`start`, then :meth:`finish`.

    Between ``start`` and ``finish`` the calling thread is free (the visual prompts are worked out
    there while the pool resizes); ``sizes`` is known from the start.
    """

    def __init__(self, images: list[Any], opts: Any, grounding: GroundingTransform | None) -> None:
        self.opts = opts
        self.grounding = grounding
        self.backend = opts.resize_backend
        self.items: list[_Item] = []
        first = 0
        for i, image in enumerate(images):
            given, w, h = _size_of(image, opts, f"image {i}")
            cols, rows = choose_grid(w, h, opts.min_tiles, opts.max_tiles, opts.image_size)
            item = _Item(given, w, h, cols, rows, first, opts.use_thumbnail and cols * rows > 1)
            self.items.append(item)
            first += item.tiles
        s = opts.image_size
        self.pixel_values = np.empty((first, 3, s, s), dtype=np.float32 if opts.normalize_tiles else np.uint8)
        self.num_patches = np.asarray([item.tiles for item in self.items], dtype=np.int64)
        self.g_pixel_values = None
        if grounding is not None:
            g = grounding.size
            dtype = np.float32 if opts.normalize_grounding else np.uint8
            self.g_pixel_values = np.empty((len(self.items), 3, g, g), dtype=dtype)
        self.table = normalization_table(
            opts.image_mean, opts.image_std, opts.do_rescale, opts.rescale_factor, opts.do_normalize
        )
        self.num_threads = resolve_num_threads(opts.num_threads)
        self._futures: list[Future] = []

    @property
    def sizes(self) -> list[tuple[int, int]]:
        """(width, height) of every image."""
        return [(item.width, item.height) for item in self.items]

    # -- the work of one image

    def _decode(self, index: int) -> Any:
        item = self.items[index]
        what = f"image {index}"
        if isinstance(item.given, (str, os.PathLike)):
            rgb = open_image(item.given, self.opts.max_image_pixels)
        else:
            rgb = to_rgb_image(load_image(item.given, what), do_convert_rgb=self.opts.do_convert_rgb, what=what)
        if rgb.size != (item.width, item.height):
            raise ShapeMismatchError(
                f"{what} decoded to {rgb.width}x{rgb.height} pixels, but its header said {item.width}x{item.height}"
            )
        return torch_source(rgb) if self.backend == "torch" else rgb

    def _tasks(self, index: int, source: Any) -> list[tuple[float, Callable[[], None]]]:
        """(estimated cost, task) of each resize of image ``index``; each task writes its outputs."""
        item, opts, backend = self.items[index], self.opts, self.backend
        s, w, h = opts.image_size, item.width, item.height
        n = item.cols * item.rows
        scale = 1 / _TORCH_SPEEDUP if backend == "torch" else 1.0
        out = self.pixel_values[item.first_tile : item.first_tile + item.tiles]

        write = normalize_planes_into if opts.normalize_tiles else planes_into

        def canvas() -> None:
            planes = resize(source, s * item.cols, s * item.rows, backend)
            write(out[:n], planes, self.table, item.rows, item.cols)

        def thumbnail() -> None:
            write(out[n:], resize(source, s, s, backend), self.table)

        def grounded() -> None:
            g = self.grounding
            planes = resize(source, g.size, g.size, backend)
            target = self.g_pixel_values[index]
            if opts.normalize_grounding:
                normalize_planes_into(target[None], planes, normalization_table(g.mean, g.std))
            else:
                for c in range(3):
                    target[c] = planes[c]

        tasks = [(resize_cost(w, h, s * item.cols, s * item.rows) * scale + _NORMALIZE_COST * n * s * s, canvas)]
        if item.thumbnail:
            tasks.append((resize_cost(w, h, s, s) * scale + _NORMALIZE_COST * s * s, thumbnail))
        if self.grounding is not None:
            g = self.grounding.size
            tasks.append((resize_cost(w, h, g, g) * scale, grounded))
        return sorted(tasks, key=lambda t: -t[0])

    # -- running it

    def start(self) -> None:
        """With a pool: decode each image here and hand its resizes to the pool (longest first)."""
        if self.num_threads == 1:
            return
        pool = thread_pool(self.num_threads)
        # Decoded images wait in memory until their resizes are done: keep a few in flight, not a batch.
        in_flight = 2 * self.num_threads
        per_image: list[list[Future]] = []
        try:
            for i in range(len(self.items)):
                if i >= in_flight:
                    wait(per_image[i - in_flight])
                source = self._decode(i)
                futures = [pool.submit(task) for _, task in self._tasks(i, source)]
                per_image.append(futures)
                self._futures.extend(futures)
                del source
        except BaseException:
            self.cancel()
            raise

    def finish(self) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """(pixel_values, num_patches, g_pixel_values or None), once every image is done."""
        if self.num_threads == 1:
            for i in range(len(self.items)):
                for _, task in self._tasks(i, self._decode(i)):
                    task()
        else:
            done, pending = wait(self._futures, return_when=FIRST_EXCEPTION)
            failed = [f for f in self._futures if f in done and f.exception() is not None]
            if failed:
                self.cancel()
                raise failed[0].exception()
        return self.pixel_values, self.num_patches, self.g_pixel_values

    def cancel(self) -> None:
        """Cancel what has not started and wait for what has, so nothing writes after the call ends."""
        for f in self._futures:
            f.cancel()
        wait(self._futures)
