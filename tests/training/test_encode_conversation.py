"""encode_conversation: a processor + images + a conversation -> input_ids + labels, as upstream.

Expected texts are spelled out by hand from SPEC §3 (and upstream's Osprey / RefCOCO / xtuner
code), never built with sa2va_hf's own string helpers. (These cases were ``processor(conversations=...)``
before 0.2; the expected values are unchanged.)
"""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from sa2va_hf import Sa2VAImageProcessor, Sa2VAProcessor
from sa2va_hf.errors import Sa2VAError
from sa2va_hf.training import encode_conversation

from ..tokenizer_utils import label_runs, make_tokenizer

C = "<IMG_CONTEXT>"
USER = {
    "phi3": ("<s><|user|>\n", "<|end|>\n<|assistant|>\n"),
    "qwen": ("<|im_start|>user\n", "<|im_end|>\n<|im_start|>assistant\n"),
    "internlm2": ("<s><|im_start|>user\n", "<|im_end|>\n<|im_start|>assistant\n"),
}
SUFFIX = {"phi3": "<|end|>", "qwen": "<|im_end|>", "internlm2": "<|im_end|>"}


def make_processor(flavour="phi3", **kwargs):
    return Sa2VAProcessor(Sa2VAImageProcessor(), make_tokenizer(flavour), template=flavour, **kwargs)


def image(h, w, seed=0):
    return Image.fromarray(np.random.RandomState(seed).randint(0, 256, (h, w, 3), dtype=np.uint8))


def two_regions(h, w):
    vp = np.zeros((2, h, w), dtype=np.uint8)
    vp[0, : h // 3, : w // 4] = 1
    vp[1, h // 2 :, w // 2 :] = 1
    return vp


def n_context(processor, ids):
    return sum(1 for t in ids if t == processor.image_context_token_id)


def img_str(tiles):
    return "<img>" + C * (256 * tiles) + "</img>"


def regions_str(counts):
    parts = [f"region{i + 1}<vp>" + C * k + "</vp>" for i, k in enumerate(counts)]
    return f"There are {len(counts)} part regions in the picture: " + ", ".join(parts) + ".\n"


@pytest.mark.parametrize("flavour", ["phi3", "qwen", "internlm2"])
def test_osprey_conversation_labels_turn_by_turn(flavour):
    proc = make_processor(flavour)
    vp = two_regions(300, 900)
    conv = [
        {"from": "human", "value": "What is <region1> doing?"},
        {"from": "gpt", "value": "The <dog> runs."},
        {"from": "human", "value": "And <region2>?"},
        {"from": "gpt", "value": "A ball."},
    ]
    out = encode_conversation(proc, images=image(300, 900), conversations=conv, visual_prompts=vp, style="osprey")
    (tiles,) = out["num_patches"].tolist()
    counts = out["region_pixels"][0]
    ids, labels = out["input_ids"][0], out["labels"][0]
    assert n_context(proc, ids) == 256 * tiles + sum(counts)
    pre, post = USER[flavour]
    bos = "<s>" if pre.startswith("<s>") else ""
    first_user = pre + img_str(tiles) + "\n" + regions_str(counts) + "What is region1 doing?" + post
    second_user = "\n" + pre[len(bos) :] + "And region2?" + post
    assert label_runs(proc.tokenizer, ids, labels) == [
        (False, first_user),
        (True, "The dog runs." + SUFFIX[flavour]),
        (False, second_user),
        (True, "A ball." + SUFFIX[flavour]),
        (False, "\n"),
    ]
    assert out["attention_mask"] == [[1] * len(ids)]


def test_llava_style_conversation_with_segmentation_answer():
    proc = make_processor("phi3")
    conv = [
        {"from": "human", "value": "Can you segment the cat in this image?<image>"},
        {"from": "gpt", "value": "It is [SEG]."},
        {"from": "human", "value": "And the dog?"},
        {"from": "gpt", "value": "Sure, [SEG]."},
    ]
    m = np.zeros((2, 96, 96), dtype=np.uint8)
    out = encode_conversation(proc, images=image(96, 96), conversations=conv, masks=m)
    runs = label_runs(proc.tokenizer, out["input_ids"][0], out["labels"][0])
    assert runs == [
        (False, "<s><|user|>\n" + img_str(1) + "\nCan you segment the cat in this image?<|end|>\n<|assistant|>\n"),
        (True, "It is [SEG].<|end|>"),
        (False, "\n<|user|>\nAnd the dog?<|end|>\n<|assistant|>\n"),
        (True, "Sure, [SEG].<|end|>"),
        (False, "\n"),
    ]
    seg = proc.tokenizer.convert_tokens_to_ids("[SEG]")
    assert out["input_ids"][0].count(seg) == 2
    assert out["masks"][0].shape == (2, 96, 96)


def test_refcoco_style_conversation():
    proc = make_processor("phi3")
    conv = [
        {"from": "human", "value": "<image>\nPlease segment the man. "},
        {"from": "gpt", "value": " [SEG]. "},
        {"from": "human", "value": "Please segment the dog."},
        {"from": "gpt", "value": "It is [SEG]."},
    ]
    out = encode_conversation(proc, images=image(96, 96), conversations=conv, style="refcoco")
    assert label_runs(proc.tokenizer, out["input_ids"][0], out["labels"][0]) == [
        (False, "<s><|user|>\n" + img_str(1) + "\nPlease segment the man.<|end|><|assistant|>\n"),
        (True, "[SEG].<|end|>"),
        (False, "<|user|>\nPlease segment the dog.<|end|><|assistant|>\n"),
        (True, "It is [SEG].<|end|>"),
    ]


def test_video_conversation_plain_style():
    proc = make_processor("qwen")
    frames = [image(64, 80, s) for s in range(2)]
    conv = [{"from": "human", "value": "<image>Please segment the cat."}, {"from": "gpt", "value": "[SEG]."}]
    out = encode_conversation(proc, videos=frames, conversations=conv)
    assert label_runs(proc.tokenizer, out["input_ids"][0], out["labels"][0]) == [
        (
            False,
            "<|im_start|>user\n"
            + img_str(1)
            + "\n"
            + img_str(1)
            + "Please segment the cat.<|im_end|>\n<|im_start|>assistant\n",
        ),
        (True, "[SEG].<|im_end|>"),
        (False, "\n"),
    ]


def test_conversation_batch_pads_with_return_tensors():
    proc = make_processor("qwen")
    convs = [
        [{"from": "human", "value": "<image>\nshort"}, {"from": "gpt", "value": "a"}],
        [{"from": "human", "value": "<image>\nlonger question"}, {"from": "gpt", "value": "a longer answer"}],
    ]
    out = encode_conversation(proc, images=[image(96, 96), image(300, 900)], conversations=convs, return_tensors="pt")
    assert out["input_ids"].shape == out["labels"].shape == out["attention_mask"].shape
    lengths = out["attention_mask"].sum(1).tolist()
    assert lengths[0] < lengths[1] == out["input_ids"].shape[1]
    assert (out["labels"][0, lengths[0] :] == -100).all()


def test_max_length_truncation_that_cuts_image_tokens_is_an_error():
    proc = make_processor("qwen")
    conv = [{"from": "human", "value": "<image>\nQ"}, {"from": "gpt", "value": "A"}]
    with pytest.raises(Sa2VAError, match="max_length=100"):
        encode_conversation(proc, images=image(96, 96), conversations=conv, max_length=100)
    out = encode_conversation(proc, images=image(96, 96), conversations=conv, max_length=400)
    assert len(out["input_ids"][0]) <= 400


def test_osprey_style_refuses_dropped_or_missing_regions():
    proc = make_processor("qwen")
    vp = np.zeros((2, 96, 96), dtype=np.uint8)
    vp[0, 1, 1] = 1  # 0 cells: dropped -> region2 would become "region1" under the text
    vp[1, 40:, 40:] = 1
    conv = [{"from": "human", "value": "What is <region2>?"}, {"from": "gpt", "value": "A thing."}]
    with pytest.raises(Sa2VAError, match=r"region\(s\) \[0\].*renumber"):
        encode_conversation(proc, images=image(96, 96), conversations=conv, visual_prompts=vp, style="osprey",
             empty_region="drop")  # fmt: skip
    with pytest.raises(Sa2VAError, match="needs the image's regions as visual_prompts"):
        encode_conversation(proc, images=image(96, 96), conversations=conv, style="osprey")
    with pytest.warns(UserWarning):  # upstream v1: the empty region stays, as region1<vp></vp>
        kept = encode_conversation(proc, images=image(96, 96), conversations=conv, visual_prompts=vp, style="osprey",
                    empty_region="keep")  # fmt: skip
    assert "region1<vp></vp>, region2<vp>" + C in proc.tokenizer.decode(kept["input_ids"][0])


@pytest.mark.parametrize(
    "call, match",
    [
        (dict(conversations=[{"from": "human", "value": "<image>Q"}]), "no user message followed by an answer"),
        (dict(conversations=[{"from": "human", "value": "<image>Q"}, {"from": "gpt", "value": "A"}], max_length="9"),
         "max_length"),
        (dict(conversations=[{"from": "human", "value": "<image>Q"}, {"from": "gpt", "value": "A"}], max_length=0),
         "max_length"),
        (dict(conversations="hello"), "conversations must be"),
        (dict(conversations=[{"from": "human", "value": "<image>Q"}, {"from": "gpt", "value": "A"}], style="x"),
         "style must be one of"),
    ],
)  # fmt: skip
def test_bad_arguments_are_clear_errors(call, match):
    proc = make_processor("qwen")
    with pytest.raises(Sa2VAError, match=match):
        encode_conversation(proc, images=image(96, 96), **call)


def test_the_processor_points_conversations_to_the_training_side():
    proc = make_processor("qwen")
    conv = [{"from": "human", "value": "<image>Q"}, {"from": "gpt", "value": "A"}]
    with pytest.raises(Sa2VAError, match=r"sa2va_hf\.training\.encode_conversation"):
        proc(images=image(96, 96), conversations=conv)
    with pytest.raises(Sa2VAError, match=r"encode_conversation"):
        proc(images=image(96, 96), text="<image>Q", conversation_style="osprey")
