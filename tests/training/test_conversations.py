"""Text side without images: prompt strings, templates, turn folding and label masking.

Expected strings are written out by hand from SPEC §3 / the upstream code, never built
with the functions under test.
"""

from __future__ import annotations

import pytest

from sa2va_hf.chat_templates import ChatTemplate, get_template
from sa2va_hf.errors import Sa2VAError
from sa2va_hf.tokens import image_string, region_string, video_string
from sa2va_hf.training.conversations import encode_turns, insert_region_strings, messages_to_turns, osprey_messages

from ..tokenizer_utils import label_runs, make_tokenizer

C = "<IMG_CONTEXT>"


# --------------------------------------------------------------------------- strings


def test_image_string_counts_256_per_tile():
    assert image_string(1) == "<img>" + C * 256 + "</img>"
    assert image_string(7) == "<img>" + C * (256 * 7) + "</img>"
    assert image_string(2, tokens_per_tile=4) == "<img>" + C * 8 + "</img>"


def test_video_string_one_tile_per_frame_joined_by_newline():
    frame = "<img>" + C * 256 + "</img>"
    assert video_string(3) == frame + "\n" + frame + "\n" + frame
    assert video_string(1) == frame


def test_region_string_matches_spec():
    assert region_string([3, 1]) == (
        "There are 2 part regions in the picture: region1<vp>" + C * 3 + "</vp>, region2<vp>" + C + "</vp>.\n"
    )
    assert region_string([2]) == "There are 1 part regions in the picture: region1<vp>" + C * 2 + "</vp>.\n"
    assert region_string([0, 2]) == (
        "There are 2 part regions in the picture: region1<vp></vp>, region2<vp>" + C * 2 + "</vp>.\n"
    )
    assert region_string([]) == ""


def test_insert_region_strings_after_image_absorbing_one_newline():
    r = "There are 1 part regions in the picture: region1<vp>X</vp>.\n"
    assert insert_region_strings("<image>\nWhat?", [r]) == "<image>\n" + r + "What?"
    assert insert_region_strings("<image>What?", [r]) == "<image>\n" + r + "What?"
    # only one newline is absorbed; leading spaces of the question stay (as upstream keeps them)
    assert insert_region_strings("<image>\n\n What?", [r]) == "<image>\n" + r + "\n What?"
    assert insert_region_strings("a <image>\nb <image>\nc", ["", r]) == "a <image>\nb <image>\n" + r + "c"
    with pytest.raises(Sa2VAError, match="placeholder"):
        insert_region_strings("<image> <image>", [r])


# --------------------------------------------------------------------------- templates


@pytest.mark.parametrize(
    "name, instruction, suffix",
    [
        ("phi3", "<|user|>\n{input}<|end|>\n<|assistant|>\n", "<|end|>"),
        ("qwen", "<|im_start|>user\n{input}<|im_end|>\n<|im_start|>assistant\n", "<|im_end|>"),
        ("internlm2", "<|im_start|>user\n{input}<|im_end|>\n<|im_start|>assistant\n", "<|im_end|>"),
    ],
)
def test_builtin_templates(name, instruction, suffix):
    for alias in (name, f"{name}_chat", f"{name.upper()}-chat"):
        tpl = get_template(alias)
        assert tpl.instruction == instruction
        assert tpl.suffix == suffix
        assert tpl.sep == "\n"
        assert tpl.suffix_as_eos
    assert get_template(name).format_input("hi") == instruction.format(input="hi")


def test_unknown_template_is_a_clear_error():
    with pytest.raises(Sa2VAError, match="unknown chat template 'llama9'"):
        get_template("llama9")
    with pytest.raises(Sa2VAError, match="instruction"):
        get_template({"SUFFIX": "x"})


def test_custom_template_from_xtuner_dict():
    tpl = get_template({"INSTRUCTION": "U: {input}\nA: ", "SEP": "\n\n", "SUFFIX": "</s>", "SUFFIX_AS_EOS": True})
    assert isinstance(tpl, ChatTemplate)
    assert (tpl.instruction, tpl.sep, tpl.suffix, tpl.suffix_as_eos) == ("U: {input}\nA: ", "\n\n", "</s>", True)


# --------------------------------------------------------------------------- folding


def test_messages_to_turns_folds_like_upstream():
    messages = [
        {"from": "gpt", "value": "skipped"},
        {"from": "human", "value": "a "},
        {"from": "human", "value": "b"},
        {"from": "gpt", "value": " A "},
        {"from": "human", "value": "c"},
        {"from": "gpt", "value": "C"},
        {"from": "human", "value": "dangling"},
    ]
    assert messages_to_turns(messages, "plain") == [{"input": "a b", "output": " A "}, {"input": "c", "output": "C"}]
    assert messages_to_turns(messages, "refcoco") == [{"input": "ab", "output": "A"}, {"input": "c", "output": "C"}]
    roles = [{"role": "user", "content": "q"}, {"role": "assistant", "content": "r"}]
    assert messages_to_turns(roles) == [{"input": "q", "output": "r"}]


def test_llava_style_moves_image_to_the_front():
    messages = [{"from": "human", "value": "Look: <image> what is it? "}, {"from": "gpt", "value": "x"}]
    assert messages_to_turns(messages, "llava")[0]["input"] == "<image>\nLook:  what is it?"
    assert messages_to_turns(messages, "plain")[0]["input"] == "Look: <image> what is it? "


def test_osprey_first_turn_is_image_newline_region_string_question():
    regions = [2, 1]
    messages = [
        {"from": "human", "value": "What is <region1> doing? "},
        {"from": "gpt", "value": "The <dog> runs."},
        {"from": "human", "value": "And <region2>?"},
        {"from": "gpt", "value": "A <ball>."},
    ]
    turns = messages_to_turns(osprey_messages(messages, regions), "osprey")
    region = "There are 2 part regions in the picture: region1<vp>" + C * 2 + "</vp>, region2<vp>" + C + "</vp>.\n"
    assert turns == [
        {"input": "<image>\n" + region + "What is region1 doing?", "output": "The dog runs."},
        {"input": "And region2?", "output": "A ball."},
    ]
    limited = messages_to_turns(osprey_messages(messages[:2], [1], question_suffix=" Short."), "osprey")
    assert limited[0]["input"].endswith("What is region1 doing?  Short.")


# --------------------------------------------------------------------------- encoding


PHI3_RUNS = [
    (False, "<s><|user|>\nQ1 is here<|end|>\n<|assistant|>\n"),
    (True, "The end [SEG].<|end|>"),
    (False, "\n<|user|>\nQ2<|end|>\n<|assistant|>\n"),
    (True, "It is [SEG].<|end|>"),
    (False, "\n"),
]
IM_RUNS = [
    (False, "{bos}<|im_start|>user\nQ1 is here<|im_end|>\n<|im_start|>assistant\n"),
    (True, "The end [SEG].<|im_end|>"),
    (False, "\n<|im_start|>user\nQ2<|im_end|>\n<|im_start|>assistant\n"),
    (True, "It is [SEG].<|im_end|>"),
    (False, "\n"),
]
TURNS = [{"input": "Q1 is here", "output": "The end [SEG]."}, {"input": "Q2", "output": "It is [SEG]."}]


@pytest.mark.parametrize(
    "flavour, template, runs",
    [
        ("phi3", "phi3", PHI3_RUNS),
        ("qwen", "qwen", [(on, t.format(bos="")) for on, t in IM_RUNS]),
        ("internlm2", "internlm2", [(on, t.format(bos="<s>")) for on, t in IM_RUNS]),
        ("qwen", "phi3", [(on, t.replace("<s>", "")) for on, t in PHI3_RUNS]),  # no BOS in the tokenizer: none
    ],
)
def test_labels_turn_by_turn(flavour, template, runs):
    tok = make_tokenizer(flavour)
    tok.add_tokens(["[SEG]"], special_tokens=True)
    enc = encode_turns(TURNS, tok, template)
    assert label_runs(tok, enc["input_ids"], enc["labels"]) == runs
    # every piece is tokenized on its own, without special tokens (xtuner's encode_fn)
    tpl = get_template(template)
    pieces = []
    for t in TURNS:
        pieces += tok.encode(tpl.instruction.format(input=t["input"]), add_special_tokens=False)
        pieces += tok.encode(t["output"] + tpl.suffix, add_special_tokens=False)
        pieces += tok.encode("\n", add_special_tokens=False)
    bos = [tok.bos_token_id] if tok.bos_token_id is not None else []
    assert enc["input_ids"] == bos + pieces


def test_template_without_suffix_as_eos_adds_eos_and_bos_every_turn():
    tok = make_tokenizer("phi3")
    tpl = {"INSTRUCTION": "U:{input}\nA:", "SEP": "\n"}
    enc = encode_turns([{"input": "x", "output": "y"}, {"input": "z", "output": "w"}], tok, tpl)
    assert label_runs(tok, enc["input_ids"], enc["labels"]) == [
        (False, "<s>U:x\nA:"),
        (True, "y</s>"),
        (False, "\n<s>U:z\nA:"),
        (True, "w</s>"),
        (False, "\n"),
    ]


@pytest.mark.parametrize("flavour", ["phi3", "qwen"])
def test_refcoco_variant_has_no_separator(flavour):
    tok = make_tokenizer(flavour)
    enc = encode_turns(TURNS, tok, "qwen" if flavour == "qwen" else "phi3", style="refcoco")
    bos = "<s>" if flavour == "phi3" else ""
    suffix = "<|im_end|>" if flavour == "qwen" else "<|end|>"
    # upstream's ReferSegmDataset overrides INSTRUCTION with this phi3-style one, whatever the template
    assert label_runs(tok, enc["input_ids"], enc["labels"]) == [
        (False, bos + "<|user|>\nQ1 is here<|end|><|assistant|>\n"),
        (True, "The end [SEG]." + suffix),
        (False, "<|user|>\nQ2<|end|><|assistant|>\n"),
        (True, "It is [SEG]." + suffix),
    ]
    own = encode_turns(TURNS[:1], tok, "phi3", style="refcoco", refcoco_instruction=None)
    assert tok.decode(own["input_ids"]) == bos + "<|user|>\nQ1 is here<|end|>\n<|assistant|>\nThe end [SEG].<|end|>"


def test_truncation_cuts_ids_and_labels_together():
    tok = make_tokenizer("phi3")
    full = encode_turns(TURNS, tok, "phi3")
    cut = encode_turns(TURNS, tok, "phi3", max_length=10)
    assert cut["input_ids"] == full["input_ids"][:10]
    assert cut["labels"] == full["labels"][:10]
    assert encode_turns(TURNS, tok, "phi3", max_length=10_000) == full


# --------------------------------------------------------------------------- bad templates / turns


@pytest.mark.parametrize(
    "template, match",
    [
        ({"INSTRUCTION": "{input} {"}, "instruction"),  # str.format: ValueError
        ({"INSTRUCTION": "{input} {0}"}, "instruction"),  # IndexError
        ({"INSTRUCTION": "{input} {user}"}, "instruction"),  # KeyError
        ({"INSTRUCTION": "{input}", "SYSTEM": "{sys}"}, "system"),
        ({"INSTRUCTION": "{input}", "SUFFIX": 3}, "suffix"),
        ({"INSTRUCTION": "{input}", "STOP_WORDS": [1]}, "stop_words"),
    ],
)
def test_bad_custom_template_is_refused_up_front(template, match):
    with pytest.raises(Sa2VAError, match=match):
        get_template(template)


def test_custom_template_fields_like_xtuner():
    # xtuner templates may omit SUFFIX / SEP (None here), use {round} and {bot_name}; predict_forward
    # formats with bot_name="BOT"
    tpl = get_template({"INSTRUCTION": "[{round}] {bot_name}? {input}", "SUFFIX": None, "SEP": None})
    assert (tpl.suffix, tpl.sep) == ("", "")
    assert tpl.format_input("hi", round=2) == "[2] BOT? hi"
    tok = make_tokenizer("qwen")
    enc = encode_turns([{"input": "x", "output": "y"}], tok, tpl)
    assert tok.decode(enc["input_ids"]) == "[1] BOT? xy<|im_end|>"  # no suffix: EOS added, no sep
    assert get_template({"INSTRUCTION": "{input}", "STOP_WORDS": "</s>"}).stop_words == ("</s>",)


@pytest.mark.parametrize(
    "turns, match",
    [
        ("just a string", "list"),
        (["a"], "turn 0 must be a dict"),
        ([{"input": "a"}], "no 'output'"),
        ([{"input": 1, "output": "b"}], "'input' must be a string"),
        ([{"input": "a", "output": ["b"]}], "'output' must be a string"),
    ],
)
def test_bad_turns_are_clear_errors(turns, match):
    with pytest.raises(Sa2VAError, match=match):
        encode_turns(turns, make_tokenizer(), "phi3")


@pytest.mark.parametrize("max_length", [0, -1, "100", 10.5, True])
def test_bad_max_length_is_a_clear_error(max_length):
    with pytest.raises(Sa2VAError, match="max_length"):
        encode_turns(TURNS, make_tokenizer(), "phi3", max_length=max_length)


def test_bad_refcoco_instruction_is_a_clear_error():
    with pytest.raises(Sa2VAError, match="instruction"):
        encode_turns(TURNS, make_tokenizer(), "phi3", style="refcoco", refcoco_instruction="{inp}")


@pytest.mark.parametrize(
    "message, match",
    [
        ({"from": "human"}, "needs a 'value'"),
        ({"role": "user"}, "needs a 'content'"),
        ("hello", "must be a dict"),
    ],
)
def test_bad_messages_are_clear_errors(message, match):
    with pytest.raises(Sa2VAError, match=match):
        messages_to_turns([message, {"from": "gpt", "value": "x"}])
