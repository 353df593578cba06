"""``Sa2VAVideoProcessor``: videos (their frames) + per-frame masks -> what the Sa2VA model eats.

Upstream ``predict_forward`` (v1 and v2 ``hf/models/modeling_sa2va_chat.py``) takes a video as a
list of frames and, for each frame:

* resizes it to 448x448 (torchvision ``Resize`` on a PIL image = PIL BICUBIC), then ``ToTensor`` +
  ``Normalize``: InternVL's one-tile image recipe, so ``pixel_values`` gets one row per frame,
  bit-identical to ``Sa2VAImageProcessor(max_tiles=1)`` on that frame;
* resizes it to 1024x1024 for SAM2: one ``g_pixel_values`` row per frame (:mod:`grounding`);
* writes one ``<img>`` + ``<IMG_CONTEXT>`` x 256 + ``</img>`` per frame in the text, joined with
  ``\\n`` (``((s + '\\n') * n).strip()``), in place of the one ``<image>`` of the prompt.

``predict_forward`` gives only the first 5 frames to the language model (``if frame_idx < 5``) but
every frame to SAM2; the training datasets give every (sampled) frame to both. ``max_llm_frames``
chooses: ``None`` (default, every frame, as training) or ``5`` (``predict_forward``). Frames past it
are still in ``g_pixel_values`` and ``masks``, not in ``pixel_values`` nor in the text.

The other families (:mod:`families`): every frame is an image of the family's image processor, as
``mode`` makes one. Qwen2.5-VL / Qwen3-VL in training (v2's ``datasets/base.py``:
``_process_multiple_images``, ``_create_token_string``, ``_expand_video_tokens``): each frame resized
within the per-frame limits ``frame_min_pixels`` / ``frame_max_pixels`` (128·28² / 512·28²), each
frame's ``<|vision_start|>`` + prod(grid)/4 ``<|image_pad|>`` + ``<|vision_end|>`` joined with ``\n``;
in inference (``predict_forward``, with ``max_llm_frames=5``) each frame an image block as an image
is one (``qwen_vl_utils``' resize, then the single-image limits), the frame strings with nothing
between them. ``pixel_values`` are the frames' flat patches and ``image_grid_thw`` one row per frame.
LLaVA-1.5 (later upstream's ``Sa2VAChatModelLlava`` and base.py alike): each frame one 336x336
image, 576 ``<image>`` per frame, joined with ``\n``.

It takes the image processor's options for the frames. transformers' ``BaseVideoProcessor`` needs
torchvision, so this is a plain class in the same style (options declared once, a ``BatchFeature``
out). It travels as remote code with the processor: relative imports of its siblings, numpy / PIL /
transformers; PyAV only where a video file is decoded (:mod:`video_io`).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypedDict

import numpy as np
from transformers.image_processing_utils import BatchFeature

from .errors import Sa2VAError, ShapeMismatchError
from .families import check_mode
from .grounding import SAM2_GROUNDING, GroundingTransform
from .image_processing_sa2va import Sa2VAImageProcessor, Sa2VAImageProcessorKwargs, convert_tensors
from .inputs import as_mask_stack, as_numpy, is_array_like, to_rgb_image
from .threads import resolve_num_threads
from .video_io import read_frames, read_record_frames

#: A path with one of these extensions is a video file; any other path is an image file (a frame).
#: ``{"video": path}`` names a video file whatever its extension.
VIDEO_EXTENSIONS = frozenset(
    (".mp4", ".mkv", ".webm", ".avi", ".mov", ".m4v", ".mpg", ".mpeg", ".flv", ".wmv", ".ts", ".3gp", ".ogv")
)

#: transformers' frame-sampling options: Sa2VA's processor samples nothing, the caller picks the frames.
REFUSED_OPTIONS = dict.fromkeys(
    ("fps", "num_frames", "do_sample_frames", "video_metadata"),
    "Sa2VA's processor samples no frames: pass the frames to use (a list of frames, or "
    "{'video': path, 'frame_indices': [...]}); predict_forward's 'first 5 frames to the language model' "
    "is max_llm_frames=5",
)


class Sa2VAVideoProcessorKwargs(TypedDict, total=False):
    """Options of the video path itself; the frames take the image processor's options."""

    max_llm_frames: int | None
    return_tensors: Any


#: The options only the video path takes (the rest of a call's options are the image processor's).
VIDEO_OPTION_NAMES = ("max_llm_frames",)

#: What the frames that reach the language model give, per family: InternVL tiles (``pixel_values``,
#: ``num_patches``, ``vp_overall_mask``), Qwen-VL patches (``pixel_values``, ``image_grid_thw``), LLaVA images.
LLM_FRAME_KEYS = ("pixel_values", "num_patches", "vp_overall_mask", "image_grid_thw")


class Sa2VAVideoProcessor:
    r"""Video processor for Sa2VA: every frame one language-model image, every frame a SAM2 image.

    Args:
        image_processor: the family's image processor, whose options the frames take
            (``image_size``, ``grounding_size``, ``normalize_grounding``, ``image_mean``, ...).
            InternVL (:class:`Sa2VAImageProcessor`): its tiling options (``min_tiles``,
            ``max_tiles``, ``use_thumbnail``) and visual-prompt options do not apply: a frame is
            always one ``image_size`` tile, as upstream. Qwen-VL: in training frames are resized within
            ``frame_min_pixels`` / ``frame_max_pixels``, not ``min_pixels`` / ``max_pixels``.
        max_llm_frames: how many frames of each video (the first) reach the language model:
            ``None`` = every frame (the training datasets), ``5`` = ``predict_forward``. Every frame
            reaches SAM2 either way.
        mode: ``"inference"`` (``predict_forward``) or ``"training"``, as :class:`Sa2VAProcessor`'s
            (the same for InternVL and LLaVA).

    A call takes one video or a list of them (or one list per sample, as ``apply_chat_template``
    passes them). A video is a list of frames (PIL images, uint8 arrays / tensors in any layout
    the image processor reads, image file paths), an ``(F, H, W, C)`` array or tensor, a video file
    (a path ending in one of :data:`VIDEO_EXTENSIONS`, or ``{"path", "bytes"}``: every frame), or a
    dict with ``video`` (a video file) and ``frame_indices`` (the frames to read; every frame when
    absent) -- a record of a ``sa2va_hf`` video source is one, and a record with stored ``frames``
    works too. Video files are decoded by :mod:`video_io` (PyAV).

    Returns a ``BatchFeature``, for B videos of F_i frames of which L_i reach the language model:
    ``pixel_values`` (sum L_i, 3, S, S) float32 · ``num_patches`` (sum L_i,) ones · ``vp_overall_mask``
    (sum L_i,) False · ``g_pixel_values`` (sum F_i, 3, G, G) · ``num_frames`` (B,) = F_i ·
    ``num_llm_frames`` (B,) = L_i · ``masks``: list of B (n_obj * F_i, H_i, W_i) uint8, object-major
    (object 0's frames, then object 1's, ...), as upstream's video datasets stack them. Qwen-VL
    gives ``pixel_values`` (sum of the frames' patches, patch dim) and ``image_grid_thw`` (sum L_i, 3)
    instead of the first three; LLaVA ``pixel_values`` (sum L_i, 3, 336, 336) only.
    """

    valid_kwargs = Sa2VAVideoProcessorKwargs

    max_llm_frames = None

    def __init__(self, image_processor: Any = None, max_llm_frames: int | None = None, mode: str = "inference") -> None:
        self.image_processor = image_processor if image_processor is not None else Sa2VAImageProcessor()
        self.max_llm_frames = check_max_llm_frames(max_llm_frames)
        self.mode = check_mode(mode)

    @property
    def model_input_names(self) -> list[str]:
        llm = [k for k in LLM_FRAME_KEYS if k in self.image_processor.model_input_names]
        return [*llm, "g_pixel_values", "num_frames", "num_llm_frames", "masks"]

    def frame_options(self, **options: Any) -> dict[str, Any]:
        """The image-processor options one frame's language-model image is made with in this mode (the
        family's: InternVL one tile; Qwen-VL the frame limits in training, ``predict_forward``'s image
        rules in inference); no grounding image: it is made here, for every frame."""
        mode_options = self.image_processor.mode_options(self.mode, video=True, **options)
        return {**options, **mode_options, "return_grounding": False}

    def __call__(self, videos, masks=None, return_tensors=None, **options: Any) -> BatchFeature:
        return self.preprocess(videos, masks=masks, return_tensors=return_tensors, **options)

    def preprocess(self, videos, masks=None, return_tensors=None, **options: Any) -> BatchFeature:
        """Process one video or a batch (see the class docstring for the inputs and the layout).

        ``masks``: per video, an ``(n_obj, F, H, W)`` array or a list over objects of one mask per
        frame (an (H, W) array, an RLE dict or a polygon list; ``None`` for "no mask in this
        frame"); for a batch, a list with one such entry per video.
        """
        _check_option_names(options, self.image_processor)
        max_llm = check_max_llm_frames(options.pop("max_llm_frames", self.max_llm_frames))
        opts = self.image_processor.resolve_options(**options)  # every frame option checked once
        tile_options = self.frame_options(**options)
        grounding = GroundingTransform(opts.grounding_size, SAM2_GROUNDING.mean, SAM2_GROUNDING.std)

        video_list, _, batched = video_batch(videos)
        mask_list = _per_video(masks, batched, len(video_list))
        # num_threads=None (the default): the cores the call is given (sa2va_hf.threads); families without
        # the option (Qwen, LLaVA) run one thread
        threads = resolve_num_threads(opts.num_threads) if hasattr(opts, "num_threads") else 1
        backend = getattr(opts, "resize_backend", "pil")
        # InternVL's image processor makes a frame's grounding image itself, beside its tile, from the one decoded
        # frame (its threads run the two resizes side by side); the other families' make none: made here
        joint = opts.return_grounding and isinstance(self.image_processor, Sa2VAImageProcessor)
        if joint:
            tile_options.update(return_grounding=True, grounding_mean=list(grounding.mean),
                                grounding_std=list(grounding.std), num_threads=threads)  # fmt: skip
        pool = _thread_pool() if threads > 1 and opts.return_grounding and not joint else None
        parts: dict[str, list] = {}  # per-video arrays of the frames that reach the language model
        grounding_parts: list[np.ndarray] = []  # per video, (frames, 3, G, G): every frame
        num_frames, num_llm, gt_masks = [], [], []
        for v, video in enumerate(video_list):
            frames = load_video(video, v, opts)
            n_llm = len(frames) if max_llm is None else min(max_llm, len(frames))
            rest = frames[n_llm:] if joint else frames  # the frames whose grounding image is made here
            made: Future | None = None
            if opts.return_grounding and rest:
                make = functools.partial(_grounding_images, grounding, rest, opts.normalize_grounding, backend)
                made = pool.submit(make) if pool is not None else _done(make())  # with a pool: beside the tiles
            tiles = self.image_processor(frames[:n_llm], **tile_options)
            for key in LLM_FRAME_KEYS:
                if key in tiles:
                    parts.setdefault(key, []).append(tiles[key])
            if opts.return_grounding:
                video_grounding = [tiles["g_pixel_values"]] if joint else []
                if made is not None:
                    video_grounding.append(np.stack(made.result()))
                grounding_parts.append(video_grounding[0] if len(video_grounding) == 1 else np.concatenate(video_grounding))
            num_frames.append(len(frames))
            num_llm.append(n_llm)
            if masks is not None:
                w, h = frames[0].size
                gt_masks.append(video_masks(mask_list[v], len(frames), h, w, f"masks of video {v}"))

        # one copy into each output array (a video's frames are large: no intermediate stack)
        data: dict[str, Any] = {key: vals[0] if len(vals) == 1 else np.concatenate(vals) for key, vals in parts.items()}
        if opts.return_grounding:
            data["g_pixel_values"] = grounding_parts[0] if len(grounding_parts) == 1 else np.concatenate(grounding_parts)
        data["num_frames"] = np.asarray(num_frames, dtype=np.int64)
        data["num_llm_frames"] = np.asarray(num_llm, dtype=np.int64)
        if masks is not None:
            data["masks"] = gt_masks
        return BatchFeature(data=convert_tensors(data, return_tensors))


def _check_option_names(options: Mapping[str, Any], image_processor: Any) -> None:
    image_options = getattr(image_processor, "valid_kwargs", Sa2VAImageProcessorKwargs).__annotations__
    known = set(image_options) | set(VIDEO_OPTION_NAMES)
    for name in options:
        if name in REFUSED_OPTIONS:
            raise Sa2VAError(f"{name}=: {REFUSED_OPTIONS[name]}")
        if name not in known:
            raise Sa2VAError(
                f"unknown Sa2VAVideoProcessor option {name!r}: frames take the image processor's options "
                f"plus {list(VIDEO_OPTION_NAMES)} (known: {sorted(known)})"
            )


def check_max_llm_frames(value: Any) -> int | None:
    if value is None:
        return None
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
        raise Sa2VAError(f"max_llm_frames must be None (every frame) or an int >= 1, got {value!r}")
    return int(value)


def _grounding_images(grounding: GroundingTransform, frames: list, normalized: bool, backend: str) -> list[np.ndarray]:
    return [grounding(frame, normalized, backend) for frame in frames]


def _done(result: Any) -> Future:
    future: Future = Future()
    future.set_result(result)
    return future


@functools.lru_cache(maxsize=1)
def _thread_pool() -> ThreadPoolExecutor:
    # One worker: the grounding resizes (the larger half of the work) run beside the tiles.
    return ThreadPoolExecutor(max_workers=1, thread_name_prefix="sa2va-video-grounding")


# --------------------------------------------------------------------------- inputs


def _is_video_source(x: Any) -> bool:
    """A video file (a path with a video extension, encoded bytes, ``{"path", "bytes"}``) or a record-like dict."""
    if isinstance(x, (str, os.PathLike)):
        return os.path.splitext(os.fspath(x))[1].lower() in VIDEO_EXTENSIONS
    return isinstance(x, (bytes, bytearray, memoryview, Mapping))


def _is_frame(x: Any) -> bool:
    if isinstance(x, (str, os.PathLike)):
        return not _is_video_source(x)
    if hasattr(x, "getpixel"):  # a PIL image
        return True
    return is_array_like(x) and np.ndim(x) in (2, 3)


def is_video(x: Any) -> bool:
    """One video: a video file, an (F, H, W[, C]) array, or a list of frames."""
    if _is_video_source(x):
        return True
    if is_array_like(x):
        return np.ndim(x) == 4
    return isinstance(x, (list, tuple)) and all(_is_frame(f) for f in x)


def video_batch(videos: Any) -> tuple[list[Any], list[int] | None, bool]:
    """(flat list of videos, videos per sample for per-sample lists or None, whether a batch was given).

    One video, a list of videos, a ``(B, F, H, W, C)`` array, or one list of videos per sample
    (transformers' nested layout, as ``apply_chat_template`` passes it).
    """
    if is_video(videos):
        if isinstance(videos, (list, tuple)) and not videos:
            raise Sa2VAError("videos is an empty list; pass videos=None for text only")
        return [videos], None, False
    if is_array_like(videos):
        if np.ndim(videos) == 5:
            return list(videos), None, True
        raise ShapeMismatchError(
            f"a video array must be (F, H, W, C) or a batch (B, F, H, W, C), got shape {tuple(np.shape(videos))}"
        )
    if isinstance(videos, (list, tuple)) and videos:
        if all(is_video(v) for v in videos):
            return list(videos), None, True
        if all(isinstance(s, (list, tuple)) and all(is_video(v) for v in s) for s in videos):
            flat = [v for sample in videos for v in sample]
            if not flat:
                raise Sa2VAError("videos holds no video (every per-sample list is empty); pass videos=None instead")
            return flat, [len(sample) for sample in videos], True
    raise Sa2VAError(
        "videos must be a video (a list of frames, an (F, H, W, C) array, a video file path, or "
        "{'video': path, 'frame_indices': [...]}), a list of videos, or one list of videos per sample; "
        f"got {_describe(videos)}"
    )


def _describe(x: Any) -> str:
    if isinstance(x, (list, tuple)):
        inner = ", ".join(sorted({type(v).__name__ for v in x})) or "nothing"
        return f"a {type(x).__name__} of {len(x)} ({inner})"
    if isinstance(x, (str, os.PathLike)):
        return f"the path {os.fspath(x)!r} (an image file, not a video: give a list of frames)"
    return type(x).__name__


def load_video(video: Any, v: int, opts: Any) -> list:
    """The frames of one video as RGB PIL images of one size (``opts``: the image options of the call)."""
    if _is_video_source(video):
        if isinstance(video, Mapping) and ("video" in video or "frames" in video):
            frames = read_record_frames(video, max_pixels=opts.max_image_pixels)
        else:
            frames = read_frames(video, max_pixels=opts.max_image_pixels)
        what = f"video {v}" + (f" (record {video['id']!r})" if isinstance(video, Mapping) and "id" in video else "")
    else:
        frames = list(video)  # torch tensors stay tensors: their frames are read channels-first
        what = f"video {v}"
    if not frames:
        raise Sa2VAError(f"{what} has no frames")
    rgb = [
        to_rgb_image(
            frame, opts.max_image_pixels, input_data_format=opts.input_data_format,
            do_convert_rgb=opts.do_convert_rgb, what=f"frame {k} of {what}",
        )
        for k, frame in enumerate(frames)
    ]  # fmt: skip
    first = rgb[0].size
    for k, im in enumerate(rgb):
        im.load()  # decode a lazily opened file now, before two threads may read it (num_threads=2)
        if im.size != first:
            raise ShapeMismatchError(
                f"{what}: frames differ in size: frame 0 is {first[0]}x{first[1]} (W x H) but frame {k} is "
                f"{im.size[0]}x{im.size[1]}; a video's frames share one size"
            )
    if isinstance(video, Mapping) and isinstance(video.get("height"), int) and isinstance(video.get("width"), int):
        if (video["height"], video["width"]) != (first[1], first[0]):
            raise ShapeMismatchError(
                f"{what}: the record says {video['height']}x{video['width']} (H x W) but its frames are "
                f"{first[1]}x{first[0]}"
            )
    return rgb


def _per_video(masks: Any, batched: bool, n: int) -> list[Any]:
    if masks is None:
        return [None] * n
    if not batched:
        return [masks]
    if not isinstance(masks, (list, tuple)) or len(masks) != n:
        got = len(masks) if isinstance(masks, (list, tuple)) else type(masks).__name__
        raise ShapeMismatchError(f"masks must be a list with one entry per video ({n} videos), got {got}")
    return list(masks)


def video_masks(value: Any, n_frames: int, h: int, w: int, what: str) -> np.ndarray:
    """(n_obj, F, H, W) array or [obj][frame] masks (None = empty) -> (n_obj * F, H, W) uint8, object-major."""
    if value is None:
        return np.zeros((0, h, w), dtype=np.uint8)
    if is_array_like(value):
        arr = as_numpy(value)
        if arr.ndim != 4 or arr.shape[1:] != (n_frames, h, w):
            raise ShapeMismatchError(
                f"{what}: expected (n_obj, {n_frames}, {h}, {w}) = (objects, frames, H, W), got {arr.shape}"
            )
        return (arr != 0).astype(np.uint8).reshape(-1, h, w)
    if not isinstance(value, (list, tuple)):
        raise ShapeMismatchError(
            f"{what}: expected an (n_obj, {n_frames}, {h}, {w}) array or a list over objects of per-frame masks, "
            f"got {type(value).__name__}"
        )
    out = []
    for o, per_frame in enumerate(value):
        if not isinstance(per_frame, (list, tuple)) and not (is_array_like(per_frame) and np.ndim(per_frame) == 3):
            raise ShapeMismatchError(
                f"{what}[{o}]: expected one mask per frame ({n_frames}), got {type(per_frame).__name__}"
            )
        if len(per_frame) != n_frames:
            raise ShapeMismatchError(f"{what}[{o}]: {len(per_frame)} masks for {n_frames} frames")
        for f, m in enumerate(per_frame):
            if m is None:
                out.append(np.zeros((h, w), dtype=np.uint8))
            else:
                ctx = f"{what}[{o}][{f}]"
                one = as_mask_stack(m if is_array_like(m) else [m], h, w, ctx)
                if len(one) != 1:
                    raise ShapeMismatchError(f"{ctx}: expected one (H, W) mask, got shape {tuple(np.shape(m))}")
                out.append(one[0])
    return np.stack(out) if out else np.zeros((0, h, w), dtype=np.uint8)


__all__ = [
    "Sa2VAVideoProcessor",
    "Sa2VAVideoProcessorKwargs",
    "VIDEO_EXTENSIONS",
    "VIDEO_OPTION_NAMES",
    "check_max_llm_frames",
    "is_video",
    "load_video",
    "video_batch",
    "video_masks",
]
