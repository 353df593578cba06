"""processor_from_checkpoint for every family: the keys of a Sa2VA checkpoint folder, read offline.

The fake folders hold what upstream's ``tools/convert_to_hf.py`` writes: ``config.json``
(``architectures`` = the HF model class, ``template``, the vision config), the tokenizer, for
Qwen the stock Qwen processor's ``preprocessor_config.json``, and the model's code beside the weights
(``modeling_*.py``, ``sam2.py`` / ``sam3.py``). Under upstream's transformers 4.57, saving a
Qwen2.5-VL config puts the model class into ``text_config.architectures`` (``Qwen2_5_VLConfig.__setattr__``)
and leaves ``Qwen2_5_VLForConditionalGeneration`` at the top: ``QWEN25_UNDER_457`` is that layout.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image
from transformers import Qwen2_5_VLConfig, Qwen3VLConfig

from sa2va_hf import Sa2VAError, Sa2VALlavaImageProcessor, Sa2VAQwen2VLImageProcessor, processor_from_checkpoint
from sa2va_hf.export.checkpoint import detect_family

from ..tokenizer_utils import make_tokenizer

IMAGE = Image.fromarray(np.random.RandomState(3).randint(0, 256, (120, 260, 3), dtype=np.uint8))
SA2VA_TOKENS = ["[SEG]", "<p>", "</p>", "<vp>", "</vp>"]

#: The stock Qwen3-VL preprocessor config the converter saves beside the weights (its limits are not Sa2VA's).
QWEN3_PREPROCESSOR = {
    "image_processor_type": "Qwen2VLImageProcessorFast", "patch_size": 16, "merge_size": 2, "temporal_patch_size": 2,
    "image_mean": [0.5, 0.5, 0.5], "image_std": [0.5, 0.5, 0.5], "size": {"longest_edge": 16777216, "shortest_edge": 65536},
}  # fmt: skip


def write_checkpoint(path, config: dict, flavour: str, preprocessor: dict | None = None):
    tok = make_tokenizer(flavour)
    tok.add_tokens(SA2VA_TOKENS, special_tokens=True)
    tok.save_pretrained(path)
    (path / "config.json").write_text(json.dumps(config))
    if preprocessor is not None:
        (path / "preprocessor_config.json").write_text(json.dumps(preprocessor))
    return tok


#: config.json as upstream's converter writes a Qwen2.5-VL checkpoint under transformers 4.57 (checked there).
QWEN25_UNDER_457 = {
    "architectures": ["Qwen2_5_VLForConditionalGeneration"], "model_type": "sa2va_chat", "template": "qwen_chat",
    "auto_map": {"AutoConfig": "configuration_sa2va_chat.Sa2VAChatConfigQwen",
                 "AutoModel": "modeling_sa2va_qwen.Sa2VAChatModelQwen",
                 "AutoModelForCausalLM": "modeling_sa2va_qwen.Sa2VAChatModelQwen"},
    "vision_config": {"model_type": "qwen2_5_vl", "patch_size": 14, "spatial_merge_size": 2, "temporal_patch_size": 2},
    "text_config": {"model_type": "qwen2_5_vl_text", "architectures": ["Sa2VAChatModelQwen"]},
}  # fmt: skip
#: upstream's later LLaVA-1.5 checkpoint (``hf/models_llava``: Sa2VAChatConfigLlava, a LlavaConfig).
LLAVA_LATER = {
    "architectures": ["Sa2VAChatModelLlava"], "model_type": "sa2va_chat", "template": "vicuna",
    "auto_map": {"AutoConfig": "configuration_sa2va_chat.Sa2VAChatConfigLlava",
                 "AutoModel": "modeling_sa2va_llava.Sa2VAChatModelLlava"},
    "vision_config": {"model_type": "clip_vision_model", "image_size": 336, "patch_size": 14},
    "text_config": {"model_type": "llama"},
}  # fmt: skip


def qwen_config(vision_model_type: str, patch_size: int, template="qwen_chat") -> dict:
    config = {
        "architectures": ["Sa2VAChatModelQwen"], "model_type": "sa2va_chat",
        "auto_map": {"AutoConfig": "configuration_sa2va_chat.Sa2VAChatConfigQwen",
                     "AutoModel": "modeling_sa2va_qwen.Sa2VAChatModelQwen"},
        "vision_config": {"model_type": vision_model_type, "patch_size": patch_size, "spatial_merge_size": 2,
                          "temporal_patch_size": 2},
        "text_config": {"model_type": vision_model_type.split("_vision")[0] + "_text"},
    }  # fmt: skip
    if template is not None:
        config["template"] = template
    return config


@pytest.mark.parametrize(
    "config,family",
    [
        ({"architectures": ["Sa2VAChatModel"], "llm_config": {}}, "internvl"),
        ({"llm_config": {"architectures": ["InternLM2ForCausalLM"]}}, "internvl"),  # no architectures recorded
        (qwen_config("qwen2_5_vl", 14), "qwen2_5_vl"),  # transformers 4.x sub-config names
        (qwen_config("qwen3_vl", 16), "qwen3_vl"),
        (qwen_config("qwen2_5_vl_vision", 14), "qwen2_5_vl"),  # transformers 5.x
        (QWEN25_UNDER_457, "qwen2_5_vl"),  # the class in text_config.architectures
        ({**QWEN25_UNDER_457, "text_config": {"model_type": "qwen2_5_vl_text"}}, "qwen2_5_vl"),  # auto_map only
        (LLAVA_LATER, "llava"),
        ({**Qwen3VLConfig().to_dict(), "architectures": ["Sa2VAChatModelQwen"]}, "qwen3_vl"),
        ({**Qwen2_5_VLConfig().to_dict(), "architectures": ["Sa2VAChatModelQwen"]}, "qwen2_5_vl"),
        # the converter writes Sa2VAChatModel for every non-Qwen model: LLaVA shows in its template / tower
        ({"architectures": ["Sa2VAChatModel"], "template": "vicuna", "llm_config": {}}, "llava"),
        ({"architectures": ["Sa2VAChatModel"], "vision_config": {"model_type": "clip_vision_model"}}, "llava"),
        (
            {
                "architectures": ["Sa2VAChatModel"],
                "template": "qwen_chat",
                "vision_config": {"model_type": "intern_vit_6b"},
            },
            "internvl",
        ),  # fmt: skip
    ],
)
def test_family_detected_from_config(config, family):
    assert detect_family(config) == family


def test_undetectable_configs_ask_for_family():
    with pytest.raises(Sa2VAError, match=r"architectures=\['LlavaForConditionalGeneration'\].*family='llava'"):
        detect_family({"architectures": ["LlavaForConditionalGeneration"]})
    with pytest.raises(Sa2VAError, match="no Sa2VA model class"):  # a plain Qwen folder
        detect_family(
            {"architectures": ["Qwen2_5_VLForConditionalGeneration"], "vision_config": {"model_type": "qwen2_5_vl"}}
        )
    with pytest.raises(Sa2VAError, match="pass family='qwen2_5_vl' or family='qwen3_vl'"):
        detect_family({"architectures": ["Sa2VAChatModelQwen"], "vision_config": {"model_type": "siglip"}})
    with pytest.raises(Sa2VAError, match="cannot tell the Sa2VA family"):
        detect_family({})


def test_qwen3_vl_checkpoint(tmp_path):
    write_checkpoint(tmp_path, qwen_config("qwen3_vl", 16), "qwen_vl", QWEN3_PREPROCESSOR)
    proc = processor_from_checkpoint(tmp_path)
    ip = proc.image_processor
    assert (proc.family, proc.template, type(ip)) == ("qwen3_vl", "qwen", Sa2VAQwen2VLImageProcessor)
    assert (ip.patch_size, ip.merge_size, ip.image_mean, ip.image_std) == (16, 2, [0.5] * 3, [0.5] * 3)
    assert (ip.min_pixels, ip.max_pixels) == (512 * 28 * 28, 2048 * 28 * 28)  # Sa2VA's, not the stock processor's
    assert proc.added_tokens == []  # the checkpoint's tokenizer has them all
    prompt = proc.apply_chat_template([{"role": "user", "content": "<image>\nHi"}], add_generation_prompt=True)
    out = proc(images=IMAGE, text=prompt)
    assert out["image_grid_thw"].tolist() == [[1, 28, 60]]
    assert proc.tokenizer.decode(out["input_ids"][0]) == (
        "<|im_start|>user\n<|vision_start|>"
        + "<|image_pad|>" * 420
        + "<|vision_end|>\nHi<|im_end|>\n<|im_start|>assistant\n"
    )
    sam3 = processor_from_checkpoint(tmp_path, grounding="sam3")
    assert sam3(images=IMAGE)["g_pixel_values"].shape == (1, 3, 1008, 1008)


def test_qwen2_5_vl_checkpoint_without_preprocessor_or_template(tmp_path):
    write_checkpoint(tmp_path, qwen_config("qwen2_5_vl", 14, template=None), "qwen_vl")
    proc = processor_from_checkpoint(tmp_path)
    assert (proc.family, proc.template, proc.image_processor.patch_size) == ("qwen2_5_vl", "qwen", 14)
    assert proc(images=IMAGE)["image_grid_thw"].tolist() == [[1, 32, 68]]
    assert proc.image_processor.image_mean == [0.48145466, 0.4578275, 0.40821073]


def test_llava_checkpoint_of_upstreams_later_code(tmp_path, caplog):
    write_checkpoint(tmp_path, LLAVA_LATER, "llava")
    (tmp_path / "sam2.py").write_text("class SAM2: ...\n")
    with caplog.at_level("INFO", logger="sa2va_hf.export.checkpoint"):
        proc = processor_from_checkpoint(tmp_path)
    assert "family 'llava' because config.json's architectures names Sa2VAChatModelLlava" in caplog.text
    assert (proc.family, proc.template, type(proc.image_processor)) == ("llava", "vicuna", Sa2VALlavaImageProcessor)
    ids = proc(images=IMAGE, text="<image>\nHi")["input_ids"][0]
    assert proc.tokenizer.decode(ids) == "<s>" + "<image>" * 576 + "\nHi"
    assert processor_from_checkpoint(tmp_path, "llava").family == "llava"  # said and found agree


def test_qwen2_5_vl_checkpoint_as_converted_under_transformers_457(tmp_path, caplog):
    write_checkpoint(tmp_path, QWEN25_UNDER_457, "qwen_vl")
    with caplog.at_level("INFO", logger="sa2va_hf.export.checkpoint"):
        proc = processor_from_checkpoint(tmp_path)
    assert "text_config.architectures names Sa2VAChatModelQwen and its vision_config.model_type is 'qwen2_5_vl'" in (
        caplog.text
    )
    assert (proc.family, proc.mode, proc.image_processor.patch_size) == ("qwen2_5_vl", "inference", 14)
    assert proc(images=IMAGE)["image_grid_thw"].tolist() == [[1, 32, 68]]


@pytest.mark.parametrize(
    "config, said, found",
    [
        (qwen_config("qwen3_vl", 16), "internvl", "qwen3_vl"),
        (qwen_config("qwen3_vl", 16), "qwen2_5_vl", "qwen3_vl"),
        (QWEN25_UNDER_457, "qwen3_vl", "qwen2_5_vl"),
        (LLAVA_LATER, "internvl", "llava"),
        ({"architectures": ["Sa2VAChatModel"], "template": "phi3_chat", "llm_config": {}}, "llava", "internvl"),
    ],
)
def test_a_family_that_contradicts_the_config_is_an_error_naming_both(tmp_path, config, said, found):
    write_checkpoint(tmp_path, config, "qwen_vl")
    with pytest.raises(
        Sa2VAError, match=rf"family='{said}' contradicts .*config.json's .* which means family '{found}'"
    ):
        processor_from_checkpoint(tmp_path, said)


def test_a_family_is_taken_where_the_config_does_not_say(tmp_path):
    write_checkpoint(tmp_path, {"architectures": ["LlavaForConditionalGeneration"], "template": "vicuna"}, "llava")
    assert processor_from_checkpoint(tmp_path, "llava").family == "llava"


def test_llava_written_as_sa2va_chat_model_is_llava(tmp_path):
    """What upstream's converter would write for a LLaVA-1.5 model: architectures Sa2VAChatModel."""
    config = {
        "architectures": ["Sa2VAChatModel"], "model_type": "sa2va_chat", "template": "vicuna",
        "vision_config": {"model_type": "clip_vision_model", "image_size": 336, "patch_size": 14},
    }  # fmt: skip
    write_checkpoint(tmp_path, config, "llava")
    proc = processor_from_checkpoint(tmp_path)
    assert (proc.family, proc.template, type(proc.image_processor)) == ("llava", "vicuna", Sa2VALlavaImageProcessor)
    assert proc.tokenizer.decode(proc(images=IMAGE, text="<image>")["input_ids"][0]) == "<s>" + "<image>" * 576


@pytest.mark.parametrize(
    "folder, extra_files, config_extra, grounding, size",
    [
        ("Sa2VA-Qwen3-VL-4B", [], {}, None, 1024),
        ("Sa2VA-Qwen3-VL-4B-SAM3", [], {}, None, 1008),  # the checkpoint's name
        ("ckpt", ["sam3.py"], {}, None, 1008),  # the converter copies the model's code beside the weights
        ("Sa2VA-Qwen3-VL-4B-SAM3", ["sam2.py"], {}, None, 1024),  # the code there beats a name
        ("ckpt", ["sam2.py", "sam3.py", "modeling_sa2va_qwen.py:sam3"], {}, None, 1008),  # the model's code decides
        ("ckpt", ["sam2.py", "sam3.py", "modeling_sa2va_qwen.py:sam2"], {}, None, 1024),
        ("ckpt", [], {"auto_map": {"AutoModel": "modeling_sa2va_qwen_sam3.Sa2VAChatModelQwen"}}, None, 1008),
        ("Sa2VA-Qwen3-VL-4B-SAM3", [], {}, "sam2", 1024),  # said beats a guess from a name
        ("ckpt", [], {}, "sam3", 1008),
        ("ckpt", [], {"_name_or_path": "/data/Sa2VA-Qwen3-VL-4B-SAM3"}, None, 1008),
        ("ckpt", [], {"_name_or_path": "/data/sam3_vs_sam2_study/Sa2VA-Qwen3-VL-4B"}, None, 1024),  # a folder above
    ],
)
def test_sam3_grounding_detected_or_said(tmp_path, folder, extra_files, config_extra, grounding, size):
    path = tmp_path / folder
    path.mkdir()
    write_checkpoint(path, {**qwen_config("qwen3_vl", 16), **config_extra}, "qwen_vl")
    write_code(path, extra_files)
    proc = processor_from_checkpoint(path, grounding=grounding)
    assert proc(images=IMAGE)["g_pixel_values"].shape == (1, 3, size, size)
    assert proc.image_processor.grounding_size == size


def write_code(path, files):
    """``name.py`` (a stub), or ``modeling_x.py:sam3``: a model file importing its grounding model as upstream's do."""
    for spec in files:
        name, _, model = spec.partition(":")
        body = f"from .{model} import {model.upper()}\n" if model else "# the grounding model's code\n"
        (path / name).write_text(body)


@pytest.mark.parametrize(
    "files, said, reason",
    [
        (["sam3.py"], "sam2", r"'[^']*sam3.py' is the only grounding model code in the folder"),
        (["sam2.py"], "sam3", r"'[^']*sam2.py' is the only grounding model code in the folder"),
        (["sam2.py", "sam3.py", "modeling_sa2va_qwen.py:sam3"], "sam2", r"the model's code .* builds it from sam3.py"),
    ],
)
def test_a_grounding_that_contradicts_the_folder_is_an_error_naming_both(tmp_path, files, said, reason):
    write_checkpoint(tmp_path, qwen_config("qwen3_vl", 16), "qwen_vl")
    write_code(tmp_path, files)
    with pytest.raises(Sa2VAError, match=rf"grounding='{said}' contradicts .*{reason}.* which means grounding"):
        processor_from_checkpoint(tmp_path, grounding=said)


def test_sam3_checkpoint_of_upstreams_later_code(tmp_path, caplog):
    """What the converter writes for Sa2VA-Qwen3-VL-4B-SAM3 (``hf/models_qwen3vl_sam3``): the Qwen3-VL config
    (the same auto_map as SAM2's), its modeling file building SAM3 from sam3.py, and sam3.py."""
    path = tmp_path / "converted"
    path.mkdir()
    write_checkpoint(path, qwen_config("qwen3_vl", 16), "qwen_vl", QWEN3_PREPROCESSOR)
    write_code(path, ["modeling_sa2va_qwen.py:sam3", "sam3.py"])
    with caplog.at_level("INFO", logger="sa2va_hf.export.checkpoint"):
        proc = processor_from_checkpoint(path)
    assert "grounding 'sam3' because the model's code" in caplog.text
    assert (proc.family, proc.image_processor.grounding_size) == ("qwen3_vl", 1008)


def test_internvl_keys_and_sam3(tmp_path):
    config = {
        "architectures": ["Sa2VAChatModel"], "template": "phi3_chat", "force_image_size": 448, "downsample_ratio": 0.5,
        "vision_config": {"image_size": 448, "patch_size": 14}, "llm_config": {"architectures": ["Phi3ForCausalLM"]},
    }  # fmt: skip
    write_checkpoint(tmp_path, config, "phi3")
    proc = processor_from_checkpoint(tmp_path, grounding="sam3", image_processor_kwargs={"max_tiles": 4})
    assert (proc.family, proc.template, proc.image_processor.max_tiles) == ("internvl", "phi3", 4)
    out = proc(images=IMAGE, text="<image>")
    assert out["g_pixel_values"].shape == (1, 3, 1008, 1008)


def test_errors_name_the_file_and_the_way_out(tmp_path):
    write_checkpoint(tmp_path, qwen_config("qwen3_vl", 16), "qwen_vl")
    with pytest.raises(Sa2VAError, match="grounding must be one of"):
        processor_from_checkpoint(tmp_path, grounding="sam4")
    with pytest.raises(Sa2VAError, match="unknown Sa2VA family"):
        processor_from_checkpoint(tmp_path, "qwen")
    with pytest.raises(Sa2VAError, match="unknown Sa2VAQwen2VLImageProcessor option.*max_tiles"):
        processor_from_checkpoint(tmp_path, "qwen3_vl", image_processor_kwargs={"max_tiles": 4})  # not a Qwen option
    (tmp_path / "config.json").write_text(json.dumps(qwen_config("qwen3_vl", 16, template="{{ messages }}")))
    with pytest.raises(Sa2VAError, match=r"config.json'?: its 'template' is not one sa2va-hf knows.*pass template="):
        processor_from_checkpoint(tmp_path)
    assert processor_from_checkpoint(tmp_path, template="qwen").template == "qwen"
    (tmp_path / "config.json").write_text("[1, 2]")
    with pytest.raises(Sa2VAError, match=r"config.json.*must be a JSON object"):
        processor_from_checkpoint(tmp_path)
    with pytest.raises(Sa2VAError, match="is not a local folder and could not be fetched"):
        processor_from_checkpoint(tmp_path / "missing")


def test_qwen_image_settings_preprocessor_first_then_vision_config(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    config = qwen_config("qwen3_vl", 16)
    config["vision_config"]["spatial_merge_size"] = 4  # differs from the preprocessor's 2: the preprocessor wins
    write_checkpoint(tmp_path / "a", config, "qwen_vl", QWEN3_PREPROCESSOR)
    assert processor_from_checkpoint(tmp_path / "a").image_processor.merge_size == 2
    write_checkpoint(tmp_path / "b", config, "qwen_vl")  # no preprocessor_config.json: the vision config's
    ip = processor_from_checkpoint(tmp_path / "b").image_processor
    assert (ip.patch_size, ip.merge_size, ip.image_mean) == (16, 4, [0.5] * 3)  # mean/std: Qwen3-VL's own


def test_reading_a_checkpoint_logs_no_foreign_warning(tmp_path, caplog):
    """AutoTokenizer warns that config.json's "sa2va_chat" is not the bare config it reads it as: noise."""
    write_checkpoint(tmp_path, {"architectures": ["Sa2VAChatModel"], "model_type": "sa2va_chat", "template": "phi3_chat"}, "phi3")
    with caplog.at_level("WARNING"):
        assert processor_from_checkpoint(tmp_path).family == "internvl"
    assert [r.getMessage() for r in caplog.records if r.levelname == "WARNING"] == []
    with pytest.raises(Sa2VAError, match="unknown chat template 'phi4'"):  # a wrong template, before the tokenizer
        processor_from_checkpoint(tmp_path, template="phi4")
