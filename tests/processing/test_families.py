"""One processor, every Sa2VA checkpoint family: a contract each family's test class inherits.

Each class says how its family's checkpoints write an image in the text, worked out here from the
upstream rules (``datasets/base.py``: ``_init_architecture_config`` sets the token strings,
``_process_single_image`` the token count): InternVL ``<img>`` + 256 ``<IMG_CONTEXT>`` per tile +
``</img>``; Qwen-VL ``<|vision_start|>`` + prod(grid_thw)/4 ``<|image_pad|>`` + ``<|vision_end|>``;
LLaVA 576 ``<image>``. The generic tests check prompts, counts, batches, saving and the grounding
image for every family, in the processor's default mode, ``"inference"`` (``predict_forward``: for
Qwen-VL the qwen_vl_utils resize first, and the checkpoint's Qwen-VL chat template, where an image
block is followed by nothing); the Qwen classes check training too.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image
from transformers import AutoProcessor

from sa2va_hf import (
    FAMILIES,
    Sa2VAError,
    Sa2VAImageProcessor,
    Sa2VALlavaImageProcessor,
    Sa2VAProcessor,
    Sa2VAQwen2VLImageProcessor,
)

from .. import reference as ref
from ..tokenizer_utils import make_tokenizer
from .test_image_processor_qwen2_vl import ref_fast_pixels, ref_grid, ref_inference_pixels, ref_qwen_vl_utils_size

SA2VA_TOKENS = ["[SEG]", "<p>", "</p>", "<vp>", "</vp>"]
W, H = 260, 120
IMAGE = Image.fromarray(np.random.RandomState(7).randint(0, 256, (H, W, 3), dtype=np.uint8))
OTHER = Image.fromarray(np.random.RandomState(8).randint(0, 256, (300, 90, 3), dtype=np.uint8))


def user_image(text: str, n: int = 1) -> list[dict]:
    return [{"role": "user", "content": [*([{"type": "image"}] * n), {"type": "text", "text": text}]}]


class FamilyContract:
    FAMILY: str
    FLAVOUR: str  # tokenizer flavour (tests/tokenizer_utils.py)
    IMAGE_PROCESSOR: type
    CONTEXT: str  # the token the model puts image embeddings on
    #: the family's chat template, as its checkpoints render one user turn
    TURN: str
    #: what an image block of a message renders (``predict_forward``'s layout)
    IMAGE_BLOCK = "<image>\n"
    OUTPUT_KEYS: set[str]
    #: what the checkpoint's ``generate`` takes of the output
    GENERATE_KEYS: set[str]

    def image_string(self, image: Image.Image) -> str:
        raise NotImplementedError

    def make(self, **image_options) -> Sa2VAProcessor:
        ip = FAMILIES[self.FAMILY].image_processor(**image_options)
        return Sa2VAProcessor(ip, make_tokenizer(self.FLAVOUR), family=self.FAMILY)

    # -- the contract

    def test_family_default_image_processor_and_template(self):
        proc = Sa2VAProcessor(tokenizer=make_tokenizer(self.FLAVOUR), family=self.FAMILY)
        assert proc.family == self.FAMILY and type(proc.image_processor) is self.IMAGE_PROCESSOR
        assert proc.chat_template_config.instruction.replace("{input}", "Q") == self.TURN.format("Q")
        assert proc.tokenizer.convert_ids_to_tokens(proc.image_context_token_id) == self.CONTEXT

    def test_prompt_string_pinned(self):
        proc = self.make()
        prompt = proc.apply_chat_template(user_image("What is it?"), add_generation_prompt=True)
        assert prompt == self.TURN.format(self.IMAGE_BLOCK + "What is it?")
        out = proc(images=IMAGE, text=prompt)
        assert set(out) == self.OUTPUT_KEYS
        image = self.IMAGE_BLOCK.replace("<image>", self.image_string(IMAGE))
        expected = (proc.tokenizer.bos_token or "") + self.TURN.format(image + "What is it?")
        assert proc.tokenizer.decode(out["input_ids"][0]) == expected
        assert set(proc.generate_inputs(out)) == self.GENERATE_KEYS

    def test_context_token_count(self):
        proc = self.make()
        ids = proc(images=[IMAGE, OTHER], text="<image> and <image>")["input_ids"][0]
        want = (self.image_string(IMAGE) + self.image_string(OTHER)).count(self.CONTEXT)
        assert sum(1 for t in ids if t == proc.image_context_token_id) == want
        with pytest.raises(Sa2VAError):  # one image token too many would shift every embedding after it
            proc(images=IMAGE, text="<image>" + self.CONTEXT)

    def test_batch_of_conversations(self):
        proc = self.make()
        conversations = [user_image("A?"), user_image("B and C?", n=2), [{"role": "user", "content": "No image."}]]
        out = proc.apply_chat_template(
            conversations, add_generation_prompt=True, tokenize=True, return_dict=True, return_tensors="pt",
            processor_kwargs={"images": [[IMAGE], [OTHER, IMAGE], []]},
        )  # fmt: skip
        assert out["input_ids"].shape[0] == 3 and out["g_pixel_values"].shape == (3, 3, 1024, 1024)
        counts = [int((row == proc.image_context_token_id).sum()) for row in out["input_ids"]]
        one, other = (self.image_string(im).count(self.CONTEXT) for im in (IMAGE, OTHER))
        assert counts == [one, other + one, 0]

    def test_sam3_grounding_image_at_1008(self):
        out = self.make(grounding_size=1008)(images=IMAGE, text="<image>")
        assert out["g_pixel_values"].shape == (1, 3, 1008, 1008) and out["g_pixel_values"].dtype == np.uint8
        np.testing.assert_array_equal(out["g_pixel_values"][0], ref.ref_g_pixel_values(IMAGE, 1008))
        normalized = self.make(grounding_size=1008, normalize_grounding=True)(images=IMAGE)["g_pixel_values"][0]
        np.testing.assert_array_equal(normalized, ref.ref_normalize(ref.ref_resize(IMAGE, (1008, 1008))))

    def test_masks_and_model_input_names(self):
        proc = self.make()
        out = proc(images=IMAGE, text="<image>", masks=np.ones((2, H, W), np.uint8), return_tensors="pt")
        assert tuple(out["masks"][0].shape) == (2, H, W)
        assert set(out) <= set(proc.model_input_names)

    def test_missing_image_tokens_are_added_to_the_tokenizer(self):
        tok = make_tokenizer(self.FLAVOUR, image_tokens=False)
        proc = Sa2VAProcessor(tokenizer=tok, family=self.FAMILY)
        assert proc.added_tokens == [*SA2VA_TOKENS, *FAMILIES[self.FAMILY].image_tokens.tokens]
        assert proc.tokenizer.convert_ids_to_tokens(proc.image_context_token_id) == self.CONTEXT
        again = Sa2VAProcessor(tokenizer=tok, family=self.FAMILY)
        assert again.added_tokens == []

    def test_saves_and_loads_with_auto_processor(self, tmp_path):
        proc = self.make(grounding_size=1008)
        proc.save_pretrained(tmp_path)
        assert json.loads((tmp_path / "processor_config.json").read_text())["family"] == self.FAMILY
        loaded = AutoProcessor.from_pretrained(tmp_path)
        assert type(loaded) is Sa2VAProcessor and type(loaded.image_processor) is self.IMAGE_PROCESSOR
        assert (loaded.family, loaded.template, loaded.image_processor.grounding_size, loaded.mode) == (
            self.FAMILY, proc.template, 1008, "inference",
        )  # fmt: skip
        assert loaded.chat_template == proc.chat_template
        a, b = (p(images=[IMAGE, OTHER], text=["<image>A", "<image>B"], return_tensors="np") for p in (proc, loaded))
        assert a.keys() == b.keys()
        for key in a:
            np.testing.assert_array_equal(a[key], b[key], err_msg=key)


class TestInternVL(FamilyContract):
    FAMILY, FLAVOUR, IMAGE_PROCESSOR, CONTEXT = "internvl", "phi3", Sa2VAImageProcessor, "<IMG_CONTEXT>"
    TURN = "<|user|>\n{}<|end|>\n<|assistant|>\n"
    OUTPUT_KEYS = {"pixel_values", "num_patches", "vp_overall_mask", "g_pixel_values", "input_ids", "attention_mask"}
    GENERATE_KEYS = {"pixel_values", "input_ids", "attention_mask"}

    def image_string(self, image):
        cols, rows = ref.ref_grid(image.width, image.height)
        tiles = cols * rows + (cols * rows > 1)
        return "<img>" + "<IMG_CONTEXT>" * (256 * tiles) + "</img>"

    def test_pixel_values_unchanged(self):
        out = self.make()(images=IMAGE, text="<image>")
        np.testing.assert_array_equal(out["pixel_values"], ref.ref_pixel_values(IMAGE))

    def test_inference_and_training_coincide(self):
        """predict_forward and the training datasets build InternVL's inputs alike: both modes, same output."""
        tok = make_tokenizer(self.FLAVOUR)
        a, b = (Sa2VAProcessor(tokenizer=tok, family=self.FAMILY, mode=m) for m in ("inference", "training"))
        assert a.chat_template == b.chat_template
        frames = [IMAGE, IMAGE.transpose(Image.Transpose.FLIP_LEFT_RIGHT)]
        region = np.zeros((H, W), np.uint8)
        region[30:90, 40:200] = 1
        for kwargs in (
            {"images": IMAGE, "text": "<image>\nQ", "visual_prompts": [region]},
            {"videos": frames, "text": "<image>\nQ", "max_llm_frames": 1},
        ):
            x, y = a(**kwargs), b(**kwargs)
            assert x.keys() == y.keys()
            for key in x:
                np.testing.assert_array_equal(np.asarray(x[key], dtype=object), np.asarray(y[key], dtype=object))

    def test_generate_inputs_with_upstream_mask_prompts(self):
        """predict_forward(mask_prompts=[(n, H, W) array]) -- its layout -- and generate's prompt inputs:
        prompt_masks of the images that carry a prompt, vp_overall_mask."""
        proc = self.make()
        prompts = np.zeros((2, H, W), np.uint8)
        prompts[0, :60, :130], prompts[1, 60:, 130:] = 1, 1
        out = proc(images=IMAGE, text="<image>\nQ", visual_prompts=[prompts], return_tensors="pt")
        assert [len(m) for m in out["prompt_masks"]] == [2] and out["region_pixels"] == [[64, 64]]
        inputs = proc.generate_inputs(out)
        assert set(inputs) == {"pixel_values", "input_ids", "attention_mask", "prompt_masks", "vp_overall_mask"}
        assert inputs["vp_overall_mask"].tolist() == [False, False, True] and len(inputs["prompt_masks"]) == 1
        two = proc(
            images=[IMAGE, IMAGE], text="<image> <image>", visual_prompts=[None, prompts[:1]], return_tensors="pt"
        )
        assert [len(m) for m in proc.generate_inputs(two)["prompt_masks"]] == [1]  # the second image's only


class QwenContract(FamilyContract):
    FLAVOUR, IMAGE_PROCESSOR, CONTEXT = "qwen_vl", Sa2VAQwen2VLImageProcessor, "<|image_pad|>"
    TURN = "<|im_start|>user\n{}<|im_end|>\n<|im_start|>assistant\n"
    IMAGE_BLOCK = "<image>"  # the checkpoint's Qwen-VL template: the image string, then the text
    OUTPUT_KEYS = {"pixel_values", "image_grid_thw", "g_pixel_values", "input_ids", "attention_mask"}
    GENERATE_KEYS = {"pixel_values", "image_grid_thw", "input_ids", "attention_mask"}
    PATCH: int
    REF: dict  # ref_fast_pixels options of the family

    def image_string(self, image, training=False):
        size = image.size if training else ref_qwen_vl_utils_size(*image.size)
        grid = ref_grid(*size, self.PATCH)
        return "<|vision_start|>" + "<|image_pad|>" * (int(np.prod(grid)) // 4) + "<|vision_end|>"

    def test_grid_and_token_count_pinned(self):
        out = self.make()(images=IMAGE, text="<image>")
        assert out["image_grid_thw"].tolist() == self.GRID
        assert out["input_ids"][0].count(self.make().image_context_token_id) == self.TOKENS

    def test_inference_is_predict_forward(self):
        """Messages as predict_forward builds them: the checkpoint's Qwen-VL template (no system prompt), the
        image block then the text; pixels resized by qwen_vl_utils' rule, then the fast class's."""
        proc = self.make()
        image = Image.fromarray(np.random.RandomState(9).randint(0, 256, (1200, 1800, 3), dtype=np.uint8))
        messages = [{"role": "user", "content": [{"type": "image", "image": image},
                                                 {"type": "text", "text": "Please segment the car."}]}]  # fmt: skip
        inputs = proc.apply_chat_template(messages, add_generation_prompt=True, tokenize=True, return_dict=True)
        pixels, grid = ref_inference_pixels([image], **self.REF)
        assert inputs["image_grid_thw"].tolist() == grid.tolist() == [self.GRID_1800]
        np.testing.assert_array_equal(inputs["pixel_values"], pixels)
        expected = (
            "<|im_start|>user\n<|vision_start|>" + "<|image_pad|>" * (int(np.prod(self.GRID_1800)) // 4)
            + "<|vision_end|>Please segment the car.<|im_end|>\n<|im_start|>assistant\n"
        )  # fmt: skip
        assert proc.tokenizer.decode(inputs["input_ids"][0]) == expected

    def test_training_mode_is_the_training_layout(self):
        proc = Sa2VAProcessor(tokenizer=make_tokenizer(self.FLAVOUR), family=self.FAMILY, mode="training")
        prompt = proc.apply_chat_template(user_image("Q"), add_generation_prompt=True)
        assert prompt == self.TURN.format("<image>\nQ")  # xtuner's qwen_chat, as the training encoder writes it
        image = Image.fromarray(np.random.RandomState(9).randint(0, 256, (1200, 1800, 3), dtype=np.uint8))
        out = proc(images=image, text=prompt)
        pixels, grid = ref_fast_pixels([image], **self.REF)
        assert out["image_grid_thw"].tolist() == grid.tolist() == [self.GRID_1800_TRAINING]
        np.testing.assert_array_equal(out["pixel_values"], pixels)
        assert proc.tokenizer.decode(out["input_ids"][0]) == self.TURN.format(self.image_string(image, True) + "\nQ")

    def test_inference_template_follows_qwen_for_every_turn(self):
        """A system message, an answer and a second question, as the stock Qwen-VL Instruct template renders
        them (each message <|im_start|>role\n ... <|im_end|>\n); the answer is the generation span."""
        proc = self.make()
        messages = [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "What is it?"}]},
            {"role": "assistant", "content": [{"type": "text", "text": "A car."}]},
            {"role": "user", "content": "And the colour?"},
        ]
        prompt = proc.apply_chat_template(messages, add_generation_prompt=True)
        assert prompt == (
            "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\n<image>What is it?<|im_end|>\n"
            "<|im_start|>assistant\nA car.<|im_end|>\n<|im_start|>user\nAnd the colour?<|im_end|>\n"
            "<|im_start|>assistant\n"
        )
        out = proc.apply_chat_template(messages[1:3], tokenize=True, return_dict=True, return_assistant_tokens_mask=True,
                                       processor_kwargs={"images": [[IMAGE]]})  # fmt: skip
        ids = np.asarray(out["input_ids"][0])[np.asarray(out["assistant_masks"][0]) == 1]
        assert proc.tokenizer.decode(ids) == "A car.<|im_end|>"

    def test_video_frames_are_separate_images_with_nothing_between(self):
        """predict_forward: the first 5 frames as image blocks (qwen_vl_utils, then the single-image limits),
        nothing between them; every frame to SAM2."""
        proc = self.make()
        frames = [Image.fromarray(np.random.RandomState(s).randint(0, 256, (120, 260, 3), dtype=np.uint8))
                  for s in range(7)]  # fmt: skip
        messages = [{"role": "user", "content": [{"type": "video"}, {"type": "text", "text": "Q"}]}]
        prompt = proc.apply_chat_template(messages, add_generation_prompt=True)
        assert prompt == self.TURN.format("<image>Q")
        out = proc(videos=frames, text=prompt, max_llm_frames=5)
        pixels, grid = ref_inference_pixels(frames[:5], **self.REF)
        np.testing.assert_array_equal(out["pixel_values"], pixels)
        assert out["image_grid_thw"].tolist() == grid.tolist() == self.GRID * 5
        assert out["g_pixel_values"].shape == (7, 3, 1024, 1024)
        assert proc.tokenizer.decode(out["input_ids"][0]) == self.TURN.format(self.image_string(frames[0]) * 5 + "Q")
        assert proc.video_token_string(7, 260, 120, max_llm_frames=5) == self.image_string(frames[0]) * 5


class TestQwen25VL(QwenContract):
    FAMILY, PATCH, GRID, TOKENS, REF = "qwen2_5_vl", 14, [[1, 32, 68]], 544, {}
    GRID_1800, GRID_1800_TRAINING = [1, 74, 110], [1, 72, 110]  # qwen_vl_utils' 1792x1204 first, then 1036x1540


class TestQwen3VL(QwenContract):
    FAMILY, PATCH, GRID, TOKENS = "qwen3_vl", 16, [[1, 28, 60]], 420
    REF = {"patch": 16, "mean": (0.5,) * 3, "std": (0.5,) * 3}
    GRID_1800, GRID_1800_TRAINING = [1, 64, 96], [1, 64, 96]  # the same grid, other pixels (two resizes)

    def test_patch_16_and_its_mean_std(self):
        ip = self.make().image_processor
        assert (ip.patch_size, ip.image_mean, ip.image_std) == (16, [0.5] * 3, [0.5] * 3)
        assert ip(IMAGE)["pixel_values"].shape[1] == 3 * 2 * 16 * 16


class TestLlava(FamilyContract):
    FAMILY, FLAVOUR, IMAGE_PROCESSOR, CONTEXT = "llava", "llava", Sa2VALlavaImageProcessor, "<image>"
    TURN = "USER: {} ASSISTANT:"
    OUTPUT_KEYS = {"pixel_values", "g_pixel_values", "input_ids", "attention_mask"}
    GENERATE_KEYS = {"pixel_values", "input_ids", "attention_mask"}

    def image_string(self, image):
        return "<image>" * 576

    def test_each_placeholder_is_expanded_once(self):
        proc = self.make()
        ids = proc(images=[IMAGE, OTHER], text="<image>\nA <image>\nB")["input_ids"][0]
        assert proc.tokenizer.decode(ids) == "<s>" + "<image>" * 576 + "\nA " + "<image>" * 576 + "\nB"

    def test_text_already_expanded_or_miscounted_is_refused(self):
        proc = self.make()
        with pytest.raises(Sa2VAError, match=r"576 <image> placeholder.*1 image.*not expanded"):
            proc(images=IMAGE, text="<image>" * 576 + "\nWhat is it?")
        with pytest.raises(Sa2VAError, match=r"1 <image> placeholder.*2 image"):
            proc(images=[IMAGE, OTHER], text="<image>\nWhat is it?")


# --------------------------------------------------------------------------- across families


@pytest.mark.parametrize("family", ["qwen2_5_vl", "qwen3_vl", "llava"])
def test_visual_prompts_with_a_family_that_has_none_are_refused(family):
    proc = Sa2VAProcessor(tokenizer=make_tokenizer("qwen_vl"), family=family)
    with pytest.raises(Sa2VAError, match=rf"family '{family}' takes no visual prompts"):
        proc(images=IMAGE, text="<image>", visual_prompts=[np.ones((H, W), np.uint8)])


def test_family_and_image_processor_must_agree():
    tok = make_tokenizer("qwen_vl")
    with pytest.raises(Sa2VAError, match="family 'llava' takes a Sa2VALlavaImageProcessor, got a Sa2VAImageProcessor"):
        Sa2VAProcessor(Sa2VAImageProcessor(), tok, family="llava")
    with pytest.raises(Sa2VAError, match="serves families 'qwen2_5_vl' or 'qwen3_vl': pass family="):
        Sa2VAProcessor(Sa2VAQwen2VLImageProcessor(), tok)
    with pytest.raises(Sa2VAError, match="unknown Sa2VA family 'qwen3vl'; did you mean 'qwen3_vl'"):
        Sa2VAProcessor(tokenizer=tok, family="qwen3vl")
    assert Sa2VAProcessor(Sa2VALlavaImageProcessor(), tok).family == "llava"
    assert Sa2VAProcessor(Sa2VAImageProcessor(), tok).family == "internvl"


def test_a_folder_saved_without_family_loads_as_internvl(tmp_path):
    Sa2VAProcessor(Sa2VAImageProcessor(), make_tokenizer("qwen"), template="qwen").save_pretrained(tmp_path)
    cfg = json.loads((tmp_path / "processor_config.json").read_text())
    del cfg["family"]
    (tmp_path / "processor_config.json").write_text(json.dumps(cfg))
    assert AutoProcessor.from_pretrained(tmp_path).family == "internvl"
