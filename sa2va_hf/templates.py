"""The text side of Sa2VA: special tokens, prompt strings, chat templates and training encoding.

Everything here is plain Python over strings and a tokenizer, and reproduces what the
upstream training code (xtuner's ``template_map_fn`` + Sa2VA's ``video_lisa_encode_fn``,
and the RefCOCO dataset's own ``get_inputid_labels``) produces:

* the image string ``<img>`` + ``<IMG_CONTEXT>`` x (256 per tile) + ``</img>``; a video is one
  such string per frame (one tile each), joined with ``\\n``;
* the region string for visual prompts,
  ``There are {n} part regions in the picture: region1<vp>...</vp>, region2<vp>...</vp>.\\n``;
* the chat templates phi3 / qwen / internlm2 (system prompt empty);
* conversation turns ``{"input", "output"}`` -> ``input_ids`` + ``labels``.

This module only imports the standard library: it travels with ``processing_sa2va.py`` as
remote code (``trust_remote_code=True``) and must stay self-contained.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from .errors import Sa2VAError

IGNORE_INDEX = -100

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

#: Upstream v1 ``ReferSegmDataset`` (arch ``intern_vl``) overrides the template's INSTRUCTION
#: with this one, whatever the configured template (note: no ``\\n`` after ``<|end|>``).
REFCOCO_INSTRUCTION = "<|user|>\n{input}<|end|><|assistant|>\n"

CONVERSATION_STYLES = ("llava", "plain", "osprey", "refcoco")

#: What upstream's ``predict_forward`` / xtuner's chat pass as ``{bot_name}`` to a template.
BOT_NAME = "BOT"


# --------------------------------------------------------------------------- templates


@dataclass(frozen=True)
class ChatTemplate:
    """An xtuner-style prompt template.

    ``instruction`` wraps each user turn (``{input}``, optionally ``{round}``); ``suffix`` is
    appended to each answer; ``sep`` follows each turn, unlabelled; ``system`` wraps a system
    prompt (unused by Sa2VA: its system prompt is empty). ``suffix_as_eos`` means the suffix
    replaces the tokenizer's EOS (no EOS is added, and no BOS on later turns).
    """

    name: str
    instruction: str
    suffix: str = ""
    sep: str = ""
    system: str = ""
    suffix_as_eos: bool = False
    stop_words: tuple[str, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        # a custom template fails here, with its field named, not later as a bare KeyError /
        # IndexError / TypeError in the middle of encoding
        for name in ("name", "instruction", "suffix", "sep", "system"):
            value = getattr(self, name)
            if value is None and name != "instruction":
                object.__setattr__(self, name, "")  # xtuner templates simply omit SUFFIX / SEP / SYSTEM
            elif not isinstance(value, str):
                raise Sa2VAError(f"chat template field {name!r} must be a string, got {type(value).__name__}")
        if "{input}" not in self.instruction:
            raise Sa2VAError("a chat template needs an 'instruction' containing '{input}'")
        if isinstance(self.stop_words, str) or not all(isinstance(w, str) for w in self.stop_words):
            raise Sa2VAError(f"chat template 'stop_words' must be a list of strings, got {self.stop_words!r}")
        object.__setattr__(self, "suffix_as_eos", bool(self.suffix_as_eos))
        for name, probe in (("instruction", self.instruction), ("system", self.system)):
            try:
                probe.format(input="", round=1, system="", bot_name=BOT_NAME)
            except (KeyError, IndexError, ValueError) as e:
                raise Sa2VAError(
                    f"chat template {name} {probe!r} is not a valid format string "
                    f"(fields allowed: {{input}}, {{round}}, {{bot_name}}, {{system}}): {type(e).__name__}: {e}"
                ) from None

    def format_input(self, text: str, round: int = 1, system: str = "") -> str:
        """The user part of one turn: (system prompt +) ``instruction`` around ``text``
        (``{round}`` and ``{bot_name}`` are filled as upstream's ``predict_forward`` does)."""
        out = self.instruction.format(input=text, round=round, bot_name=BOT_NAME)
        if system:
            out = self.system.format(system=system, bot_name=BOT_NAME) + out
        return out

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["stop_words"] = list(self.stop_words)
        return d


CHAT_TEMPLATES: dict[str, ChatTemplate] = {
    "phi3": ChatTemplate(
        name="phi3",
        system="<|system|>\n{system}<|end|>\n",
        instruction="<|user|>\n{input}<|end|>\n<|assistant|>\n",
        suffix="<|end|>",
        suffix_as_eos=True,
        sep="\n",
        stop_words=("<|end|>",),
    ),
    "qwen": ChatTemplate(
        name="qwen",
        system="<|im_start|>system\n{system}<|im_end|>\n",
        instruction="<|im_start|>user\n{input}<|im_end|>\n<|im_start|>assistant\n",
        suffix="<|im_end|>",
        suffix_as_eos=True,
        sep="\n",
        stop_words=("<|im_end|>", "<|endoftext|>"),
    ),
    "internlm2": ChatTemplate(
        name="internlm2",
        system="<|im_start|>system\n{system}<|im_end|>\n",
        instruction="<|im_start|>user\n{input}<|im_end|>\n<|im_start|>assistant\n",
        suffix="<|im_end|>",
        suffix_as_eos=True,
        sep="\n",
        stop_words=("<|im_end|>",),
    ),
}

_XTUNER_KEYS = {
    "INSTRUCTION": "instruction",
    "SUFFIX": "suffix",
    "SEP": "sep",
    "SYSTEM": "system",
    "SUFFIX_AS_EOS": "suffix_as_eos",
    "STOP_WORDS": "stop_words",
}


def template_name(name: str) -> str:
    """Canonical template name: ``phi3_chat`` / ``Phi3-Chat`` -> ``phi3``."""
    key = name.strip().lower().replace("-", "_")
    return key[: -len("_chat")] if key.endswith("_chat") else key


def get_template(template: str | ChatTemplate | Mapping[str, Any]) -> ChatTemplate:
    """Resolve a template: a name (``phi3``, ``qwen``, ``internlm2``, or upstream's ``*_chat``
    names), a :class:`ChatTemplate`, or a dict (our field names or xtuner's upper-case keys)."""
    if isinstance(template, ChatTemplate):
        return template
    if isinstance(template, str):
        key = template_name(template)
        if key not in CHAT_TEMPLATES:
            raise Sa2VAError(
                f"unknown chat template {template!r}; known: {sorted(CHAT_TEMPLATES)} "
                "(upstream names such as 'phi3_chat' are accepted too), or pass a dict / ChatTemplate"
            )
        return CHAT_TEMPLATES[key]
    if isinstance(template, Mapping):
        fields = {_XTUNER_KEYS.get(k, k): v for k, v in template.items()}
        unknown = set(fields) - set(ChatTemplate.__dataclass_fields__)
        if unknown:
            raise Sa2VAError(f"unknown chat template field(s) {sorted(unknown)}")
        if "instruction" not in fields or "{input}" not in str(fields["instruction"]):
            raise Sa2VAError("a custom chat template needs an 'instruction' containing '{input}'")
        fields.setdefault("name", "custom")
        stop_words = fields.get("stop_words") or ()
        fields["stop_words"] = (stop_words,) if isinstance(stop_words, str) else tuple(stop_words)
        return ChatTemplate(**fields)
    raise Sa2VAError(f"template must be a name, a dict or a ChatTemplate, got {type(template).__name__}")


def template_to_config(template: ChatTemplate) -> str | dict[str, Any]:
    """What ``save_pretrained`` stores: the name of a built-in template, else its fields."""
    if CHAT_TEMPLATES.get(template.name) == template:
        return template.name
    return template.to_dict()


# --------------------------------------------------------------------------- prompt strings


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


def strip_angle_brackets(text: str) -> str:
    """Upstream Osprey removes every ``<`` and ``>`` from its texts (``<region1>`` -> ``region1``)."""
    return text.replace("<", "").replace(">", "")


def count_placeholders(text: str) -> int:
    return text.count(IMAGE_PLACEHOLDER)


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
