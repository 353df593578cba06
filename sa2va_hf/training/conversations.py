"""Training conversations: messages -> turns -> ``input_ids`` + ``labels``, as upstream builds them.

Reproduces what the upstream training code (xtuner's ``template_map_fn`` + Sa2VA's
``video_lisa_encode_fn``, and the RefCOCO dataset's own ``get_inputid_labels``) produces from a
conversation, with the chat template strings of :mod:`sa2va_hf.chat_templates`.

The entry point is :func:`encode_conversation`: a processor + images + a conversation -> a
training sample. The source-specific layouts of upstream's dataset classes live here, not in the
processor: ``osprey`` (angle brackets stripped, the region string in the first turn, the LIMIT
suffix) and ``refcoco`` (upstream v1's forced instruction, no separator).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from transformers.image_processing_utils import BatchFeature

from ..chat_templates import BOT_NAME, ChatTemplate, get_template
from ..errors import Sa2VAError
from ..image_processing_sa2va import convert_tensors
from ..tokens import (
    IMAGE_PLACEHOLDER,
    IMG_CONTEXT_TOKEN,
    MediaTokens,
    assign_media,
    check_context_tokens,
    count_placeholders,
    expand_placeholders,
    region_string,
)

IGNORE_INDEX = -100

#: Upstream v1 ``ReferSegmDataset`` (arch ``intern_vl``) overrides the template's INSTRUCTION
#: with this one, whatever the configured template (note: no ``\\n`` after ``<|end|>``).
REFCOCO_INSTRUCTION = "<|user|>\n{input}<|end|><|assistant|>\n"

CONVERSATION_STYLES = ("llava", "plain", "osprey", "refcoco")


def strip_angle_brackets(text: str) -> str:
    """Upstream Osprey removes every ``<`` and ``>`` from its texts (``<region1>`` -> ``region1``)."""
    return text.replace("<", "").replace(">", "")


def insert_region_strings(text: str, region_strings: Sequence[str]) -> str:
    """Put the k-th region string right after the k-th ``<image>``, on its own line.

    ``<image>`` followed by one optional ``\\n`` becomes ``<image>\\n`` + region string, so
    ``<image>\\nQ`` and ``<image>Q`` both give ``<image>\\nThere are ... .\\nQ`` -- the Osprey
    training prompt (used for training turns). Upstream's ``predict_forward`` absorbs nothing
    (``<image>\\nQ`` gets a blank line before ``Q``); the processor's inference path does the
    same, not this. An empty region string leaves its placeholder as it is.
    """
    pieces = text.split(IMAGE_PLACEHOLDER)
    if len(pieces) - 1 != len(region_strings):
        raise Sa2VAError(
            f"{len(pieces) - 1} {IMAGE_PLACEHOLDER} placeholder(s) in the text but {len(region_strings)} image(s)"
        )
    out = [pieces[0]]
    for region, rest in zip(region_strings, pieces[1:]):
        out.append(IMAGE_PLACEHOLDER)
        if region:
            out.append("\n" + region)
            if rest.startswith("\n"):
                rest = rest[1:]
        out.append(rest)
    return "".join(out)


# --------------------------------------------------------------------------- conversations


def _role(message: Mapping[str, Any]) -> tuple[str, str]:
    """(``human`` | ``gpt``, text) of a message in ``from/value`` or ``role/content`` form."""
    if not isinstance(message, Mapping):
        raise Sa2VAError(f"a message must be a dict, got {type(message).__name__}")
    if "from" in message:
        if "value" not in message:
            raise Sa2VAError(f"a 'from' message needs a 'value', got keys {sorted(message)}")
        role, value = message["from"], message["value"]
    elif "role" in message:
        if "content" not in message:
            raise Sa2VAError(f"a 'role' message needs a 'content', got keys {sorted(message)}")
        role, value = message["role"], message["content"]
    else:
        raise Sa2VAError(f"a message needs 'from'/'value' or 'role'/'content' keys, got {sorted(message)}")
    role = {"user": "human", "assistant": "gpt"}.get(role, role)
    if role not in ("human", "gpt"):
        raise Sa2VAError(f"unknown message role {role!r}; expected human/gpt (or user/assistant)")
    if not isinstance(value, str):
        raise Sa2VAError(f"message text must be a string, got {type(value).__name__}")
    return role, value


def messages_to_turns(messages: Sequence[Mapping[str, Any]], style: str = "llava") -> list[dict[str, str]]:
    """Messages -> ``[{"input", "output"}]`` turns, as upstream folds them.

    Leading assistant messages are skipped, consecutive user messages are concatenated, a
    trailing user message without an answer is dropped.

    * ``plain``: texts are kept as they are (upstream video datasets);
    * ``llava`` (and ``osprey``): a user message containing ``<image>`` becomes
      ``<image>\\n`` + the rest stripped (xtuner / GLaMM / Osprey preprocessing);
    * ``refcoco``: both sides are ``strip()``-ed (upstream ``ReferSegmDataset``).
    """
    if style not in CONVERSATION_STYLES:
        raise Sa2VAError(f"conversation style must be one of {CONVERSATION_STYLES}, got {style!r}")
    parsed = [_role(m) for m in messages]
    while parsed and parsed[0][0] == "gpt":
        parsed = parsed[1:]
    turns: list[dict[str, str]] = []
    pending = ""
    for role, value in parsed:
        if role == "human":
            if style in ("llava", "osprey") and IMAGE_PLACEHOLDER in value:
                value = (IMAGE_PLACEHOLDER + "\n" + value.replace(IMAGE_PLACEHOLDER, "").strip()).strip()
            elif style == "refcoco":
                value = value.strip()
            pending += value
        else:
            turns.append({"input": pending, "output": value.strip() if style == "refcoco" else value})
            pending = ""
    return turns


def osprey_messages(
    messages: Sequence[Mapping[str, Any]], region_pixels: Sequence[int], question_suffix: str = ""
) -> list[dict[str, str]]:
    """Upstream ``OspreyDataset._process_conversation`` before folding into turns.

    Every ``<`` / ``>`` is removed from the texts, ``question_suffix`` (upstream ``LIMIT``,
    e.g. ``" Answer the question using a single word or phrase."``) is appended to user
    messages, and the first message (a user one) gets ``<image> `` + the region string in front.
    Fold the result with ``messages_to_turns(..., style="osprey")``.
    """
    out = []
    for i, message in enumerate(messages):
        role, value = _role(message)
        value = strip_angle_brackets(value)
        if role == "human":
            value = value + question_suffix
        if i == 0:
            if role != "human":
                raise Sa2VAError("an Osprey conversation must start with a user message")
            value = IMAGE_PLACEHOLDER + " " + region_string(region_pixels) + value
        out.append({"from": role, "value": value})
    return out


# --------------------------------------------------------------------------- encoding


def bos_token_ids(tokenizer: Any) -> list[int]:
    """xtuner's ``get_bos_eos_token_ids`` (BOS half): none for Qwen tokenizers, else the BOS id if any."""
    if type(tokenizer).__name__ in ("QWenTokenizer", "Qwen2Tokenizer", "Qwen2TokenizerFast"):
        return []
    bos = getattr(tokenizer, "bos_token_id", None)
    return [] if bos is None else [int(bos)]


def eos_token_ids(tokenizer: Any) -> list[int]:
    eos = getattr(tokenizer, "eos_token_id", None)
    return [] if eos is None else [int(eos)]


def _encode(tokenizer: Any, text: str, add_special_tokens: bool = False) -> list[int]:
    if not text and not add_special_tokens:
        return []
    return list(tokenizer.encode(text, add_special_tokens=add_special_tokens))


def check_max_length(max_length: Any) -> int | None:
    """``None`` or a positive int (a bool or a float is refused: it is a caller's mistake)."""
    if max_length is None:
        return None
    if isinstance(max_length, bool) or not isinstance(max_length, int) or max_length < 1:
        raise Sa2VAError(f"max_length must be a positive int or None, got {max_length!r}")
    return max_length


def _check_turns(turns: Any) -> None:
    if isinstance(turns, (str, bytes, Mapping)) or not isinstance(turns, Sequence):
        raise Sa2VAError(f"turns must be a list of {{'input', 'output'}} dicts, got {type(turns).__name__}")
    for i, turn in enumerate(turns):
        if not isinstance(turn, Mapping):
            raise Sa2VAError(f"turn {i} must be a dict with 'input' and 'output', got {type(turn).__name__}")
        if "output" not in turn:
            raise Sa2VAError(f"turn {i} has no 'output' (keys: {sorted(turn)})")
        for key in ("input", "output"):
            value = turn.get(key)
            if value is not None and not isinstance(value, str):
                raise Sa2VAError(f"turn {i}: {key!r} must be a string, got {type(value).__name__}")


@dataclass(frozen=True)
class Piece:
    """One piece of a training sequence, tokenized on its own as upstream does.

    ``text`` is tokenized without the tokenizer's special tokens (with them when
    ``add_special_tokens``: upstream's RefCOCO / LLaVA first turn); ``token_ids`` (BOS, EOS) are
    used as they are. ``labelled``: the piece is trained on (its labels are its ids).
    """

    text: str = ""
    labelled: bool = False
    token_ids: tuple[int, ...] | None = None
    add_special_tokens: bool = False


def turn_pieces(
    turns: Sequence[Mapping[str, str]],
    tokenizer: Any,
    template: str | ChatTemplate | Mapping[str, Any] = "phi3",
    system: str = "",
    style: str = "llava",
    refcoco_instruction: str | None = REFCOCO_INSTRUCTION,
) -> list[Piece]:
    """``[{"input", "output"}]`` turns -> the pieces :func:`encode_turns` tokenizes, in order.

    Default (every style but ``refcoco``), exactly xtuner ``template_map_fn`` +
    ``video_lisa_encode_fn``: per turn, [BOS on the first turn, where the tokenizer has one]
    + ``instruction(input)`` (unlabelled) + ``output + suffix`` (labelled) + [EOS, labelled,
    only when the template's suffix is not its EOS] + ``sep`` (unlabelled).

    ``refcoco`` (upstream v1 ``ReferSegmDataset`` / ``LLaVADataset.get_inputid_labels``): the
    instruction is ``refcoco_instruction`` (upstream's phi3-style override; ``None`` keeps the
    template's), the first turn is tokenized *with* the tokenizer's special tokens, answers get the
    suffix, and there is no separator and no EOS.
    """
    tpl = get_template(template)
    _check_turns(turns)
    pieces: list[Piece] = []
    if style == "refcoco":
        instruction = tpl.instruction if refcoco_instruction is None else refcoco_instruction
        if refcoco_instruction is not None:
            ChatTemplate(name="refcoco", instruction=refcoco_instruction)  # same checks as a template's
        for i, turn in enumerate(turns):
            text = instruction.format(input=turn.get("input") or "", round=i + 1, bot_name=BOT_NAME)
            if i == 0 and system:
                text = tpl.system.format(system=system, bot_name=BOT_NAME) + text
            pieces.append(Piece(text, add_special_tokens=(i == 0)))
            pieces.append(Piece((turn.get("output") or "") + tpl.suffix, labelled=True))
        return pieces
    if style not in CONVERSATION_STYLES:
        raise Sa2VAError(f"conversation style must be one of {CONVERSATION_STYLES}, got {style!r}")
    bos, eos = tuple(bos_token_ids(tokenizer)), tuple(eos_token_ids(tokenizer))
    need_eos = not tpl.suffix_as_eos
    next_needs_bos = True
    for i, turn in enumerate(turns):
        if next_needs_bos and bos:
            pieces.append(Piece(token_ids=bos))
        pieces.append(Piece(tpl.format_input(turn.get("input") or "", round=i + 1, system=system if i == 0 else "")))
        pieces.append(Piece((turn.get("output") or "") + tpl.suffix, labelled=True))
        if need_eos and eos:
            pieces.append(Piece(labelled=True, token_ids=eos))
        next_needs_bos = need_eos
        if tpl.sep:
            pieces.append(Piece(tpl.sep))
    return pieces


def encode_pieces(pieces: Sequence[Piece], tokenizer: Any, max_length: int | None = None) -> dict[str, list[int]]:
    """Tokenize each piece on its own; labels are the ids of labelled pieces, -100 elsewhere; cut to ``max_length``."""
    max_length = check_max_length(max_length)
    input_ids: list[int] = []
    labels: list[int] = []
    for piece in pieces:
        if piece.token_ids is not None:
            ids = list(piece.token_ids)
        else:
            ids = _encode(tokenizer, piece.text, add_special_tokens=piece.add_special_tokens)
        input_ids += ids
        labels += ids if piece.labelled else [IGNORE_INDEX] * len(ids)
    if max_length is not None and len(input_ids) > max_length:
        input_ids, labels = input_ids[:max_length], labels[:max_length]
    return {"input_ids": input_ids, "labels": labels}


def render_pieces(pieces: Sequence[Piece], tokenizer: Any) -> list[tuple[str, bool]]:
    """The text of ``pieces`` as (text, labelled) runs, adjacent runs of one kind merged: what the
    sequence says before tokenization (BOS / EOS ids shown as their token strings; a piece
    tokenized with special tokens shows the ones the tokenizer puts in front)."""
    runs: list[tuple[str, bool]] = []
    for piece in pieces:
        if piece.token_ids is not None:
            text = "".join(tokenizer.convert_ids_to_tokens(list(piece.token_ids)))
        elif piece.add_special_tokens:
            text = _special_prefix(tokenizer) + piece.text
        else:
            text = piece.text
        if not text:
            continue
        if runs and runs[-1][1] == piece.labelled:
            runs[-1] = (runs[-1][0] + text, piece.labelled)
        else:
            runs.append((text, piece.labelled))
    return runs


def _special_prefix(tokenizer: Any) -> str:
    """The special tokens ``encode(text, add_special_tokens=True)`` puts before the text (a BOS, or nothing)."""
    ids = list(tokenizer.encode("", add_special_tokens=True))
    return "".join(tokenizer.convert_ids_to_tokens(ids))


def encode_turns(
    turns: Sequence[Mapping[str, str]],
    tokenizer: Any,
    template: str | ChatTemplate | Mapping[str, Any] = "phi3",
    max_length: int | None = None,
    system: str = "",
    style: str = "llava",
    refcoco_instruction: str | None = REFCOCO_INSTRUCTION,
) -> dict[str, list[int]]:
    """Training encoding of ``[{"input", "output"}]`` turns -> ``input_ids`` + ``labels``.

    The pieces of :func:`turn_pieces` (xtuner's layout, or upstream v1's RefCOCO / LLaVA path
    with ``style="refcoco"``), each tokenized on its own without special tokens (the ``refcoco``
    first turn with them); both lists truncated to ``max_length``.
    """
    max_length = check_max_length(max_length)
    pieces = turn_pieces(
        turns, tokenizer, template, system=system, style=style, refcoco_instruction=refcoco_instruction
    )
    return encode_pieces(pieces, tokenizer, max_length)


# --------------------------------------------------------------------------- samples


def encode_conversation(
    processor: Any,
    images: Any = None,
    conversations: Any = None,
    *,
    videos: Any = None,
    visual_prompts: Any = None,
    masks: Any = None,
    style: str | None = None,
    system: str = "",
    max_length: int | None = 8192,
    question_suffix: str = "",
    refcoco_instruction: str | None = REFCOCO_INSTRUCTION,
    return_tensors: str | None = None,
    **image_options: Any,
) -> BatchFeature:
    """A training sample (or a batch): pixels + ``input_ids`` + ``labels``, as upstream builds it.

    Args:
        processor: a :class:`~sa2va_hf.Sa2VAProcessor` (its image processor, tokenizer and chat
            template are used).
        images, videos, visual_prompts, masks: as :class:`~sa2va_hf.Sa2VAProcessor` takes them.
        conversations: messages (``[{"from": "human"|"gpt", "value": ...}]``, or
            ``role``/``content``), or a list of such lists (one per sample).
        style: how upstream's dataset class lays the text out: ``llava`` (the default with
            images: ``<image>`` moved to the front of its turn), ``plain`` (the default for
            videos and text: texts as they are), ``osprey`` (``<`` / ``>`` stripped, the region
            string in the first turn, ``question_suffix`` = upstream's LIMIT; needs
            ``visual_prompts``), ``refcoco`` (upstream v1's RefCOCO path: its own instruction,
            ``refcoco_instruction``, and no separator).
        system: system prompt of the first turn (Sa2VA trains with none).
        max_length: ``input_ids`` and ``labels`` are cut to this (upstream 8192); a cut through
            image tokens is an error.
        return_tensors: ``None`` (lists), ``"np"`` or ``"pt"`` (padded: ids with 0, labels
            with -100, as upstream's collate function).
        **image_options: image processor options (``max_tiles``, ``empty_region``, ...).

    Returns:
        the processor's pixel outputs plus ``input_ids``, ``labels`` (user turns -100, answer +
        suffix labelled, the separator -100, BOS only where the tokenizer has one and only on
        the first turn) and ``attention_mask``.
    """
    style = style or ("llava" if images is not None else "plain")
    if style not in CONVERSATION_STYLES:
        raise Sa2VAError(f"style must be one of {CONVERSATION_STYLES}, got {style!r}")
    if return_tensors not in (None, "np", "pt"):
        raise Sa2VAError(f"return_tensors must be None, 'np' or 'pt', got {return_tensors!r}")
    max_length = check_max_length(max_length)
    batch = _as_conversation_batch(conversations)
    data, media, per_sample_images = processor.process_media(
        images=images, videos=videos, visual_prompts=visual_prompts, masks=masks, mode="training", **image_options
    )

    if style == "osprey":
        if len(media) != len(batch):
            raise Sa2VAError(
                f"osprey style takes one image per conversation: {len(batch)} conversations, {len(media)} images"
            )
        for i, m in enumerate(media):
            if m.dropped:
                # the conversation names its regions region1, region2, ...: dropping one would
                # renumber the rest under the text (upstream v2 drops such a sample instead)
                raise Sa2VAError(
                    f"conversation {i}: region(s) {m.dropped} cover too few grid cells and were dropped, "
                    "which would renumber the regions the conversation refers to; skip this sample, or "
                    "use empty_region='keep' (upstream v1) or 'error'"
                )
            if not m.regions:
                raise Sa2VAError(
                    f"conversation {i}: osprey style needs the image's regions as visual_prompts "
                    "(the first turn holds their region string)"
                )
        # upstream writes the region string into the first message itself
        turns_list = [
            messages_to_turns(osprey_messages(conv, m.regions or [], question_suffix), "osprey")
            for conv, m in zip(batch, media)
        ]
    else:
        turns_list = [messages_to_turns(conv, style) for conv in batch]
    for i, turns in enumerate(turns_list):
        if not turns:
            raise Sa2VAError(f"conversation {i} has no user message followed by an answer: nothing to train on")

    per_sample = assign_media(["".join(t["input"] for t in turns) for turns in turns_list], media, per_sample_images)
    input_ids, labels = [], []
    for turns, items in zip(turns_list, per_sample):
        k = 0
        for turn in turns:
            n = count_placeholders(turn["input"])
            turn["input"] = _expand_training_turn(turn["input"], items[k : k + n], with_regions=style != "osprey")
            k += n
        enc = encode_turns(
            turns, processor.tokenizer, processor.chat_template_config, max_length=max_length, system=system,
            style=style, refcoco_instruction=refcoco_instruction,
        )  # fmt: skip
        input_ids.append(enc["input_ids"])
        labels.append(enc["labels"])
    context = _context_token(processor)  # the family's: <IMG_CONTEXT>, <|image_pad|> or <image>
    check_context_tokens(
        input_ids, [sum(m.context_tokens for m in items) for items in per_sample],
        processor.tokenizer.convert_tokens_to_ids(context), max_length, context,
    )  # fmt: skip
    data.update({"input_ids": input_ids, "labels": labels, "attention_mask": [[1] * len(ids) for ids in input_ids]})
    if return_tensors is not None:
        data["input_ids"] = pad_batch(data["input_ids"], 0)
        data["labels"] = pad_batch(data["labels"], IGNORE_INDEX)
        data["attention_mask"] = pad_batch(data["attention_mask"], 0)
        data = convert_tensors(data, return_tensors)
    return BatchFeature(data=data)


def _context_token(processor: Any) -> str:
    spec = getattr(processor, "family_spec", None)
    return spec.image_tokens.context if spec is not None else IMG_CONTEXT_TOKEN


def _expand_training_turn(text: str, items: Sequence[MediaTokens], with_regions: bool) -> str:
    """``<image>`` -> media string, then ``\\n`` + the region string where the image has regions,
    absorbing one ``\\n`` after the placeholder (Osprey's training layout; osprey style writes
    its region string into the first message itself)."""
    if with_regions:
        text = insert_region_strings(text, [region_string(m.regions or []) for m in items])
    return expand_placeholders(text, [m.string for m in items])


def _as_conversation_batch(conversations: Any) -> list[list[Mapping[str, Any]]]:
    if not isinstance(conversations, (list, tuple)) or not conversations:
        raise Sa2VAError("conversations must be a non-empty list of messages, or a list of such lists")
    if all(isinstance(m, Mapping) for m in conversations):
        return [list(conversations)]
    if all(isinstance(c, (list, tuple)) and all(isinstance(m, Mapping) for m in c) for c in conversations):
        return [list(c) for c in conversations]
    raise Sa2VAError("conversations must be a list of message dicts, or a list of such lists")


def pad_batch(sequences: Sequence[Sequence[int]], value: int) -> np.ndarray:
    """Right-pad int sequences to one (B, L) int64 array."""
    length = max((len(s) for s in sequences), default=0)
    out = np.full((len(sequences), length), value, dtype=np.int64)
    for i, s in enumerate(sequences):
        out[i, : len(s)] = s
    return out
