"""Loading the processor the Hugging Face way: AutoProcessor (registered), remote code, checkpoints.

The remote-code test runs in a fresh interpreter where ``sa2va_hf`` cannot be imported and
the Hub is offline: only the files written by ``save_pretrained`` are available.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from PIL import Image
from transformers import AutoProcessor

import sa2va_hf
from sa2va_hf import Sa2VAImageProcessor, Sa2VAProcessor, processor_from_checkpoint
from sa2va_hf.errors import Sa2VAError
from sa2va_hf.training import encode_conversation

from ..tokenizer_utils import make_tokenizer

IMAGE = np.random.RandomState(3).randint(0, 256, (120, 260, 3), dtype=np.uint8)
VP = np.zeros((2, 120, 260), dtype=np.uint8)
VP[0, :60, :100] = 1
VP[1, 60:, 130:] = 1
CONV = [
    {"from": "human", "value": "What is <region1>?"},
    {"from": "gpt", "value": "A <cat> [SEG]."},
    {"from": "human", "value": "And region2?"},
    {"from": "gpt", "value": "A dog."},
]

# Run both in the test process and, as source text, in the clean subprocess.
RUN_CASES = """
def run_cases(proc, image, vp):
    prompt = proc.apply_chat_template([{"role": "user", "content": "<image>\\nDescribe region2."}], add_generation_prompt=True)
    a = proc(images=image, text=prompt, visual_prompts=vp)
    c = proc(images=[image, image[:, :100]], text=["<image>\\nA?", "<image>\\nB?"], return_tensors="np")
    conversation = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "What is it?"}]},
        {"role": "assistant", "content": "A cat."},
    ]
    d = proc.apply_chat_template(
        conversation, tokenize=True, return_dict=True, return_assistant_tokens_mask=True, return_tensors="np",
        processor_kwargs={"images": [image]},
    )
    frames = [image, image[::-1], image[:, ::-1]]
    v = proc(videos=frames, text="<image>Segment it.", masks=vp[:, None].repeat(3, axis=1), max_llm_frames=2)
    return {
        "v_ids": np.asarray(v["input_ids"][0]),
        "v_pix": v["pixel_values"],
        "v_g": v["g_pixel_values"],
        "v_masks": v["masks"][0],
        "d_ids": d["input_ids"],
        "d_assistant": d["assistant_masks"],
        "a_ids": np.asarray(a["input_ids"][0]),
        "a_pix": a["pixel_values"],
        "a_g": a["g_pixel_values"],
        "a_pm": a["prompt_masks"][0],
        "c_ids": np.asarray(c["input_ids"]),
        "c_mask": np.asarray(c["attention_mask"]),
        "c_pix": c["pixel_values"],
    }
"""
namespace: dict = {"np": np}
exec(RUN_CASES, namespace)
run_cases = namespace["run_cases"]


def make(template="internlm2", **kwargs):
    ip = Sa2VAImageProcessor(max_tiles=6, prompt_mask_mode="pool")
    return Sa2VAProcessor(ip, make_tokenizer(template), template=template, **kwargs)


def assert_same(x: dict, y: dict):
    assert x.keys() == y.keys()
    for k in x:
        np.testing.assert_array_equal(x[k], y[k], err_msg=k)


def test_save_then_auto_processor_gives_identical_outputs(tmp_path):
    proc = make()
    proc.save_pretrained(tmp_path)
    loaded = AutoProcessor.from_pretrained(tmp_path)
    assert type(loaded) is Sa2VAProcessor
    assert isinstance(loaded.image_processor, Sa2VAImageProcessor)
    assert loaded.template == "internlm2" and loaded.chat_template == proc.chat_template
    assert (tmp_path / "chat_template.jinja").read_text() == proc.chat_template
    assert loaded.image_processor.max_tiles == 6 and loaded.image_processor.prompt_mask_mode == "pool"
    assert loaded.added_tokens == []  # the saved tokenizer already has them
    assert_same(run_cases(proc, IMAGE, VP), run_cases(loaded, IMAGE, VP))
    a, b = (
        encode_conversation(p, images=IMAGE, conversations=CONV, visual_prompts=VP, style="osprey", return_tensors="np")
        for p in (proc, loaded)
    )
    assert_same({k: a[k] for k in ("input_ids", "labels")}, {k: b[k] for k in ("input_ids", "labels")})


def test_non_default_settings_round_trip(tmp_path):
    proc = Sa2VAProcessor(Sa2VAImageProcessor(), make_tokenizer("qwen"), template="qwen", add_sa2va_tokens=False)
    proc.save_pretrained(tmp_path)
    loaded = AutoProcessor.from_pretrained(tmp_path)
    assert (loaded.template, loaded.add_sa2va_tokens) == ("qwen", False)
    assert "[SEG]" not in loaded.tokenizer.get_vocab()  # not added on load either
    # a template chosen at load time brings its own Jinja template, never the saved one of another
    vicuna = AutoProcessor.from_pretrained(tmp_path, template="vicuna")
    assert vicuna.apply_chat_template([{"role": "user", "content": "Hi"}], add_generation_prompt=True) == (
        "USER: Hi ASSISTANT:"
    )


def test_a_chat_template_of_ones_own_is_kept(tmp_path):
    own = "{% for m in messages %}{{ m['content'] }}{% endfor %}"
    proc = Sa2VAProcessor(Sa2VAImageProcessor(), make_tokenizer("qwen"), template="qwen", chat_template=own)
    proc.save_pretrained(tmp_path)
    assert AutoProcessor.from_pretrained(tmp_path).chat_template == own


def test_custom_template_round_trips(tmp_path):
    tpl = {"INSTRUCTION": "USER: {input} ASSISTANT:", "SEP": "\n", "SUFFIX": "</s>", "SUFFIX_AS_EOS": True}
    proc = Sa2VAProcessor(Sa2VAImageProcessor(), make_tokenizer("phi3"), template=tpl)
    proc.save_pretrained(tmp_path)
    loaded = AutoProcessor.from_pretrained(tmp_path)
    assert loaded.chat_template_config == proc.chat_template_config
    assert loaded.chat_template_config.instruction == "USER: {input} ASSISTANT:"


def _python(code: str, cwd, env_extra=None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    env.update({"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "PYTHONNOUSERSITE": "1"})
    env.update(env_extra or {})
    return subprocess.run([sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True, text=True, timeout=240)


def test_without_registration_auto_processor_returns_only_the_tokenizer(tmp_path):
    """transformers v5 falls back to the tokenizer when no processor class is registered:
    this is what importing sa2va_hf changes (the test above gets a Sa2VAProcessor)."""
    make().save_pretrained(tmp_path / "saved")
    code = textwrap.dedent(
        f"""
        import sys
        from transformers import AutoProcessor
        p = AutoProcessor.from_pretrained({str(tmp_path / "saved")!r})
        assert "sa2va_hf" not in sys.modules
        print(type(p).__name__)
        """
    )
    res = _python(code, cwd=tmp_path)
    assert res.returncode == 0, res.stderr[-3000:]
    name = res.stdout.strip().splitlines()[-1]
    assert name != "Sa2VAProcessor" and "Token" in name, name


def test_remote_code_loads_without_sa2va_hf_installed(tmp_path, monkeypatch):
    monkeypatch.setattr(Sa2VAProcessor, "_auto_class", None)
    monkeypatch.setattr(Sa2VAImageProcessor, "_auto_class", None)
    proc = make(template="qwen")  # a non-default setting must survive the remote-code load too
    Sa2VAProcessor.register_for_auto_class("AutoProcessor")  # registers the image processor too
    assert Sa2VAImageProcessor._auto_class == "AutoImageProcessor"
    saved = tmp_path / "remote"
    proc.save_pretrained(saved)
    for name in CLOSURE:
        assert (saved / name).is_file(), name
    cfg = json.loads((saved / "processor_config.json").read_text())
    assert cfg["auto_map"]["AutoProcessor"] == "processing_sa2va.Sa2VAProcessor"

    np.save(tmp_path / "image.npy", IMAGE)
    np.save(tmp_path / "vp.npy", VP)
    code = (
        textwrap.dedent(
            f"""
        import importlib.abc, json, sys

        class Block(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                if name == "sa2va_hf" or name.startswith("sa2va_hf."):
                    raise ImportError("sa2va_hf is not installed here")
                return None

        sys.meta_path.insert(0, Block())
        try:
            import sa2va_hf
            raise SystemExit("sa2va_hf importable")
        except ImportError:
            pass
        import numpy as np
        from transformers import AutoProcessor

        tmp = {str(tmp_path)!r}
        proc = AutoProcessor.from_pretrained(tmp + "/remote", trust_remote_code=True)
        assert type(proc).__name__ == "Sa2VAProcessor", type(proc)
        assert type(proc).__module__.startswith("transformers_modules"), type(proc).__module__
        assert type(proc.image_processor).__module__.startswith("transformers_modules")
        assert not any(m == "sa2va_hf" or m.startswith("sa2va_hf.") for m in sys.modules)
        assert proc.template == "qwen", vars(proc)
        assert open(tmp + "/remote/chat_template.jinja").read() == proc.chat_template
        """
        )
        + RUN_CASES
        + textwrap.dedent(
            """
        out = run_cases(proc, np.load(tmp + "/image.npy"), np.load(tmp + "/vp.npy"))
        np.savez(tmp + "/remote_out.npz", **out)
        print("ok")
        """
        )
    )
    res = _python(code, cwd=tmp_path, env_extra={"HF_MODULES_CACHE": str(tmp_path / "modules")})
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-3000:]
    remote = dict(np.load(tmp_path / "remote_out.npz"))
    assert_same(run_cases(proc, IMAGE, VP), remote)


FAMILY_CASES = """
def run_family(proc, image):
    prompt = proc.apply_chat_template(
        [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "What is it?"}]}],
        add_generation_prompt=True,
    )
    out = proc(images=[image, image[:, :100]], text=[prompt, "<image> B"], return_tensors="np")
    return {key: np.asarray(value) for key, value in out.items()}
"""
family_namespace: dict = {"np": np}
exec(FAMILY_CASES, family_namespace)
run_family = family_namespace["run_family"]


def test_every_family_loads_as_remote_code_without_sa2va_hf(tmp_path, monkeypatch):
    """Each family's processor (its own image processor, token strings, template) survives the trip."""
    from sa2va_hf import FAMILIES

    monkeypatch.setattr(Sa2VAProcessor, "_auto_class", None)
    for f in FAMILIES.values():
        monkeypatch.setattr(f.image_processor_class, "_auto_class", None)
    Sa2VAProcessor.register_for_auto_class("AutoProcessor")  # registers every family's image processor
    procs = {
        "qwen2_5_vl": Sa2VAProcessor(tokenizer=make_tokenizer("qwen_vl"), family="qwen2_5_vl"),
        "qwen3_vl": Sa2VAProcessor(
            FAMILIES["qwen3_vl"].image_processor(grounding_size=1008), make_tokenizer("qwen_vl"), family="qwen3_vl"
        ),
        "llava": Sa2VAProcessor(tokenizer=make_tokenizer("llava"), family="llava"),
    }
    for name, proc in procs.items():
        proc.save_pretrained(tmp_path / name)
        for file in CLOSURE:
            assert (tmp_path / name / file).is_file(), (name, file)
        image_cfg = json.loads((tmp_path / name / "processor_config.json").read_text())["image_processor"]
        assert image_cfg["auto_map"]["AutoImageProcessor"].endswith(type(proc.image_processor).__name__)
    np.save(tmp_path / "image.npy", IMAGE)
    code = (
        textwrap.dedent(
            f"""
        import importlib.abc, sys

        class Block(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                if name == "sa2va_hf" or name.startswith("sa2va_hf."):
                    raise ImportError("sa2va_hf is not installed here")
                return None

        sys.meta_path.insert(0, Block())
        import numpy as np
        from transformers import AutoProcessor

        tmp = {str(tmp_path)!r}
        """
        )
        + FAMILY_CASES
        + textwrap.dedent(
            f"""
        for name in {list(procs)!r}:
            proc = AutoProcessor.from_pretrained(tmp + "/" + name, trust_remote_code=True)
            assert type(proc).__module__.startswith("transformers_modules"), type(proc).__module__
            assert type(proc.image_processor).__module__.startswith("transformers_modules")
            assert proc.family == name, (proc.family, name)
            np.savez(tmp + "/" + name + "_out.npz", **run_family(proc, np.load(tmp + "/image.npy")))
        assert not any(m == "sa2va_hf" or m.startswith("sa2va_hf.") for m in sys.modules)
        print("ok")
        """
        )
    )
    res = _python(code, cwd=tmp_path, env_extra={"HF_MODULES_CACHE": str(tmp_path / "modules")})
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-3000:]
    for name, proc in procs.items():
        remote = dict(np.load(tmp_path / f"{name}_out.npz"))
        assert_same(run_family(proc, IMAGE), remote)
        assert remote["g_pixel_values"].shape[-1] == (1008 if name == "qwen3_vl" else 1024)


# --------------------------------------------------------------------------- checkpoints


def fake_checkpoint(path, template="internlm2_chat", flavour="internlm2"):
    tok = make_tokenizer(flavour)
    tok.add_tokens(["[SEG]", "<p>", "</p>", "<vp>", "</vp>"], special_tokens=True)
    tok.save_pretrained(path)
    config = {
        "model_type": "sa2va_chat",
        "architectures": ["Sa2VAChatModel"],
        "template": template,
        "force_image_size": 448,
        "downsample_ratio": 0.5,
        "max_dynamic_patch": 6,  # ignored, as upstream predict_forward ignores it
        "vision_config": {"image_size": 448, "patch_size": 14},
        "llm_config": {"architectures": ["InternLM2ForCausalLM"]},
    }
    (path / "config.json").write_text(json.dumps(config))
    return tok


def test_processor_from_checkpoint_folder(tmp_path):
    tok = fake_checkpoint(tmp_path)
    proc = processor_from_checkpoint(tmp_path)
    assert proc.template == "internlm2"
    assert proc.added_tokens == []
    assert len(proc.tokenizer) == len(tok)
    assert proc.image_processor.max_tiles == 12 and proc.image_processor.use_thumbnail
    prompt = proc.apply_chat_template([{"role": "user", "content": "<image>\nHi"}], add_generation_prompt=True)
    out = proc(images=Image.fromarray(IMAGE), text=prompt)
    (tiles,) = out["num_patches"].tolist()
    assert proc.tokenizer.decode(out["input_ids"][0]) == (
        "<s><|im_start|>user\n<img>" + "<IMG_CONTEXT>" * (256 * tiles) + "</img>\nHi<|im_end|>\n<|im_start|>assistant\n"
    )
    assert processor_from_checkpoint(tmp_path, template="qwen").template == "qwen"


def test_processor_from_checkpoint_errors(tmp_path):
    with pytest.raises(Sa2VAError, match="config.json"):
        processor_from_checkpoint(tmp_path)
    fake_checkpoint(tmp_path)
    cfg = json.loads((tmp_path / "config.json").read_text())
    del cfg["template"]
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(Sa2VAError, match="template"):
        processor_from_checkpoint(tmp_path)


def test_package_exports():
    for name in ("Sa2VAProcessor", "Sa2VACollator", "processor_from_checkpoint", "get_template"):
        assert hasattr(sa2va_hf, name)


CLOSURE = [
    "processing_sa2va.py", "image_processing_sa2va.py", "chat_templates.py", "tokens.py", "inputs.py", "tiling.py",
    "prompt_grid.py", "grounding.py", "image_io.py", "masks.py", "errors.py",
    # video, and the other checkpoint families
    "video_processing_sa2va.py", "video_io.py",
    "families.py", "image_processing_sa2va_common.py", "image_processing_sa2va_qwen2_vl.py",
    "image_processing_sa2va_llava.py",
    # the InternVL image path's speed: one call's pixels, the resize backends, the thread policy
    "image_pipeline.py", "resize.py", "threads.py",
    # the options every family's image processor checks the same way
    "options.py",
]  # fmt: skip


def test_remote_code_files_need_no_torch_or_sa2va_hf():
    from transformers.dynamic_module_utils import get_imports, get_relative_import_files

    import sa2va_hf.processing_sa2va as mod

    files = [mod.__file__, *get_relative_import_files(mod.__file__)]
    # transformers lists a file twice when two files of one round import it: compare as a set
    assert sorted({os.path.basename(f) for f in files}) == sorted(CLOSURE)
    for path in files:
        needed = set(get_imports(path))
        assert "sa2va_hf" not in needed and "torch" not in needed, (path, needed)


def test_a_folder_saved_by_0_1_still_loads(tmp_path):
    """0.1 saved ``system`` and ``max_length`` (gone from __init__ in 0.2) and no chat template."""
    make(template="qwen").save_pretrained(tmp_path)
    cfg = json.loads((tmp_path / "processor_config.json").read_text())
    cfg.update(system="", max_length=8192)
    (tmp_path / "processor_config.json").write_text(json.dumps(cfg))
    (tmp_path / "chat_template.jinja").unlink()
    loaded = AutoProcessor.from_pretrained(tmp_path)
    assert loaded.template == "qwen" and loaded.chat_template == make(template="qwen").chat_template
