"""The Jinja chat templates: upstream's strings, and the same text as the training encoder.

Expected strings are written out by hand from upstream's ``templates.py`` (v2,
``projects/sa2va/hf/models/templates.py``) and xtuner's ``template_map_fn`` / ``encode_fn`` rules.
"""

from __future__ import annotations

import pytest
from transformers.utils.chat_template_utils import render_jinja_template

from sa2va_hf.chat_templates import CHAT_TEMPLATES, get_template
from sa2va_hf.errors import Sa2VAError
from sa2va_hf.training.conversations import encode_turns, messages_to_turns

from ..tokenizer_utils import make_tokenizer

VICUNA_SYSTEM = (
    "A chat between a curious user and an artificial intelligence assistant. The assistant gives "
    "helpful, detailed, and polite answers to the user's questions. {system}\n "
)


def render(template, messages, tokenizer, **kwargs):
    """What ``apply_chat_template`` renders (same renderer, same variables)."""
    prompts, spans = render_jinja_template(
        [messages], chat_template=get_template(template).jinja(), **tokenizer.special_tokens_map, **kwargs
    )
    return prompts[0], (spans[0] if spans else None)


def test_vicuna_is_upstreams():
    tpl = get_template("vicuna")
    assert tpl.instruction == "USER: {input} ASSISTANT:"
    assert tpl.system == VICUNA_SYSTEM
    assert (tpl.sep, tpl.suffix, tpl.suffix_as_eos) == ("\n", "", False)


def test_vicuna_system_renders_only_when_given():
    tok = make_tokenizer("phi3")
    question = [{"role": "user", "content": "Hi"}]
    assert render("vicuna", question, tok, add_generation_prompt=True)[0] == "USER: Hi ASSISTANT:"
    empty = [{"role": "system", "content": ""}, *question]
    assert render("vicuna", empty, tok, add_generation_prompt=True)[0] == "USER: Hi ASSISTANT:"
    given = [{"role": "system", "content": "Be brief."}, *question]
    assert render("vicuna", given, tok, add_generation_prompt=True)[0] == (
        VICUNA_SYSTEM.format(system="Be brief.") + "USER: Hi ASSISTANT:"
    )


def test_vicuna_answers_end_with_eos_and_later_turns_start_with_bos():
    # no SUFFIX_AS_EOS: xtuner's encode_fn adds EOS after each answer and BOS before each next turn
    tok = make_tokenizer("phi3")
    conv = [
        {"role": "user", "content": "Q1"},
        {"role": "assistant", "content": "A1"},
        {"role": "user", "content": "Q2"},
        {"role": "assistant", "content": "A2"},
    ]
    assert render("vicuna", conv, tok)[0] == "USER: Q1 ASSISTANT:A1</s>\n<s>USER: Q2 ASSISTANT:A2</s>\n"


@pytest.mark.parametrize(
    "name, expected",
    [
        ("phi3", "<|user|>\n<image>\nWhat is it?<|end|>\n<|assistant|>\n"),
        ("qwen", "<|im_start|>user\n<image>\nWhat is it?<|im_end|>\n<|im_start|>assistant\n"),
        ("internlm2", "<|im_start|>user\n<image>\nWhat is it?<|im_end|>\n<|im_start|>assistant\n"),
        ("vicuna", "USER: <image>\nWhat is it? ASSISTANT:"),
    ],
)
def test_generation_prompt_is_predict_forwards_instruction(name, expected):
    """predict_forward: ``INSTRUCTION.format(input=text)``, no BOS (``tokenizer.encode`` adds it)."""
    tok = make_tokenizer("internlm2")
    blocks = [{"type": "image"}, {"type": "text", "text": "What is it?"}]
    as_blocks = render(name, [{"role": "user", "content": blocks}], tok, add_generation_prompt=True)[0]
    as_text = render(name, [{"role": "user", "content": "<image>\nWhat is it?"}], tok, add_generation_prompt=True)[0]
    assert as_blocks == as_text == expected
    assert not as_blocks.startswith(tok.bos_token)
    # without add_generation_prompt the assistant header is left out
    assert render(name, [{"role": "user", "content": blocks}], tok)[0] == expected.removesuffix(
        get_template(name).assistant_prefix
    )


CONVERSATIONS = [
    [{"role": "user", "content": "<image>\nWhat is in the picture?"}, {"role": "assistant", "content": "A [SEG]."}],
    [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "<image>\nQ1"},
        {"role": "assistant", "content": "It is [SEG]."},
        {"role": "user", "content": "Q2 "},
        {"role": "user", "content": "and more"},  # consecutive user messages are one turn, as upstream folds them
        {"role": "assistant", "content": "Sure."},
    ],
    [  # a leading answer is skipped, as upstream v2 skips a leading gpt turn
        {"role": "assistant", "content": "Hello!"},
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Bye"},
    ],
]


@pytest.mark.parametrize("name", sorted(CHAT_TEMPLATES))
@pytest.mark.parametrize("flavour", ["phi3", "qwen", "internlm2"])
@pytest.mark.parametrize("conv", CONVERSATIONS, ids=["one-turn", "system-two-turns", "leading-answer"])
def test_jinja_and_training_encoder_render_the_same_text(name, flavour, conv):
    tok = make_tokenizer(flavour)
    tok.add_tokens(["[SEG]"], special_tokens=True)
    system = conv[0]["content"] if conv[0]["role"] == "system" else ""
    messages = conv[1:] if system else conv
    enc = encode_turns(messages_to_turns(messages, "plain"), tok, name, system=system)
    text, spans = render(name, conv, tok, return_assistant_tokens_mask=True)
    # the training sequence starts with the tokenizer's BOS where it has one; the template renders none
    assert tok.decode(enc["input_ids"]) == (tok.bos_token or "") + text
    # the generation spans are exactly the labelled text (answer + suffix, + EOS where it is not the suffix)
    labelled = [tok.decode([t for t, lab in zip(enc["input_ids"], enc["labels"]) if lab != -100])]
    assert ["".join(text[a:b] for a, b in spans)] == labelled


def test_custom_template_round_and_bot_name():
    tpl = {"INSTRUCTION": "[{round}] {bot_name}? {input}\n", "SEP": "\n", "SUFFIX": "</s>", "SUFFIX_AS_EOS": True}
    tok = make_tokenizer("qwen")
    conv = [
        {"role": "user", "content": "x"},
        {"role": "assistant", "content": "y"},
        {"role": "user", "content": "z"},
        {"role": "assistant", "content": "w"},
    ]
    text, _ = render(tpl, conv, tok)
    assert text == "[1] BOT? x\ny</s>\n[2] BOT? z\nw</s>\n"
    enc = encode_turns(messages_to_turns(conv, "plain"), tok, tpl)
    assert tok.decode(enc["input_ids"]) == text


def test_unknown_role_and_late_system_are_template_errors():
    from jinja2.exceptions import TemplateError

    tok = make_tokenizer("qwen")
    with pytest.raises(TemplateError, match="roles system, user and assistant"):
        render("qwen", [{"role": "tool", "content": "x"}], tok)
    with pytest.raises(TemplateError, match="system message must come first"):
        render("qwen", [{"role": "user", "content": "x"}, {"role": "system", "content": "y"}], tok)


@pytest.mark.parametrize(
    "fields, match",
    [
        ({"INSTRUCTION": "{input} {round!r}"}, "no conversions"),
        ({"INSTRUCTION": "{input} {round:>3}"}, "no conversions"),
        ({"INSTRUCTION": "{input} {input.upper}"}, "fields allowed"),
        ({"INSTRUCTION": "U: {input} A:", "assistant_prefix": "B:"}, "assistant_prefix"),
    ],
)
def test_template_strings_are_checked(fields, match):
    with pytest.raises(Sa2VAError, match=match):
        get_template(fields)
