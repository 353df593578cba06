"""Sa2VAProcessor: <image> expansion, region strings, <IMG_CONTEXT> counts, errors.

Expected prompts are spelled out by hand from SPEC §3 (and upstream's predict_forward code), never
built with sa2va_hf's own string helpers. Prompts are formatted the transformers way,
``apply_chat_template`` then ``__call__`` (:func:`chat`); since 0.2 ``__call__`` adds no template.
"""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from sa2va_hf import Sa2VAImageProcessor, Sa2VAProcessor
from sa2va_hf.errors import Sa2VAError

from ..tokenizer_utils import make_tokenizer

C = "<IMG_CONTEXT>"
USER = {
    "phi3": ("<s><|user|>\n", "<|end|>\n<|assistant|>\n"),
    "qwen": ("<|im_start|>user\n", "<|im_end|>\n<|im_start|>assistant\n"),
    "internlm2": ("<s><|im_start|>user\n", "<|im_end|>\n<|im_start|>assistant\n"),
}
SUFFIX = {"phi3": "<|end|>", "qwen": "<|im_end|>", "internlm2": "<|im_end|>"}


def make_processor(flavour="phi3", **kwargs):
    return Sa2VAProcessor(Sa2VAImageProcessor(), make_tokenizer(flavour), template=flavour, **kwargs)


def chat(proc, text, system=None):
    """The prompt predict_forward builds for ``text``: one user turn, ready for the answer."""
    messages = ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": text}]
    return proc.apply_chat_template(messages, add_generation_prompt=True)


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


# --------------------------------------------------------------------------- tokens


def test_adds_sa2va_special_tokens_once_in_upstream_order():
    tok = make_tokenizer("qwen", image_tokens=False)
    base = len(tok)
    proc = Sa2VAProcessor(Sa2VAImageProcessor(), tok, template="qwen")
    wanted = ["[SEG]", "<p>", "</p>", "<vp>", "</vp>", "<img>", "</img>", "<IMG_CONTEXT>"]
    assert proc.added_tokens == wanted
    assert [tok.convert_tokens_to_ids(t) for t in wanted] == list(range(base, base + 8))
    for t in wanted:  # each is one token now, even inside text
        assert tok.encode(f"a{t}b", add_special_tokens=False)[1] == tok.convert_tokens_to_ids(t)
    again = Sa2VAProcessor(Sa2VAImageProcessor(), tok, template="qwen")
    assert again.added_tokens == [] and len(tok) == base + 8


def test_keeps_existing_image_tokens():
    tok = make_tokenizer("phi3", image_tokens=True)
    ids = [tok.convert_tokens_to_ids(t) for t in ("<img>", "</img>", "<IMG_CONTEXT>")]
    proc = Sa2VAProcessor(Sa2VAImageProcessor(), tok)
    assert proc.added_tokens == ["[SEG]", "<p>", "</p>", "<vp>", "</vp>"]
    assert [tok.convert_tokens_to_ids(t) for t in ("<img>", "</img>", "<IMG_CONTEXT>")] == ids


# --------------------------------------------------------------------------- inference prompts


SIZES = [(96, 96), (200, 300), (300, 1400)]  # (h, w): 1 tile, 6 + thumbnail, 5 + thumbnail


@pytest.mark.parametrize("flavour", ["phi3", "qwen", "internlm2"])
@pytest.mark.parametrize("size", SIZES)
def test_plain_image_prompt(flavour, size):
    proc = make_processor(flavour)
    out = proc(images=image(*size), text=chat(proc, "<image>\nWhat is in the picture?"))
    (tiles,) = out["num_patches"].tolist()
    assert tiles == proc.image_processor.num_tiles(size[1], size[0])
    ids = out["input_ids"][0]
    assert n_context(proc, ids) == 256 * tiles
    pre, post = USER[flavour]
    assert proc.tokenizer.decode(ids) == pre + img_str(tiles) + "\nWhat is in the picture?" + post
    assert out["attention_mask"][0] == [1] * len(ids)
    assert out["pixel_values"].shape == (tiles, 3, 448, 448)


@pytest.mark.parametrize("flavour", ["phi3", "qwen", "internlm2"])
@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("text", ["<image>\nDescribe region1 please.", "<image>Describe region1 please."])
def test_visual_prompt_region_string(flavour, size, text):
    proc = make_processor(flavour)
    vp = two_regions(*size)
    out = proc(images=image(*size), text=chat(proc, text), visual_prompts=vp)
    (tiles,) = out["num_patches"].tolist()
    (counts,) = out["region_pixels"]
    assert counts == [int(m.sum()) for m in out["prompt_masks"][0]] and min(counts) > 0
    ids = out["input_ids"][0]
    assert n_context(proc, ids) == 256 * tiles + sum(counts)
    pre, post = USER[flavour]
    # upstream predict_forward: text.replace("<image>", image string + "\nThere are ... .\n"), nothing
    # absorbed: "<image>\nQ" gets a blank line before Q (upstream's region-caption eval prompt)
    expected = pre + text.replace("<image>", img_str(tiles) + "\n" + regions_str(counts)) + post
    assert proc.tokenizer.decode(ids) == expected
    assert ("\n\nDescribe" in expected) == text.startswith("<image>\n")
    assert out["vp_overall_mask"].tolist() == [False] * (tiles - 1) + [True]


def test_empty_region_kept_gives_empty_vp_and_counts_still_match():
    proc = make_processor()
    vp = np.zeros((2, 96, 96), dtype=np.uint8)
    vp[0, 1, 1] = 1  # subsampled away by 'nearest'
    vp[1, 50:, 50:] = 1
    with pytest.warns(UserWarning):
        out = proc(images=image(96, 96), text="<image>\nQ", visual_prompts=vp, empty_region="keep")
    counts = out["region_pixels"][0]
    assert counts[0] == 0 and counts[1] > 0
    ids = out["input_ids"][0]
    assert n_context(proc, ids) == 256 + counts[1]
    assert "region1<vp></vp>, region2<vp>" in proc.tokenizer.decode(ids)


def test_text_as_given_and_system_prompt():
    proc = make_processor("qwen")
    raw = proc(images=image(96, 96), text="<image>\nQ")
    assert proc.tokenizer.decode(raw["input_ids"][0]) == img_str(1) + "\nQ"
    sys_out = proc(images=image(200, 300), text=chat(proc, "<image>\nQ", system="Be brief."))
    assert proc.tokenizer.decode(sys_out["input_ids"][0]).startswith(
        "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\n<img>"
    )


def test_batch_of_prompts_with_different_tile_counts():
    proc = make_processor("qwen")
    imgs = [image(200, 300, 1), image(300, 900, 2)]
    out = proc(images=imgs, text=["<image>\nA?", "<image>\nB?"], return_tensors="pt")
    tiles = out["num_patches"].tolist()
    assert out["pixel_values"].shape[0] == sum(tiles)
    assert out["input_ids"].shape[0] == 2
    for row, mask, t in zip(out["input_ids"], out["attention_mask"], tiles):
        ids = row[mask.bool()].tolist()
        assert n_context(proc, ids) == 256 * t


@pytest.mark.parametrize("side", ["left", "right"])
def test_batch_padding_without_pad_token_uses_eos(side):
    proc = make_processor("internlm2")
    assert proc.tokenizer.pad_token_id is None
    out = proc(
        images=[image(96, 96), image(300, 900)],
        text=["<image>\nA?", "<image>\nB?"],
        return_tensors="pt",
        padding_side=side,
    )
    short, long_ = out["attention_mask"].sum(1).tolist()
    assert short < long_ == out["input_ids"].shape[1]
    pad = out["input_ids"][0, : long_ - short] if side == "left" else out["input_ids"][0, short:]
    assert (pad == proc.tokenizer.eos_token_id).all()
    mask = out["attention_mask"][0].bool()
    assert n_context(proc, out["input_ids"][0][mask].tolist()) == 256
    assert mask[-1].item() == (side == "left")


def test_two_images_in_one_prompt_follow_placeholder_order():
    proc = make_processor("qwen")
    out = proc(images=[image(300, 900), image(96, 96)], text=chat(proc, "A <image> and B <image>?"))
    t1, t2 = out["num_patches"].tolist()
    assert t1 > 1 and t2 == 1
    assert proc.tokenizer.decode(out["input_ids"][0]) == (
        "<|im_start|>user\nA " + img_str(t1) + " and B " + img_str(t2) + "?<|im_end|>\n<|im_start|>assistant\n"
    )


def test_video_frames_are_single_tiles_joined_by_newline():
    proc = make_processor("qwen")
    frames = [image(300, 900, s) for s in range(3)]
    masks = np.zeros((2, 3, 300, 900), dtype=np.uint8)
    masks[0, 1, :10, :10] = 1
    out = proc(videos=frames, text=chat(proc, "<image>Please segment the cat."), masks=masks)
    assert out["pixel_values"].shape == (3, 3, 448, 448)
    assert out["g_pixel_values"].shape == (3, 3, 1024, 1024)
    assert out["num_frames"].tolist() == [3]
    assert out["masks"][0].shape == (6, 300, 900) and out["masks"][0][1, :10, :10].all()
    ids = out["input_ids"][0]
    assert n_context(proc, ids) == 3 * 256
    frame = img_str(1)
    assert proc.tokenizer.decode(ids) == (
        "<|im_start|>user\n" + frame + "\n" + frame + "\n" + frame
        + "Please segment the cat.<|im_end|>\n<|im_start|>assistant\n"
    )  # fmt: skip
    # a frame is the whole frame resized to 448x448: the image processor's 1-tile output
    single = proc.image_processor(frames[1], max_tiles=1)
    np.testing.assert_array_equal(out["pixel_values"][1], single["pixel_values"][0])


def test_video_masks_as_nested_lists_with_missing_frames():
    proc = make_processor("qwen")
    frames = np.stack([np.asarray(image(64, 80, s)) for s in range(2)])
    m = np.zeros((64, 80), dtype=np.uint8)
    m[3:9, 4:20] = 1
    out = proc(videos=frames, text="<image>x", masks=[[m, None], [None, m]])
    got = out["masks"][0]
    assert got.shape == (4, 64, 80)
    assert [int(x.sum()) for x in got] == [m.sum(), 0, 0, m.sum()]


# --------------------------------------------------------------------------- errors


def test_placeholder_image_mismatch_is_a_clear_error():
    proc = make_processor()
    with pytest.raises(Sa2VAError, match=r"2 <image> placeholder\(s\).*1 image"):
        proc(images=image(200, 300), text="<image> and <image>")
    with pytest.raises(Sa2VAError, match=r"0 <image> placeholder"):
        proc(images=image(200, 300), text="no placeholder")
    with pytest.raises(Sa2VAError, match=r"1 <image> placeholder.*0 image"):
        proc(text="<image> but no image")
    with pytest.raises(Sa2VAError, match="not both"):
        proc(images=image(200, 300), videos=[image(200, 300)], text="<image>")


def test_unknown_template_is_a_clear_error():
    with pytest.raises(Sa2VAError, match="unknown chat template"):
        Sa2VAProcessor(Sa2VAImageProcessor(), make_tokenizer(), template="llama9")


def test_context_token_text_in_user_input_is_caught():
    proc = make_processor()
    with pytest.raises(Sa2VAError, match="<IMG_CONTEXT> tokens"):
        proc(images=image(200, 300), text="<image>\nsneaky <IMG_CONTEXT>")


def test_text_only_prompt():
    proc = make_processor("qwen")
    out = proc(text=chat(proc, "Hello"))
    assert proc.tokenizer.decode(out["input_ids"][0]) == "<|im_start|>user\nHello<|im_end|>\n<|im_start|>assistant\n"
    assert proc(text="Hello")["input_ids"] == [proc.tokenizer.encode("Hello")]  # as given: processor(t) == tokenizer(t)


def test_batch_with_visual_prompts_and_a_dropped_region():
    proc = make_processor("qwen")
    vp_a = np.zeros((2, 96, 96), dtype=np.uint8)
    vp_a[0, 1, 1] = 1  # 0 cells: dropped
    vp_a[1, 40:, 40:] = 1
    vp_b = two_regions(300, 900)
    out = proc(
        images=[image(96, 96), image(300, 900)],
        text=[chat(proc, "<image>\nA?"), chat(proc, "<image>\nB?")],
        visual_prompts=[vp_a, vp_b],
        empty_region="drop",
    )
    assert out["dropped_regions"] == [[0], []]
    (ka,), kb = out["region_pixels"][0], out["region_pixels"][1]
    ta, tb = out["num_patches"].tolist()
    a, b = (proc.tokenizer.decode(ids) for ids in out["input_ids"])
    assert (
        a == "<|im_start|>user\n" + img_str(ta) + "\n" + regions_str([ka]) + "\nA?<|im_end|>\n<|im_start|>assistant\n"
    )
    assert b == "<|im_start|>user\n" + img_str(tb) + "\n" + regions_str(kb) + "\nB?<|im_end|>\n<|im_start|>assistant\n"
    assert [n_context(proc, ids) for ids in out["input_ids"]] == [256 * ta + ka, 256 * tb + sum(kb)]


@pytest.mark.parametrize(
    "call, match",
    [
        (dict(text=3), "text must be a string"),
        (dict(text="<image>", return_tensors="tf"), "return_tensors"),
    ],
)  # fmt: skip
def test_bad_call_arguments_are_clear_errors(call, match):
    proc = make_processor("qwen")
    with pytest.raises(Sa2VAError, match=match):
        proc(images=image(96, 96), **call)


def test_bad_constructor_arguments_are_clear_errors():
    with pytest.raises(Sa2VAError, match="instruction"):
        Sa2VAProcessor(Sa2VAImageProcessor(), make_tokenizer(), template={"INSTRUCTION": "no placeholder"})


def test_bad_video_masks_are_a_clear_error():
    proc = make_processor("qwen")
    with pytest.raises(Sa2VAError, match="list over objects"):
        proc(videos=[image(64, 80, s) for s in range(2)], text="<image>x", masks=5)


INSTRUCTION = {
    "vicuna": "USER: {input} ASSISTANT:",
    "phi3": "<|user|>\n{input}<|end|>\n<|assistant|>\n",
    "qwen": "<|im_start|>user\n{input}<|im_end|>\n<|im_start|>assistant\n",
    "internlm2": "<|im_start|>user\n{input}<|im_end|>\n<|im_start|>assistant\n",
}


@pytest.mark.parametrize(
    "template, flavour", [("phi3", "phi3"), ("qwen", "qwen"), ("internlm2", "internlm2"), ("vicuna", "phi3")]
)
@pytest.mark.parametrize("text", ["<image>\nWhat is region1?", "<image>What is region1?", "Look: <image> the end"])
@pytest.mark.parametrize("tokenize", [False, True], ids=["render-then-call", "tokenize"])
def test_inference_ids_are_predict_forward_ids(template, flavour, text, tokenize):
    """Ids, not only the decoded text: predict_forward formats the whole prompt, then calls
    ``tokenizer.encode(input_text)`` once (with the tokenizer's special tokens). Tokenizing pieces
    apart decodes to the same string but gives other ids with a real BPE."""
    proc = Sa2VAProcessor(Sa2VAImageProcessor(), make_tokenizer(flavour), template=template)
    size = (200, 300)
    vp = two_regions(*size)
    messages = [{"role": "user", "content": text}]
    if tokenize:
        out = proc.apply_chat_template(
            messages, add_generation_prompt=True, tokenize=True, return_dict=True,
            processor_kwargs={"images": [image(*size)], "visual_prompts": vp},
        )  # fmt: skip
    else:
        out = proc(
            images=image(*size), text=proc.apply_chat_template(messages, add_generation_prompt=True), visual_prompts=vp
        )
    (tiles,) = out["num_patches"].tolist()
    (counts,) = out["region_pixels"]
    # written out as predict_forward does it (modeling_sa2va_chat.py), with upstream's INSTRUCTION strings
    vp_token_str = (
        f"\nThere are {len(counts)} part regions in the picture: "
        + ", ".join(f"region{i + 1}<vp>" + C * k + "</vp>" for i, k in enumerate(counts))
        + ".\n"
    )
    image_token_str = ("<img>" + C * (256 * tiles) + "</img>" + "\n") * 1
    input_text = INSTRUCTION[template].format(input=text.replace("<image>", image_token_str.strip() + vp_token_str))
    assert out["input_ids"][0] == proc.tokenizer.encode(input_text)
