"""Sa2VA's token strings and the text an image, a video or a set of regions becomes.

* the image string ``<img>`` + ``<IMG_CONTEXT>`` x (256 per tile) + ``</img>``; a video is one
  such string per frame (one tile each), joined with ``\\n``;
* the region string for visual prompts,
  ``There are {n} part regions in the picture: region1<vp>...</vp>, region2<vp>...</vp>.\\n``;
* ``<image>`` placeholders replaced by those strings, in order;
* the special tokens every Sa2VA checkpoint adds to its tokenizer.

Plain Python over strings (and a tokenizer for :func:`add_special_tokens`); part of the
processor's remote code.
"""

from __future__ import annotations

import operator
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from .errors import Sa2VAError

IMAGE_PLACEHOLDER = "<image>"
IMG_START_TOKEN = "<img>"
IMG_END_TOKEN = "</img>"
IMG_CONTEXT_TOKEN = "<IMG_CONTEXT>"
VP_START_TOKEN = "<vp>"
VP_END_TOKEN = "</vp>"
SEG_TOKEN = "[SEG]"
PHRASE_START_TOKEN = "<p>"
PHRASE_END_TOKEN = "</p>"

#: Added (as special tokens, in this order) by every upstream Sa2VA training config.
SA2VA_SPECIAL_TOKENS = (SEG_TOKEN, PHRASE_START_TOKEN, PHRASE_END_TOKEN, VP_START_TOKEN, VP_END_TOKEN)
#: Already in the InternVL tokenizers Sa2VA starts from; added only where missing.
IMAGE_SPECIAL_TOKENS = (IMG_START_TOKEN, IMG_END_TOKEN, IMG_CONTEXT_TOKEN)


def image_string(num_tiles: int, tokens_per_tile: int = 256) -> str:
    """``<img>`` + ``<IMG_CONTEXT>`` x (tokens_per_tile * num_tiles) + ``</img>``."""
    return IMG_START_TOKEN + IMG_CONTEXT_TOKEN * (tokens_per_tile * int(num_tiles)) + IMG_END_TOKEN


def video_string(num_frames: int, tokens_per_frame: int = 256) -> str:
    """One single-tile image string per frame, joined with ``\\n``."""
    return "\n".join([image_string(1, tokens_per_frame)] * int(num_frames))


def region_string(region_pixels: Sequence[int]) -> str:
    """``There are {n} part regions in the picture: region1<vp>ctx*k1</vp>, ... .\\n``.

    ``region_pixels[i]`` is the number of grid cells of region i (its ``<IMG_CONTEXT>`` count).
    Empty when there is no region.
    """
    if len(region_pixels) == 0:
        return ""
    parts = [
        f"region{i + 1}{VP_START_TOKEN}{IMG_CONTEXT_TOKEN * int(k)}{VP_END_TOKEN}" for i, k in enumerate(region_pixels)
    ]
    return f"There are {len(parts)} part regions in the picture: " + ", ".join(parts) + ".\n"


def count_placeholders(text: str) -> int:
    return text.count(IMAGE_PLACEHOLDER)


def expand_placeholders(text: str, media_strings: Sequence[str]) -> str:
    """Replace the k-th ``<image>`` with ``media_strings[k]``; the counts must agree."""
    pieces = text.split(IMAGE_PLACEHOLDER)
    if len(pieces) - 1 != len(media_strings):
        raise Sa2VAError(
            f"{len(pieces) - 1} {IMAGE_PLACEHOLDER} placeholder(s) in the text but {len(media_strings)} "
            "image(s)/video(s) for it: put one <image> per image (or per video) where its tokens belong"
        )
    out = [pieces[0]]
    for media, rest in zip(media_strings, pieces[1:]):
        out.append(media)
        out.append(rest)
    return "".join(out)


def add_special_tokens(tokenizer: Any, image_tokens: Sequence[str] = IMAGE_SPECIAL_TOKENS) -> list[str]:
    """Add the Sa2VA special tokens the tokenizer does not already encode as one token each.

    ``[SEG] <p> </p> <vp> </vp>`` come first, in upstream's order (so a plain InternVL
    tokenizer gets the same ids as in upstream training), then any missing image token
    (``image_tokens``: the model family's, InternVL's by default). Returns what was added.
    """
    missing = []
    for token in (*SA2VA_SPECIAL_TOKENS, *image_tokens):
        ids = tokenizer.encode(token, add_special_tokens=False)
        if len(ids) != 1 or tokenizer.convert_ids_to_tokens(ids[0]) != token:
            missing.append(token)
    if missing:
        tokenizer.add_tokens(missing, special_tokens=True)
    return missing


def pad_with_eos(tokenizer: Any, prompts: Sequence[str], text_kwargs: dict[str, Any]) -> dict[str, Any]:
    """``tokenizer(prompts, **text_kwargs)`` padded for a tokenizer without a pad token (InternLM2, Phi-3)
    with its EOS id, as upstream generation does; the attention mask tells padding apart."""
    opts = dict(text_kwargs)
    padding = opts.pop("padding")
    side = opts.pop("padding_side", None) or getattr(tokenizer, "padding_side", "right")
    multiple = opts.pop("pad_to_multiple_of", None)
    want = opts.get("max_length") if padding == "max_length" else None
    enc = tokenizer(list(prompts), **opts)
    pad_id = tokenizer.eos_token_id if tokenizer.eos_token_id is not None else 0
    length = max(want or 0, max(len(ids) for ids in enc["input_ids"]))
    if multiple:
        length = -(-length // multiple) * multiple
    fills = {"input_ids": pad_id, "offset_mapping": (0, 0)}
    out: dict[str, Any] = {}
    for key, rows in enc.items():
        fill = fills.get(key, 0)
        padded = []
        for row in rows:
            pad = [fill] * (length - len(row))
            padded.append(pad + list(row) if side == "left" else list(row) + pad)
        out[key] = padded
    return out


@dataclass
class MediaTokens:
    """What one image or video of a call puts in the text.

    ``string``: its image (or video) string; ``regions``: the grid cells of each visual-prompt
    region (``None`` without visual prompts); ``dropped``: indices of regions removed by
    ``empty_region="drop"``; ``context_tokens``: how many ``<IMG_CONTEXT>`` it needs in all.
    """

    string: str
    context_tokens: int
    regions: list[int] | None = None
    dropped: list[int] = field(default_factory=list)


def assign_media(
    texts: Sequence[str], media: Sequence[MediaTokens], per_sample: Sequence[int] | None = None
) -> list[list[MediaTokens]]:
    """Split ``media`` (in placeholder order, across the batch) into one list per text.

    ``per_sample``: how many images each text was given (per-sample image lists); each text must
    then hold that many placeholders.
    """
    counts = [count_placeholders(t) for t in texts]
    if per_sample is not None:
        if len(per_sample) != len(texts):
            raise Sa2VAError(f"images has {len(per_sample)} per-sample list(s) for {len(texts)} text(s)")
        for i, (have, given) in enumerate(zip(counts, per_sample)):
            if have != given:
                raise Sa2VAError(
                    f"sample {i}: its text holds {have} {IMAGE_PLACEHOLDER} placeholder(s) but {given} image(s) "
                    f"were given for it: put one {IMAGE_PLACEHOLDER} per image where its tokens belong"
                )
    if sum(counts) != len(media):
        detail = ", ".join(str(c) for c in counts)
        raise Sa2VAError(
            f"the text holds {sum(counts)} {IMAGE_PLACEHOLDER} placeholder(s) ({detail} per sample) but "
            f"{len(media)} image(s)/video(s) were given: put one {IMAGE_PLACEHOLDER} per image (or per video) "
            "where its tokens belong"
        )
    out, start = [], 0
    for c in counts:
        out.append(list(media[start : start + c]))
        start += c
    return out


def check_context_tokens(
    input_ids: Any,
    expected: Sequence[int],
    context_token_id: int,
    max_length: int | None = None,
    context_token: str = IMG_CONTEXT_TOKEN,
) -> None:
    """Every sample must hold exactly its images' and regions' ``<IMG_CONTEXT>`` count (``context_token``:
    the model family's): the model fills them in order, and one too many or too few shifts every
    embedding after it."""
    rows = input_ids.tolist() if hasattr(input_ids, "tolist") else input_ids
    for i, (ids, want) in enumerate(zip(rows, expected)):
        got = operator.countOf(ids, context_token_id)  # in C: a sample holds thousands of ids
        if got != want:
            hint = (
                f"; the sequence was cut at max_length={max_length}, raise it"
                if max_length is not None and len(ids) >= max_length
                else f"; does the tokenizer encode {context_token} as one token, and was the text free of it?"
            )
            raise Sa2VAError(f"sample {i}: {got} {context_token} tokens, but its images and regions need {want}{hint}")
