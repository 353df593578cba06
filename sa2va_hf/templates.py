"""Training conversations: messages -> turns -> ``input_ids`` + ``labels``, as upstream builds them.

Reproduces what the upstream training code (xtuner's ``template_map_fn`` + Sa2VA's
``video_lisa_encode_fn``, and the RefCOCO dataset's own ``get_inputid_labels``) produces from a
conversation, with the chat template strings of :mod:`chat_templates`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .chat_templates import BOT_NAME, ChatTemplate, get_template
from .errors import Sa2VAError
from .tokens import IMAGE_PLACEHOLDER, region_string

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

    Default (every style but ``refcoco``), exactly xtuner ``template_map_fn`` +
    ``video_lisa_encode_fn``: per turn, [BOS on the first turn, where the tokenizer has one]
    + ``instruction(input)`` (labels -100) + ``output + suffix`` (labelled) + [EOS, labelled,
    only when the template's suffix is not its EOS] + ``sep`` (labels -100). Each piece is
    tokenized on its own, without special tokens.

    ``refcoco`` (upstream v1 ``ReferSegmDataset.get_inputid_labels``): the instruction is
    ``refcoco_instruction`` (upstream's phi3-style override; ``None`` keeps the template's),
    the first turn is tokenized *with* the tokenizer's special tokens, answers get the suffix,
    and there is no separator and no EOS.

    Both truncate ``input_ids`` and ``labels`` to ``max_length``.
    """
    tpl = get_template(template)
    _check_turns(turns)
    max_length = check_max_length(max_length)
    input_ids: list[int] = []
    labels: list[int] = []
    if style == "refcoco":
        instruction = tpl.instruction if refcoco_instruction is None else refcoco_instruction
        if refcoco_instruction is not None:
            ChatTemplate(name="refcoco", instruction=refcoco_instruction)  # same checks as a template's
        for i, turn in enumerate(turns):
            text = instruction.format(input=turn.get("input") or "", round=i + 1, bot_name=BOT_NAME)
            if i == 0 and system:
                text = tpl.system.format(system=system, bot_name=BOT_NAME) + text
            ids = _encode(tokenizer, text, add_special_tokens=(i == 0))
            input_ids += ids
            labels += [IGNORE_INDEX] * len(ids)
            out = _encode(tokenizer, (turn.get("output") or "") + tpl.suffix)
            input_ids += out
            labels += out
    else:
        if style not in CONVERSATION_STYLES:
            raise Sa2VAError(f"conversation style must be one of {CONVERSATION_STYLES}, got {style!r}")
        bos, eos = bos_token_ids(tokenizer), eos_token_ids(tokenizer)
        need_eos = not tpl.suffix_as_eos
        next_needs_bos = True
        for i, turn in enumerate(turns):
            text = tpl.format_input(turn.get("input") or "", round=i + 1, system=system if i == 0 else "")
            ids = _encode(tokenizer, text)
            if next_needs_bos:
                input_ids += bos
                labels += [IGNORE_INDEX] * len(bos)
            input_ids += ids
            labels += [IGNORE_INDEX] * len(ids)
            out = _encode(tokenizer, (turn.get("output") or "") + tpl.suffix)
            input_ids += out
            labels += out
            if need_eos:
                input_ids += eos
                labels += eos
            next_needs_bos = need_eos
            sep = _encode(tokenizer, tpl.sep)
            input_ids += sep
            labels += [IGNORE_INDEX] * len(sep)
    if max_length is not None and len(input_ids) > max_length:
        input_ids, labels = input_ids[:max_length], labels[:max_length]
    return {"input_ids": input_ids, "labels": labels}
