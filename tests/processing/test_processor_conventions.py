"""Sa2VAProcessor behaves like a transformers processor: text as given, apply_chat_template,
kwargs merged by ProcessorMixin, model_input_names, empty calls refused.

The conventions come from transformers' own processor test mixin (``tests/test_processing_common.py``);
these are the project's tests of them. Expected texts are written out from SPEC §3.
"""

from __future__ import annotations

import inspect

import numpy as np
import pytest
import torch
from PIL import Image
from transformers.processing_utils import ImagesKwargs, TextKwargs

from sa2va_hf import Sa2VAError, Sa2VAImageProcessor, Sa2VAProcessor
from sa2va_hf.training import encode_conversation

from ..tokenizer_utils import make_tokenizer

C = "<IMG_CONTEXT>"


def make(template="qwen", flavour=None, **tokenizer_kwargs):
    tok = make_tokenizer(flavour or {"vicuna": "phi3"}.get(template, template), **tokenizer_kwargs)
    return Sa2VAProcessor(Sa2VAImageProcessor(), tok, template=template)


def image(h=96, w=96, seed=0):
    return Image.fromarray(np.random.RandomState(seed).randint(0, 256, (h, w, 3), dtype=np.uint8))


def img_str(tiles):
    return "<img>" + C * (256 * tiles) + "</img>"


def user(text):
    return [{"role": "user", "content": text}]


# --------------------------------------------------------------------------- text as given


@pytest.mark.parametrize("template", ["phi3", "qwen", "internlm2", "vicuna"])
def test_text_is_taken_as_given_and_never_templated_twice(template):
    proc = make(template)
    assert proc(text="Hello there")["input_ids"] == [proc.tokenizer("Hello there")["input_ids"]]
    prompt = proc.apply_chat_template(user("<image>\nQ"), add_generation_prompt=True)
    ids = proc(images=image(), text=prompt)["input_ids"][0]
    decoded = proc.tokenizer.decode(ids)
    assert decoded == (proc.tokenizer.bos_token or "") + prompt.replace("<image>", img_str(1))
    head = proc.chat_template_config.instruction.split("{input}")[0]
    assert decoded.count(head) == 1
    bos = proc.tokenizer.bos_token_id
    if bos is not None:  # the template renders no BOS, the tokenizer adds one: never two
        assert ids[0] == bos and ids[1] != bos
        tokenized = proc.apply_chat_template(user("Q"), add_generation_prompt=True, tokenize=True)
        assert tokenized[0][0] == bos and tokenized[0][1] != bos


# --------------------------------------------------------------------------- apply_chat_template


def test_apply_chat_template_with_per_sample_images_batched():
    proc = make("internlm2")  # no pad token: padded with EOS, as upstream generation does
    a, b, c = image(96, 96, 1), image(300, 900, 2), image(200, 300, 3)
    conversations = [
        [{"role": "user", "content": [{"type": "image", "image": a}, {"type": "text", "text": "A?"}]}],
        [{"role": "user", "content": [{"type": "text", "text": "Compare "}, {"type": "image", "image": b},
                                      {"type": "text", "text": "and "}, {"type": "image", "image": c}]}],
        [{"role": "user", "content": "No picture."}],
    ]  # fmt: skip
    out = proc.apply_chat_template(
        conversations, add_generation_prompt=True, tokenize=True, return_dict=True, return_tensors="pt"
    )
    ta, tb, tc = out["num_patches"].tolist()
    assert (ta, tb, tc) == (1, proc.image_processor.num_tiles(900, 300), proc.image_processor.num_tiles(300, 200))
    assert out["pixel_values"].shape == (ta + tb + tc, 3, 448, 448)
    head, tail = "<s><|im_start|>user\n", "<|im_end|>\n<|im_start|>assistant\n"
    rows = [proc.tokenizer.decode(r[m.bool()]) for r, m in zip(out["input_ids"], out["attention_mask"])]
    assert rows == [
        head + img_str(ta) + "\nA?" + tail,
        head + "Compare " + img_str(tb) + "\nand " + img_str(tc) + "\n" + tail,
        head + "No picture." + tail,
    ]
    assert isinstance(out["input_ids"], torch.Tensor) and out["input_ids"].shape[0] == 3


def test_per_sample_image_counts_must_match_each_text():
    proc = make("qwen")
    with pytest.raises(Sa2VAError, match=r"sample 1: .* 1 <image> placeholder\(s\) but 2 image\(s\)"):
        proc(images=[[image()], [image(), image()]], text=["<image>A", "<image>B"])


@pytest.mark.parametrize("template", ["phi3", "qwen", "internlm2", "vicuna"])
def test_chat_template_ids_and_assistant_mask_equal_the_training_encoders(template):
    """The same conversation through the Jinja template (apply_chat_template) and through the
    training encoder gives the same ids, and the assistant mask is exactly the labelled tokens."""
    proc = make(template)
    conversation = [
        {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "What is it?"}]},
        {"role": "assistant", "content": "A cat [SEG]."},
        {"role": "user", "content": "And now?"},
        {"role": "assistant", "content": "Still a cat."},
    ]
    out = proc.apply_chat_template(
        conversation, tokenize=True, return_dict=True, return_assistant_tokens_mask=True,
        processor_kwargs={"images": [image(200, 300)]},
    )  # fmt: skip
    train = encode_conversation(
        proc,
        images=image(200, 300),
        conversations=[
            {"from": "human", "value": "<image>\nWhat is it?"},
            {"from": "gpt", "value": "A cat [SEG]."},
            {"from": "human", "value": "And now?"},
            {"from": "gpt", "value": "Still a cat."},
        ],
    )
    assert out["input_ids"][0] == train["input_ids"][0]
    assert out["assistant_masks"][0] == [int(lab != -100) for lab in train["labels"][0]]
    np.testing.assert_array_equal(out["pixel_values"], train["pixel_values"])


def test_continue_final_message_and_tokenize_without_dict():
    proc = make("phi3")
    conv = [*user("Q"), {"role": "assistant", "content": "It is"}]
    assert proc.apply_chat_template(conv, continue_final_message=True) == "<|user|>\nQ<|end|>\n<|assistant|>\nIt is"
    ids = proc.apply_chat_template(user("Q"), add_generation_prompt=True, tokenize=True)
    assert proc.tokenizer.decode(ids[0]) == "<s><|user|>\nQ<|end|>\n<|assistant|>\n"


# --------------------------------------------------------------------------- kwargs


def test_tokenizer_init_kwargs_are_defaults_and_call_kwargs_override_them():
    proc = make("qwen", max_length=600, padding="max_length")
    out = proc(images=image(), text="<image>\nQ", return_tensors="pt")
    assert out["input_ids"].shape[-1] == 600
    assert proc(images=image(), text="<image>\nQ", max_length=700, return_tensors="pt")["input_ids"].shape[-1] == 700
    assert len(proc(text="Q", padding=False)["input_ids"][0]) == len(proc.tokenizer("Q")["input_ids"])


def test_nested_kwargs_are_accepted():
    proc = make("qwen")
    out = proc(
        images=image(300, 900),
        text="<image>\nQ",
        images_kwargs={"max_tiles": 1, "do_normalize": False},
        text_kwargs={"padding": "max_length", "max_length": 400},
        common_kwargs={"return_tensors": "pt"},
    )
    assert out["num_patches"].tolist() == [1] and out["pixel_values"].min() >= 0  # not normalized
    assert out["input_ids"].shape == (1, 400)


@pytest.mark.parametrize("common", [{"padding": True}, {"max_tiles": 2}])
def test_common_kwargs_take_only_options_of_every_modality(common):
    """transformers hands common_kwargs to each modality and type-checks each: an option of one
    modality there is a clear ValueError, not transformers' TypeError from a merged TypedDict."""
    with pytest.raises(ValueError, match=f"{next(iter(common))!r} in common_kwargs: .* not an option of each"):
        make("qwen")(images=image(), text="<image>", common_kwargs=common)


def test_an_option_given_flat_and_nested_is_an_error():
    proc = make("qwen")
    with pytest.raises(ValueError, match="max_tiles was passed two times"):
        proc(images=image(), text="<image>", images_kwargs={"max_tiles": 2}, max_tiles=3)
    with pytest.raises(ValueError, match="padding was passed two times"):
        proc(text="Q", text_kwargs={"padding": "do_not_pad"}, padding="max_length")


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"max_tile": 3}, "'max_tile'; did you mean 'max_tiles'"),
        ({"images_kwargs": {"prompt_mode": "pool"}}, "'prompt_mode'; did you mean 'prompt_mask_mode'"),
        ({"text_kwargs": {"paddin": True}}, "'paddin'; did you mean 'padding'"),
        ({"videos_kwargs": {"fps": 2}}, "samples no frames"),
        ({"num_frames": 8}, "samples no frames"),
        ({"videos_kwargs": {"max_tiles": 2}}, "frames take the image options, in images_kwargs"),
        ({"videos_kwargs": {"max_llm_frame": 2}}, "did you mean 'max_llm_frames'"),
        ({"audio_kwargs": {}}, "no audio"),
        ({"images_kwargs": 3}, "images_kwargs must be a dict"),
        ({"conversations": [{"from": "human", "value": "Q"}]}, r"sa2va_hf\.training\.encode_conversation"),
        ({"conversation_style": "osprey"}, "encode_conversation"),
        ({"system": "Be brief."}, "apply_chat_template"),
        ({"apply_template": False}, "as given"),
        ({"max_tiles": "3"}, "max_tiles"),
        ({"size": {"height": 224, "width": 224}}, "image_size"),
    ],
)
def test_unknown_moved_and_refused_options_are_clear_errors(kwargs, match):
    with pytest.raises(Sa2VAError, match=match):
        make("qwen")(images=image(), text="<image>", **kwargs)


def test_no_init_argument_shares_a_name_with_a_call_option():
    init = set(inspect.signature(Sa2VAProcessor.__init__).parameters)
    call_options = set(TextKwargs.__annotations__) | set(ImagesKwargs.__annotations__)
    assert not init & call_options, init & call_options


# --------------------------------------------------------------------------- inputs and outputs


@pytest.mark.parametrize(
    "call, match",
    [
        ({}, "needs images, text or videos"),
        ({"text": "Q", "visual_prompts": np.ones((1, 96, 96), np.uint8)}, "visual_prompts need images"),
        ({"text": "Q", "masks": np.ones((1, 96, 96), np.uint8)}, "masks need images or videos"),
        ({"text": "Q", "audio": np.zeros(16000)}, "no audio"),
        ({"images": [], "text": "Q"}, "empty list"),
        ({"images": Image.new("RGB", (5, 0)), "text": "<image>"}, "5x0"),
    ],
)
def test_bad_calls_are_value_errors(call, match):
    with pytest.raises(ValueError, match=match):
        make("qwen")(**call)


def test_model_input_names_are_the_keys_returned():
    proc = make("qwen")
    vp = np.zeros((2, 96, 96), np.uint8)
    vp[0, 1, 1] = 1  # dropped
    vp[1, 40:] = 1
    full = proc(images=image(), text="<image>\nQ", visual_prompts=vp, masks=vp, empty_region="drop")
    video = proc(videos=[image(), image()], text="<image>", masks=np.zeros((1, 2, 96, 96), np.uint8))
    flagged = proc(images=image(), text="<image>Q", return_mm_token_type_ids=True, return_text_replacement_offsets=True)
    # images and videos never come in one call: together, their fullest calls return every name
    assert set(full.keys()) | set(video.keys()) | set(flagged.keys()) == set(proc.model_input_names)
    assert set(proc.model_input_names) - set(full.keys()) == {
        "num_frames", "num_llm_frames", "mm_token_type_ids", "text_replacement_offsets"
    }  # fmt: skip
    for partial in (
        proc(images=image()),
        proc(text="Q"),
        proc(images=image(), text="<image>"),
        proc(videos=[image(), image()], text="<image>"),
    ):
        assert set(partial.keys()) <= set(proc.model_input_names)


def test_return_tensors_and_mm_token_type_ids():
    proc = make("qwen")
    vp = np.zeros((1, 96, 96), np.uint8)
    vp[0, 40:] = 1
    out = proc(images=image(), text="<image>Q", visual_prompts=vp, return_tensors="pt", return_mm_token_type_ids=True)
    assert isinstance(out["input_ids"], torch.Tensor) and isinstance(out["pixel_values"], torch.Tensor)
    assert isinstance(out["prompt_masks"], list) and isinstance(out["prompt_masks"][0], torch.Tensor)
    ids = out["input_ids"][0].tolist()
    marked = [t for t, kind in zip(ids, out["mm_token_type_ids"][0]) if kind == 1]
    assert proc.tokenizer.decode(marked) == img_str(1) + C * out["region_pixels"][0][0]


def test_visual_prompts_of_one_image_in_a_batch():
    """apply_chat_template passes images per sample (a batch): visual prompts are one entry per image,
    and for a single image its own list of regions is accepted too."""
    proc = make("qwen")
    img = image(200, 300)
    a = [[10.0, 10.0, 150.0, 10.0, 150.0, 100.0, 10.0, 100.0]]  # polygon segmentations (COCO)
    b = [[160.0, 110.0, 290.0, 110.0, 290.0, 190.0, 160.0, 190.0]]
    single = proc(images=img, visual_prompts=[a, b])
    messages = [{"role": "user", "content": [{"type": "image", "image": img}, {"type": "text", "text": "Q"}]}]
    for vp in ([[a, b]], [a, b]):
        out = proc.apply_chat_template(
            messages,
            add_generation_prompt=True,
            tokenize=True,
            return_dict=True,
            processor_kwargs={"visual_prompts": vp},
        )
        assert out["region_pixels"] == single["region_pixels"] and len(out["region_pixels"][0]) == 2
    one = proc.apply_chat_template(
        messages,
        add_generation_prompt=True,
        tokenize=True,
        return_dict=True,
        processor_kwargs={"visual_prompts": [[a]]},
    )
    assert one["region_pixels"] == [single["region_pixels"][0][:1]]
    with pytest.raises(Sa2VAError, match="one entry per image"):
        proc(images=[img, img], text=["<image>", "<image>"], visual_prompts=[a, b, a])


@pytest.mark.parametrize("template", ["internlm2", "qwen"])  # padded with EOS (no pad token) / with the pad token
def test_assistant_masks_of_a_padded_batch(template):
    proc = make(template)
    convs = [
        [{"role": "user", "content": [{"type": "image", "image": image()}, {"type": "text", "text": "Q?"}]},
         {"role": "assistant", "content": "Answer one."}],
        [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Yo"}],
    ]  # fmt: skip
    out = proc.apply_chat_template(
        convs, tokenize=True, return_dict=True, return_assistant_tokens_mask=True, return_tensors="pt"
    )
    assert out["assistant_masks"].shape == out["input_ids"].shape
    answers = [proc.tokenizer.decode(ids[mask.bool()]) for ids, mask in zip(out["input_ids"], out["assistant_masks"])]
    assert answers == ["Answer one.<|im_end|>", "Yo<|im_end|>"]
