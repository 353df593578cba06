"""Image-processor options, checked the same way by every family's image processor.

transformers' generic image options are honoured (``do_convert_rgb``, ``input_data_format``,
``do_rescale``, ``rescale_factor``, ``do_normalize``, ``image_mean``, ``image_std``) or, where the
recipe fixes their meaning, refused with the reason (``FIXED_OPTIONS``); an unknown option is
refused with a did-you-mean. The checks here are the ones every family shares; each processor adds
its own.
"""

from __future__ import annotations

import numbers
from collections.abc import Iterable, Mapping
from typing import Any

from PIL import Image

from .errors import Sa2VAError, closest, did_you_mean

#: Upper bounds far above any Sa2VA setting (448 / 1024 / 1008 / 12); larger values are mistakes
#: that would ask PIL for gigabytes or make the grid search (cubic in max_tiles) hang.
MAX_SIDE = 4096
MAX_TILES = 64

#: Generic transformers options every family honours: stored like its own, overridable per call.
GENERIC_OPTIONS = (
    "do_convert_rgb",
    "input_data_format",
    "do_rescale",
    "rescale_factor",
    "do_normalize",
    "image_mean",
    "image_std",
)

#: Bookkeeping transformers writes into saved image-processor configs: metadata, not options.
CONFIG_METADATA = ("auto_map", "processor_class")


def pop_config_metadata(kwargs: dict[str, Any]) -> dict[str, Any]:
    """Take transformers' bookkeeping keys (and the class name it saves) out of init ``kwargs``."""
    kwargs.pop("image_processor_type", None)
    return {key: kwargs.pop(key) for key in CONFIG_METADATA if key in kwargs}


#: Generic options whose meaning the recipe fixes: only the value that says what the processor does
#: anyway is accepted (nothing is stored), anything else is refused with the reason. A processor
#: adds its own entries (``do_resize``, ``size`` ...).
FIXED_OPTIONS = {
    "crop_size": ((None,), "Sa2VA does not crop"),
    "do_center_crop": ((None, False), "Sa2VA does not crop"),
    "do_pad": ((None, False), "Sa2VA does not pad"),
    "pad_size": ((None,), "Sa2VA does not pad"),
    "resample": ((None, int(Image.Resampling.BICUBIC)), "the recipe resizes with PIL BICUBIC"),
    "device": ((None, "cpu"), "this image processor computes with numpy and PIL on the CPU"),
    "disable_grouping": ((None, True, False), ""),  # nothing is grouped: either value is honoured
    "return_tensors": ((None,), "it is chosen per call"),
}


def is_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def is_real(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def three_floats(value: Any, name: str) -> list[float]:
    """A mean / std option: one number per RGB channel (a single number is repeated)."""
    values = [value] * 3 if is_real(value) else list(value) if isinstance(value, (list, tuple)) else None
    if values is None or len(values) != 3 or not all(is_real(v) for v in values):
        raise Sa2VAError(f"{name} must be a number or 3 numbers (R, G, B), got {value!r}")
    return [float(v) for v in values]


def check_int(value: Any, name: str, low: int, high: int | None = None) -> None:
    if not is_int(value) or value < low or (high is not None and value > high):
        limit = f"{low}..{high}" if high is not None else f">= {low}"
        raise Sa2VAError(f"{name} must be an int, got {value!r} (allowed: {limit})")


def refuse_unknown_and_fixed(
    overrides: Mapping[str, Any], known: Iterable[str], fixed: Mapping[str, tuple[tuple, str]], who: str
) -> None:
    """An unknown option (with a did-you-mean), or a fixed one set to another meaning, is an error."""
    known = sorted(known)
    unknown = sorted(set(overrides) - set(known))
    if unknown:
        hints = [
            f"{name!r} (did you mean {close!r}?)" if (close := closest(name, known)) else repr(name) for name in unknown
        ]
        raise Sa2VAError(f"unknown {who} option(s): {', '.join(hints)}; known: {known}")
    for name, (accepted, reason) in fixed.items():
        value = getattr(overrides.get(name), "value", overrides.get(name))  # an enum's value
        if name in overrides and value not in accepted:
            raise Sa2VAError(f"{who} does not take {name}={overrides[name]!r}: {reason}")


def check_shared_options(opts: Any, flags: Iterable[str]) -> None:
    """The checks every family's options share (normalized in place): the grounding image, the
    file-size limit, True/False ``flags``, RGB conversion, the input layout, rescaling, and the
    means and stds (three floats each, no zero std where it divides)."""
    check_int(opts.grounding_size, "grounding_size", 1, MAX_SIDE)
    if opts.max_image_pixels is not None:
        check_int(opts.max_image_pixels, "max_image_pixels", 1)
    for name in flags:
        if not isinstance(getattr(opts, name), bool):
            raise Sa2VAError(f"{name} must be True or False, got {getattr(opts, name)!r}")
    if opts.do_convert_rgb is None:
        opts.do_convert_rgb = True
    if not isinstance(opts.do_convert_rgb, bool):
        raise Sa2VAError(f"do_convert_rgb must be True or False, got {opts.do_convert_rgb!r}")
    opts.input_data_format = getattr(opts.input_data_format, "value", opts.input_data_format)  # an enum
    if opts.input_data_format not in (None, "channels_first", "channels_last"):
        raise Sa2VAError(
            f"input_data_format must be 'channels_first', 'channels_last' or None, got {opts.input_data_format!r}"
        )
    if not is_real(opts.rescale_factor):
        raise Sa2VAError(f"rescale_factor must be a number, got {opts.rescale_factor!r}")
    for name in ("image_mean", "image_std", "grounding_mean", "grounding_std"):
        setattr(opts, name, three_floats(getattr(opts, name), name))
    if opts.do_normalize and 0 in opts.image_std:
        raise Sa2VAError(f"image_std must not hold 0 (it divides), got {opts.image_std}")
    if 0 in opts.grounding_std:
        raise Sa2VAError(f"grounding_std must not hold 0 (it divides), got {opts.grounding_std}")


def unknown_option(name: str, known: Iterable[str], what: str) -> str:
    """The message for an unknown option ``name``: the closest known one, and every known one."""
    known = sorted(known)
    return f"unknown {what} {name!r}{did_you_mean(name, known)} (known: {known})"


def check_processor_option_names(
    kwargs: Mapping[str, Any], processor_kwargs: Any, image_processor: Any, refused: Mapping[str, str]
) -> None:
    """Refuse, before transformers merges a processor call's options, what it would drop with only a
    warning: an unknown option (flat or inside ``text_kwargs`` / ``images_kwargs`` / ``videos_kwargs`` /
    ``common_kwargs``), an image option in ``videos_kwargs``, a ``common_kwargs`` entry that is not an
    option of every modality, and the ``refused`` ones (name -> reason).

    ``processor_kwargs``: the processor's ``ProcessingKwargs`` class; the image processor adds its own
    options (its ``valid_kwargs``) to the image ones.
    """
    annotations = processor_kwargs.__annotations__
    text_names = set(annotations["text_kwargs"].__annotations__)
    image_names = set(annotations["images_kwargs"].__annotations__)
    image_names |= set(getattr(image_processor.valid_kwargs, "__annotations__", {}))
    video_names = set(annotations["videos_kwargs"].__annotations__)
    flat_names = {k for k in annotations if not k.endswith("_kwargs")}
    allowed = {
        "text_kwargs": text_names,
        "images_kwargs": image_names,
        "videos_kwargs": video_names,
        # transformers hands common_kwargs to every modality and checks each: only what all take
        "common_kwargs": text_names & image_names & video_names,
    }
    known = text_names | image_names | video_names | flat_names | set(allowed)
    for key, value in kwargs.items():
        if key == "audio_kwargs":
            raise Sa2VAError(f"{key}: Sa2VA takes no audio")
        if key in refused:
            raise Sa2VAError(f"{key}=: {refused[key]}")
        if key not in known:
            raise Sa2VAError(unknown_option(key, known, "Sa2VAProcessor option"))
        if key not in allowed:
            continue
        if not isinstance(value, Mapping):
            raise Sa2VAError(f"{key} must be a dict of options, got {type(value).__name__}")
        for sub in value:
            if sub in refused:
                raise Sa2VAError(f"{key}[{sub!r}]: {refused[sub]}")
            if key == "videos_kwargs" and sub in image_names - video_names:
                raise Sa2VAError(f"{sub!r} in videos_kwargs: video frames take the image options, in images_kwargs")
            if key == "common_kwargs" and sub in (text_names | image_names | video_names) - allowed[key]:
                raise Sa2VAError(
                    f"{sub!r} in common_kwargs: common options go to every modality and {sub!r} is "
                    "not an option of each; pass it flat or in text_kwargs / images_kwargs / videos_kwargs"
                )
            if sub not in allowed[key]:
                raise Sa2VAError(unknown_option(sub, allowed[key], f"option in {key}"))
