"""The two resize backends: PIL's bicubic (exact, the recipe's) and torch's uint8 antialiased bicubic (fast).

* ``"pil"`` (default): ``Image.resize`` with PIL's default filter, BICUBIC -- what upstream calls --
  in the pass order of the Pillow upstream ran (:func:`pil_resize`), so every output is bit-identical
  to the recipe whatever Pillow is installed.
* ``"torch"``: ``F.interpolate(x_uint8, mode="bicubic", antialias=True)`` on a channels-last uint8
  image, the kernel ported from Pillow-SIMD, horizontal pass first as :func:`pil_resize`. It is
  5-8x faster than PIL on one thread; 0.2-0.4% of a photo's values differ from PIL's by 1 grey level
  and a few per million by 2 (its weights have 15-17 bits where PIL's have 22; transformers' fast
  image processors accept the same kind of difference). torch is imported when this backend is used.

:func:`resize` returns the three colour planes of the result, each a row-contiguous (H, W) uint8
array: what the normalization reads and the grounding image stores, so no pixel is transposed.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from PIL import Image

from .errors import Sa2VAError
from .threads import fork_safe_torch

RESIZE_BACKENDS = ("pil", "torch")


def resize_cost(in_w: int, in_h: int, out_w: int, out_h: int) -> float:
    """Relative cost of a separable bicubic resize (multiply-adds of PIL's two passes).

    The horizontal pass reads every source row once per output column with a kernel of
    ``2 * 2 * max(in/out, 1) + 1`` taps; the vertical pass the same per output pixel. Used only
    to start the longest resize first when they run side by side.
    """

    def taps(src: int, dst: int) -> int:
        return 2 * math.ceil(2 * max(src / max(dst, 1), 1.0)) + 1

    return in_h * out_w * taps(in_w, out_w) + out_h * out_w * taps(in_h, out_h)


def check_backend(backend: Any) -> None:
    if backend not in RESIZE_BACKENDS:
        raise Sa2VAError(f"resize_backend must be one of {RESIZE_BACKENDS}, got {backend!r}")


#: What needs torch, by default (the error message names it).
TORCH_RESIZE = "resize_backend='torch' (resize_backend='pil' does not)"


def torch_module(needed_for: str = TORCH_RESIZE) -> Any:
    """torch, made safe for a forked child (:func:`threads.fork_safe_torch`); ``needed_for`` says why in the
    error when it is not installed. Every torch operation of the package takes torch from here."""
    try:  # in a try so transformers' remote-code import check does not demand torch
        import torch
        import torch.nn.functional  # noqa: F401
    except ImportError:
        raise ImportError(f"{needed_for} needs torch: pip install torch") from None
    return fork_safe_torch(torch)


def torch_source(image: Image.Image | np.ndarray, needed_for: str = TORCH_RESIZE) -> Any:
    """An RGB image as the (1, 3, H, W) uint8 channels-last tensor the torch kernel reads (no copy of an array)."""
    torch = torch_module(needed_for)
    arr = np.asarray(image)
    if not arr.flags.c_contiguous:
        arr = np.ascontiguousarray(arr)
    try:  # DLPack carries the read-only flag of np.asarray(PIL image) without torch's non-writable warning
        tensor = torch.from_dlpack(arr)
    except (BufferError, RuntimeError, TypeError):
        tensor = torch.from_numpy(np.array(arr))
    return tensor.permute(2, 0, 1).unsqueeze(0)


def pil_resize(image: Image.Image, width: int, height: int, resample: int = Image.Resampling.BICUBIC) -> Image.Image:
    """``image.resize((width, height), resample)`` as every Pillow up to 12 computes it, on any Pillow.

    A separable resize makes two passes and rounds the first one's result to uint8, so their order
    shows in the pixels. Pillow up to 12 always ran the horizontal pass first; Pillow 13 runs the vertical
    one first where that is less work (the height shrinks while the width grows, or shrinks much more):
    values then differ by up to ~20 grey levels, on about a fifth of random resizes (measured). Upstream
    ran Pillow 11.3 (its ``uv.lock``), and its models were trained on those pixels: so the horizontal
    pass, then the vertical one, as two calls -- bit-identical to one call on Pillow 10 to 12, and no
    slower (each call makes one pass). NEAREST has no intermediate to round: one call.
    """
    if resample != Image.Resampling.NEAREST and width != image.width and height != image.height:
        image = image.resize((width, image.height), resample)
    return image.resize((width, height), resample)


def resize(source: Any, width: int, height: int, backend: str = "pil") -> Sequence[np.ndarray]:
    """``source`` resized to ``width`` x ``height`` by ``backend``: its R, G and B planes, (H, W) uint8 each.

    ``source`` is an RGB PIL image for ``"pil"`` and a :func:`torch_source` tensor for ``"torch"``.
    """
    if backend == "pil":
        resized = pil_resize(source, width, height)  # PIL's default filter for RGB: BICUBIC, as upstream
        return [np.frombuffer(resized.tobytes("raw", band), dtype=np.uint8).reshape(height, width) for band in "RGB"]
    torch = torch_module()
    interpolate = functools.partial(
        torch.nn.functional.interpolate, mode="bicubic", antialias=True, align_corners=False
    )
    out = interpolate(source, size=(height, width))  # horizontal pass first, as pil_resize
    return out[0].contiguous().numpy()  # (3, H, W): torch writes planes already (contiguous() is then free)
