"""Sa2VA's chat templates: one definition each, from which every rendering derives.

A :class:`ChatTemplate` holds xtuner's template strings (``INSTRUCTION``, ``SUFFIX``, ``SEP``,
``SYSTEM``, ...) exactly as upstream writes them (``projects/sa2va/hf/models*/templates.py``).
Two renderings come from these strings and nothing else, so they cannot drift apart:

* the training encoder (:mod:`sa2va_hf.training.conversations`) formats turns with them, as
  xtuner's ``template_map_fn`` + ``encode_fn`` do;
* :meth:`ChatTemplate.jinja` writes the Jinja ``chat_template`` the processor saves and
  ``apply_chat_template`` renders: the same text, with no leading BOS (the tokenizer adds it, as
  ``predict_forward``'s ``tokenizer.encode`` does).

Plain Python; part of the processor's remote code.
"""

from __future__ import annotations

import json
import string
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from .errors import Sa2VAError

#: What upstream's ``predict_forward`` / xtuner's chat pass as ``{bot_name}`` to a template.
BOT_NAME = "BOT"


#: The fields each format string may use (``predict_forward`` and xtuner fill the same ones).
_FIELDS = {"instruction": ("input", "round", "bot_name"), "system": ("system", "bot_name")}


def _parse_format(text: str, name: str, allowed: tuple[str, ...]) -> list[tuple[str, str | None]]:
    """``str.format`` pieces of ``text``: (literal, field name or None); only bare allowed fields."""
    try:
        pieces = list(string.Formatter().parse(text))
    except ValueError as e:
        raise Sa2VAError(f"chat template {name} {text!r} is not a valid format string: {e}") from None
    out = []
    for literal, field_name, spec, conversion in pieces:
        if field_name is not None and (field_name not in allowed or spec or conversion):
            fields = ", ".join("{" + f + "}" for f in allowed)
            raise Sa2VAError(
                f"chat template {name} {text!r} is not a valid format string: fields allowed are {fields} "
                f"(no conversions or format specs), got {{{field_name}}}"
            )
        out.append((literal, field_name))
    return out


def _literal(text: str) -> str:
    """A Jinja string literal for ``text`` (JSON's escapes are Jinja's)."""
    return json.dumps(text, ensure_ascii=False)


def _jinja_format(text: str, fields: dict[str, str]) -> str:
    """A Jinja expression for the format string ``text``, each ``{field}`` replaced by ``fields[field]``."""
    parts = []
    for literal, field_name, _, _ in string.Formatter().parse(text):
        if literal:
            parts.append(_literal(literal))
        if field_name is not None:
            parts.append(fields[field_name])
    return " + ".join(parts) or '""'


_JINJA = """
{{#- Sa2VA chat template "{name}", written by sa2va_hf.chat_templates from the strings its training encoder uses. -#}}
{{%- macro text(content) -%}}
    {{%- if content is string -%}}{{{{- content -}}}}
    {{%- else -%}}
        {{%- for block in content -%}}
            {{%- if block["type"] in ["image", "video"] -%}}{{{{- "<image>\\n" -}}}}
            {{%- elif block["type"] == "text" -%}}{{{{- block["text"] -}}}}
            {{%- endif -%}}
        {{%- endfor -%}}
    {{%- endif -%}}
{{%- endmacro -%}}
{{%- set ns = namespace(system="", pending="", has_pending=false, turn=0) -%}}
{{%- for message in messages -%}}
    {{%- if message["role"] == "system" -%}}
        {{%- if not loop.first -%}}{{{{- raise_exception("a system message must come first") -}}}}{{%- endif -%}}
        {{%- set ns.system = text(message["content"]) -%}}
    {{%- elif message["role"] == "user" -%}}
        {{%- set ns.pending = ns.pending + text(message["content"]) -%}}
        {{%- set ns.has_pending = true -%}}
    {{%- elif message["role"] == "assistant" -%}}
        {{%- if ns.has_pending -%}}
            {open_turn}
            {prefix}
            {{%- generation -%}}{{{{- {answer} -}}}}{{%- endgeneration -%}}
            {sep}
        {{%- endif -%}}
    {{%- else -%}}
        {{{{- raise_exception("Sa2VA chat templates take the roles system, user and assistant, not " + message["role"]) -}}}}
    {{%- endif -%}}
{{%- endfor -%}}
{{%- if ns.has_pending -%}}
    {open_last_turn}
    {{%- if add_generation_prompt -%}}{prefix}{{%- endif -%}}
{{%- endif -%}}
"""


#: The chat template Sa2VA's Qwen2.5-VL / Qwen3-VL checkpoints ship and ``predict_forward`` renders: the
#: stock Qwen-VL Instruct one after ``convert_to_hf.py``'s edit (no default system prompt; Qwen3-VL's
#: has none anyway). Each message is ``<|im_start|>{role}\n`` + its content + ``<|im_end|>\n``; an image
#: block is the image's string and nothing after it, written ``<image>`` here for the processor to expand
#: (where Qwen writes ``<|vision_start|><|image_pad|><|vision_end|>``); a video block too: the processor
#: writes a video as ``predict_forward`` does, its frames as separate images with nothing between them.
QWEN_VL_JINJA = (
    r"""
{#- Sa2VA's Qwen-VL chat template (predict_forward's), written by sa2va_hf.chat_templates. -#}
{%- macro content(message) -%}
    {%- if message["content"] is string -%}{{- message["content"] -}}
    {%- else -%}
        {%- for block in message["content"] -%}
            {%- if block["type"] in ["image", "image_url", "video"] or "image" in block or "image_url" in block
                or "video" in block -%}{{- "<image>" -}}
            {%- elif "text" in block -%}{{- block["text"] -}}
            {%- endif -%}
        {%- endfor -%}
    {%- endif -%}
{%- endmacro -%}
{%- for message in messages -%}
    {%- if message["role"] not in ["system", "user", "assistant"] -%}
        {{- raise_exception("Sa2VA chat templates take the roles system, user and assistant, not " + message["role"]) -}}
    {%- endif -%}
    {{- "<|im_start|>" + message["role"] + "\n" -}}
    {%- if message["role"] == "assistant" -%}
        {%- generation -%}{{- content(message) + "<|im_end|>" -}}{%- endgeneration -%}{{- "\n" -}}
    {%- else -%}
        {{- content(message) + "<|im_end|>\n" -}}
    {%- endif -%}
{%- endfor -%}
{%- if add_generation_prompt -%}{{- "<|im_start|>assistant\n" -}}{%- endif -%}
""".strip()
    + "\n"
)


# --------------------------------------------------------------------------- templates


@dataclass(frozen=True)
class ChatTemplate:
    """An xtuner-style prompt template.

    ``instruction`` wraps each user turn (``{input}``, optionally ``{round}``); ``suffix`` is
    appended to each answer; ``sep`` follows each turn, unlabelled; ``system`` wraps a system
    prompt, rendered only when one is given (Sa2VA's is empty). ``suffix_as_eos`` means the
    suffix replaces the tokenizer's EOS (no EOS is added, and no BOS on later turns).
    ``assistant_prefix`` is the end of ``instruction`` that opens the answer (``<|assistant|>\n``):
    the Jinja template renders it before every answer and, for a final question, only with
    ``add_generation_prompt=True``; empty, the whole instruction is the user's part.
    """

    name: str
    instruction: str
    suffix: str = ""
    sep: str = ""
    system: str = ""
    suffix_as_eos: bool = False
    stop_words: tuple[str, ...] = field(default_factory=tuple)
    assistant_prefix: str = ""

    def __post_init__(self) -> None:
        # a custom template fails here, with its field named, not later as a bare KeyError /
        # IndexError / TypeError in the middle of encoding
        for name in ("name", "instruction", "suffix", "sep", "system", "assistant_prefix"):
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
        for name, allowed in _FIELDS.items():
            _parse_format(getattr(self, name), name, allowed)
        if not self.instruction.endswith(self.assistant_prefix) or "{" in self.assistant_prefix:
            raise Sa2VAError(
                f"chat template assistant_prefix {self.assistant_prefix!r} must be the plain end of the "
                f"instruction {self.instruction!r}"
            )

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

    def jinja(self) -> str:
        """The Jinja ``chat_template`` that renders what the training encoder encodes.

        Messages: an optional first ``system`` message, then ``user`` / ``assistant``. A user
        message's content is a string or a list of blocks (``{"type": "text", "text": ...}``;
        ``{"type": "image"}`` and ``{"type": "video"}`` become ``<image>\\n``, the layout of
        upstream's training and evaluation prompts). As upstream's training folds them:
        consecutive user messages are one turn, an answer with no question before it is skipped.
        Each answer + ``suffix`` (+ EOS where the suffix is not the EOS) is the ``{% generation %}``
        span (``return_assistant_tokens_mask``); a BOS opens each later turn where upstream adds
        one (templates whose suffix is not the EOS); no BOS opens the first.
        """
        user_part = self.instruction[: len(self.instruction) - len(self.assistant_prefix)]
        answer_end = [_literal(self.suffix)] if self.suffix else []
        if not self.suffix_as_eos:
            answer_end.append("(eos_token if eos_token is defined else '')")
        later_turn_bos = (
            "{%- if ns.turn > 1 and bos_token is defined and bos_token -%}{{- bos_token -}}{%- endif -%}"
            if not self.suffix_as_eos
            else ""
        )
        system = _jinja_format(self.system, {"system": "ns.system", "bot_name": _literal(BOT_NAME)})
        user = _jinja_format(
            user_part, {"input": "ns.pending", "round": "ns.turn | string", "bot_name": _literal(BOT_NAME)}
        )
        open_turn = [
            "{%- set ns.turn = ns.turn + 1 -%}",
            later_turn_bos,
            "{%- if ns.turn == 1 and ns.system -%}{{- " + system + " -}}{%- endif -%}",
            "{{- " + user + " -}}",
            '{%- set ns.pending = "" -%}{%- set ns.has_pending = false -%}',
        ]
        prefix = "{{- " + _jinja_format(self.assistant_prefix, {}) + " -}}" if self.assistant_prefix else ""
        answer = " + ".join(['text(message["content"])', *answer_end])
        sep = "{{- " + _literal(self.sep) + " -}}" if self.sep else ""
        lines = [line for line in open_turn if line]
        return (
            _JINJA.format(
                name=self.name,
                open_turn="\n            ".join(lines),
                open_last_turn="\n    ".join(lines),
                prefix=prefix,
                answer=answer,
                sep=sep,
            ).strip()
            + "\n"
        )


CHAT_TEMPLATES: dict[str, ChatTemplate] = {
    "phi3": ChatTemplate(
        name="phi3",
        system="<|system|>\n{system}<|end|>\n",
        instruction="<|user|>\n{input}<|end|>\n<|assistant|>\n",
        suffix="<|end|>",
        suffix_as_eos=True,
        sep="\n",
        stop_words=("<|end|>",),
        assistant_prefix="<|assistant|>\n",
    ),
    "qwen": ChatTemplate(
        name="qwen",
        system="<|im_start|>system\n{system}<|im_end|>\n",
        instruction="<|im_start|>user\n{input}<|im_end|>\n<|im_start|>assistant\n",
        suffix="<|im_end|>",
        suffix_as_eos=True,
        sep="\n",
        stop_words=("<|im_end|>", "<|endoftext|>"),
        assistant_prefix="<|im_start|>assistant\n",
    ),
    "internlm2": ChatTemplate(
        name="internlm2",
        system="<|im_start|>system\n{system}<|im_end|>\n",
        instruction="<|im_start|>user\n{input}<|im_end|>\n<|im_start|>assistant\n",
        suffix="<|im_end|>",
        suffix_as_eos=True,
        sep="\n",
        stop_words=("<|im_end|>",),
        assistant_prefix="<|im_start|>assistant\n",
    ),
    # LLaVA-1.5 checkpoints. Upstream's vicuna has no SUFFIX and no SUFFIX_AS_EOS, so every answer
    # ends with the tokenizer's EOS and every later turn starts with its BOS; its SYSTEM holds the
    # Vicuna preamble but, like every SYSTEM, renders only when a system prompt is given.
    "vicuna": ChatTemplate(
        name="vicuna",
        system=(
            "A chat between a curious user and an artificial intelligence assistant. The assistant gives "
            "helpful, detailed, and polite answers to the user's questions. {system}\n "
        ),
        instruction="USER: {input} ASSISTANT:",
        sep="\n",
        assistant_prefix=" ASSISTANT:",
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
