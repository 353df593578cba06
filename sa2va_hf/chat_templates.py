"""Sa2VA's chat templates: one definition each, from which every rendering derives.

A :class:`ChatTemplate` holds xtuner's template strings (``INSTRUCTION``, ``SUFFIX``, ``SEP``,
``SYSTEM``, ...) exactly as upstream writes them (``projects/*/hf/models*/templates.py``). The
training encoder (:mod:`sa2va_hf.training.conversations`) formats turns with these strings; the
processor's inference prompt is ``instruction`` around the user's text, as ``predict_forward`` builds it.

Plain Python; part of the processor's remote code.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from .errors import Sa2VAError

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
