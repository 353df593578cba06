"""A saved processor of every family, loaded as remote code, gives the outputs of the in-process processor.

Two steps, two environments:

* ``python tests/remote_code.py save DIR`` (where sa2va-hf is installed): per family, a processor saved
  with ``save_remote_code_processor`` into ``DIR/<family>`` (code, ``requirements.txt``, ``README.md``),
  the inputs (``DIR/inputs.npz``, ``DIR/rle.json``) and what the in-process processor makes of them
  (``DIR/<family>/expected.npz``);
* ``python tests/remote_code.py check DIR [--installed] [--block MODULE] [--families A,B]`` (a fresh interpreter, from
  outside the checkout): loads each folder with ``AutoProcessor.from_pretrained(..., trust_remote_code=True)``,
  runs the same calls, and compares every output array. It fails if anything named ``sa2va_hf`` is
  imported -- or even looked for -- while the remote code loads and runs. Without ``--installed`` it
  also requires that sa2va_hf cannot be imported at all (a clean environment: `make test-remote-code`);
  with it, that it can (the normal suite: the remote code must still not touch it). ``--block
  MODULE`` makes MODULE unimportable: without pycocotools every call but the RLE one works, and that
  one says to install pycocotools. ``--families`` checks only those (e.g. the ones whose
  ``requirements.txt`` is what the environment holds: InternVL and LLaVA need no torch).

The check half imports only numpy, PIL and transformers (what the saved processor declares).
"""

from __future__ import annotations

import importlib.abc
import importlib.util
import json
import os
import sys

import numpy as np

FAMILIES = ("internvl", "qwen2_5_vl", "qwen3_vl", "llava")
VISUAL_PROMPTS = {"internvl"}  # the other families take no visual prompts (upstream has no path for them)
RLE_CASE = "rle"


def _inputs(folder: str) -> tuple[np.ndarray, np.ndarray, list[dict]]:
    arrays = np.load(os.path.join(folder, "inputs.npz"))
    with open(os.path.join(folder, "rle.json"), encoding="utf-8") as f:
        rle = json.load(f)
    return arrays["image"], arrays["masks"], rle


def run_cases(proc, family: str, image: np.ndarray, masks: np.ndarray, rle: list[dict], only=None) -> dict:
    """Each call's outputs as flat arrays, ``"case/key[/i]"``; ``only`` limits the cases run."""
    from PIL import Image

    prompt = proc.apply_chat_template(
        [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "What is it?"}]}],
        add_generation_prompt=True,
    )
    prompts = {"visual_prompts": masks} if family in VISUAL_PROMPTS else {}
    rle_prompts = {"visual_prompts": rle} if family in VISUAL_PROMPTS else {}
    cases = {
        "masks": lambda: proc(images=Image.fromarray(image), text=prompt, masks=masks, return_tensors="np", **prompts),
        RLE_CASE: lambda: proc(images=image, text=prompt, masks=rle, return_tensors="np", **rle_prompts),
        "batch": lambda: proc(images=[image, image[:, :70]], text=[prompt, prompt], return_tensors="np"),
        "video": lambda: proc(
            videos=[image, image[::-1], image[:, ::-1]],
            text="<image>Segment it.",
            masks=masks[:, None].repeat(3, axis=1),
            max_llm_frames=2,
        ),
        "chat": lambda: proc.apply_chat_template(
            [
                {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "Hi"}]},
                {"role": "assistant", "content": "A cat."},
            ],
            tokenize=True,
            return_dict=True,
            return_assistant_tokens_mask=True,
            return_tensors="np",
            processor_kwargs={"images": [image]},
        ),
    }
    out: dict[str, np.ndarray] = {"prompt": np.asarray(prompt)}
    for case, call in cases.items():
        if only is None or case in only:
            for key, value in call().items():
                _flatten(out, f"{case}/{key}", value)
    return out


def _flatten(out: dict, key: str, value) -> None:
    if isinstance(value, (list, tuple)) and value and not np.isscalar(value[0]):
        for i, item in enumerate(value):
            _flatten(out, f"{key}/{i}", item)
    else:
        out[key] = np.asarray(value)


# ----------------------------------------------------------------------------- save (sa2va-hf installed)


def processors() -> dict:
    """One processor per family, each with a small local tokenizer of its LLM's kind."""
    from sa2va_hf import FAMILIES as SPECS
    from sa2va_hf import Sa2VAProcessor
    from tests.tokenizer_utils import make_tokenizer

    return {
        "internvl": Sa2VAProcessor(tokenizer=make_tokenizer("phi3"), family="internvl", template="phi3"),
        "qwen2_5_vl": Sa2VAProcessor(tokenizer=make_tokenizer("qwen_vl"), family="qwen2_5_vl"),
        "qwen3_vl": Sa2VAProcessor(
            SPECS["qwen3_vl"].image_processor(grounding_size=1008), make_tokenizer("qwen_vl"), family="qwen3_vl"
        ),
        "llava": Sa2VAProcessor(tokenizer=make_tokenizer("llava"), family="llava"),
    }


def save(folder: str) -> None:
    from sa2va_hf import masks as mask_codec
    from sa2va_hf.export.processor import save_remote_code_processor

    rng = np.random.default_rng(23)
    image = rng.integers(0, 256, (96, 130, 3), dtype=np.uint8)
    masks = np.zeros((2, 96, 130), np.uint8)
    masks[0, :40, :60] = 1
    masks[1, 50:, 70:] = 1
    os.makedirs(folder, exist_ok=True)
    np.savez(os.path.join(folder, "inputs.npz"), image=image, masks=masks)
    with open(os.path.join(folder, "rle.json"), "w", encoding="utf-8") as f:
        json.dump([mask_codec.encode(m) for m in masks], f)
    image, masks, rle = _inputs(folder)
    built = processors()
    assert tuple(built) == FAMILIES
    for family, proc in built.items():
        save_remote_code_processor(proc, os.path.join(folder, family))
        np.savez(os.path.join(folder, family, "expected.npz"), **run_cases(proc, family, image, masks, rle))


# ----------------------------------------------------------------------------- check (no sa2va-hf needed)


class _Watch(importlib.abc.MetaPathFinder):
    """Records every import of a watched name (found or not) and refuses the blocked ones."""

    def __init__(self, blocked: set[str]) -> None:
        self.blocked = blocked
        self.seen: list[str] = []

    def find_spec(self, name, path=None, target=None):
        top = name.split(".")[0]
        if top == "sa2va_hf":
            self.seen.append(name)
        if top in self.blocked:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None


def check(folder: str, installed: bool, blocked: set[str], families: tuple[str, ...] = FAMILIES) -> None:
    importable = importlib.util.find_spec("sa2va_hf") is not None
    if importable != installed:
        raise SystemExit(f"sa2va_hf is {'' if importable else 'not '}importable here; expected the opposite")
    watch = _Watch(blocked)
    sys.meta_path.insert(0, watch)
    from transformers import AutoProcessor

    image, masks, rle = _inputs(folder)
    for family in families:
        proc = AutoProcessor.from_pretrained(os.path.join(folder, family), trust_remote_code=True)
        assert type(proc).__name__ == "Sa2VAProcessor", type(proc)
        assert type(proc).__module__.startswith("transformers_modules."), type(proc).__module__
        assert proc.family == family, (proc.family, family)
        expected = dict(np.load(os.path.join(folder, family, "expected.npz")))
        if "pycocotools" in blocked:
            try:
                run_cases(proc, family, image, masks, rle, only={RLE_CASE})
            except ImportError as e:
                assert "pip install pycocotools" in str(e), e
            else:
                raise AssertionError(f"{family}: RLE masks were read without pycocotools")
            expected = {k: v for k, v in expected.items() if not k.startswith(f"{RLE_CASE}/")}
            got = run_cases(proc, family, image, masks, rle, only=set(_cases(expected)))
        else:
            got = run_cases(proc, family, image, masks, rle)
        assert sorted(got) == sorted(expected), (family, sorted(set(got) ^ set(expected)))
        for key, value in expected.items():
            np.testing.assert_array_equal(got[key], value, err_msg=f"{family}: {key}")
        print(f"{family}: {len(expected)} arrays identical")
    loaded = sorted(m for m in sys.modules if m.split(".")[0] == "sa2va_hf")
    assert not watch.seen and not loaded, f"the remote code reached for sa2va_hf: {watch.seen or loaded}"
    print("ok: no sa2va_hf module was imported or looked for")


def _cases(expected: dict) -> set[str]:
    return {key.split("/")[0] for key in expected if "/" in key}


def main(argv: list[str]) -> None:
    command, folder, *flags = argv
    if command == "save":
        save(folder)
    elif command == "check":
        blocked = {flags[i + 1] for i, flag in enumerate(flags) if flag == "--block"}
        chosen = [flags[i + 1].split(",") for i, flag in enumerate(flags) if flag == "--families"]
        unknown = set(sum(chosen, [])) - set(FAMILIES)
        if unknown:
            raise SystemExit(f"unknown families {sorted(unknown)}: {FAMILIES}")
        check(folder, installed="--installed" in flags, blocked=blocked, families=tuple(sum(chosen, [])) or FAMILIES)
    else:
        raise SystemExit(f"unknown command {command!r}: save or check")


if __name__ == "__main__":
    main(sys.argv[1:])
