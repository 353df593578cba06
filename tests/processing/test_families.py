"""One processor, every Sa2VA checkpoint family: a contract each family's test class inherits.

Each class says how its family's checkpoints write an image in the text, worked out here from the
upstream rules (``datasets/base.py``: ``_init_architecture_config`` sets the token strings,
``_process_single_image`` the token count): InternVL ``<img>`` + 256 ``<IMG_CONTEXT>`` per tile +
``</img>``; Qwen-VL ``<|vision_start|>`` + prod(grid_thw)/4 ``<|image_pad|>`` + ``<|vision_end|>``;
LLaVA 576 ``<image>``. The generic tests check prompts, counts, batches, saving and the grounding
image for every family.
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
from .test_image_processor_qwen2_vl import ref_grid

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
    OUTPUT_KEYS: set[str]

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
        assert prompt == self.TURN.format("<image>\nWhat is it?")
        out = proc(images=IMAGE, text=prompt)
        assert set(out) == self.OUTPUT_KEYS
        expected = (proc.tokenizer.bos_token or "") + self.TURN.format(self.image_string(IMAGE) + "\nWhat is it?")
        assert proc.tokenizer.decode(out["input_ids"][0]) == expected

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
        np.testing.assert_array_equal(normalized, ref.ref_normalize(IMAGE.resize((1008, 1008))))

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
        assert (loaded.family, loaded.template, loaded.image_processor.grounding_size) == (
            self.FAMILY, proc.template, 1008,
        )  # fmt: skip
        a, b = (p(images=[IMAGE, OTHER], text=["<image>A", "<image>B"], return_tensors="np") for p in (proc, loaded))
        assert a.keys() == b.keys()
        for key in a:
            np.testing.assert_array_equal(a[key], b[key], err_msg=key)


class TestInternVL(FamilyContract):
    FAMILY, FLAVOUR, IMAGE_PROCESSOR, CONTEXT = "internvl", "phi3", Sa2VAImageProcessor, "<IMG_CONTEXT>"
    TURN = "<|user|>\n{}<|end|>\n<|assistant|>\n"
    OUTPUT_KEYS = {"pixel_values", "num_patches", "vp_overall_mask", "g_pixel_values", "input_ids", "attention_mask"}

    def image_string(self, image):
        cols, rows = ref.ref_grid(image.width, image.height)
        tiles = cols * rows + (cols * rows > 1)
        return "<img>" + "<IMG_CONTEXT>" * (256 * tiles) + "</img>"

    def test_pixel_values_unchanged(self):
        out = self.make()(images=IMAGE, text="<image>")
        np.testing.assert_array_equal(out["pixel_values"], ref.ref_pixel_values(IMAGE))


class QwenContract(FamilyContract):
    FLAVOUR, IMAGE_PROCESSOR, CONTEXT = "qwen_vl", Sa2VAQwen2VLImageProcessor, "<|image_pad|>"
    TURN = "<|im_start|>user\n{}<|im_end|>\n<|im_start|>assistant\n"
    OUTPUT_KEYS = {"pixel_values", "image_grid_thw", "g_pixel_values", "input_ids", "attention_mask"}
    PATCH: int

    def image_string(self, image):
        grid = ref_grid(image.width, image.height, self.PATCH)
        return "<|vision_start|>" + "<|image_pad|>" * (int(np.prod(grid)) // 4) + "<|vision_end|>"

    def test_grid_and_token_count_pinned(self):
        out = self.make()(images=IMAGE, text="<image>")
        assert out["image_grid_thw"].tolist() == self.GRID
        assert out["input_ids"][0].count(self.make().image_context_token_id) == self.TOKENS


class TestQwen25VL(QwenContract):
    FAMILY, PATCH, GRID, TOKENS = "qwen2_5_vl", 14, [[1, 32, 68]], 544


class TestQwen3VL(QwenContract):
    FAMILY, PATCH, GRID, TOKENS = "qwen3_vl", 16, [[1, 28, 60]], 420

    def test_patch_16_and_its_mean_std(self):
        ip = self.make().image_processor
        assert (ip.patch_size, ip.image_mean, ip.image_std) == (16, [0.5] * 3, [0.5] * 3)
        assert ip(IMAGE)["pixel_values"].shape[1] == 3 * 2 * 16 * 16


class TestLlava(FamilyContract):
    FAMILY, FLAVOUR, IMAGE_PROCESSOR, CONTEXT = "llava", "llava", Sa2VALlavaImageProcessor, "<image>"
    TURN = "USER: {} ASSISTANT:"
    OUTPUT_KEYS = {"pixel_values", "g_pixel_values", "input_ids", "attention_mask"}

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
