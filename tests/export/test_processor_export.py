"""save-processor / push-processor: a checkpoint's processor as a folder that loads with no sa2va-hf installed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from PIL import Image

from sa2va_hf import Sa2VAImageProcessor, Sa2VAProcessor, processor_from_checkpoint
from sa2va_hf.cli import main

from ..processing.test_processor_loading import fake_checkpoint
from .fake_hub import FakeApi

IMAGE = np.random.default_rng(3).integers(0, 256, (60, 90, 3), dtype=np.uint8)

LOAD_WITHOUT_PROJECT = textwrap.dedent(
    """
    import importlib.abc, json, sys
    class Block(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] == "sa2va_hf":
                raise ImportError("sa2va_hf is not installed here")
    sys.meta_path.insert(0, Block())
    import numpy as np
    from PIL import Image
    from transformers import AutoProcessor
    folder, image = sys.argv[1], Image.fromarray(np.load(sys.argv[2]))
    proc = AutoProcessor.from_pretrained(folder, trust_remote_code=True)
    prompt = proc.apply_chat_template([{"role": "user", "content": "<image>\\nWhat is here?"}], add_generation_prompt=True)
    out = proc(images=image, text=prompt)
    print(json.dumps({"type": type(proc).__name__, "ids": [int(i) for i in out["input_ids"][0]]}))
    """
)


def test_saved_processor_folder_loads_and_matches_without_the_project(tmp_path):
    fake_checkpoint(tmp_path / "ckpt", template="phi3_chat", flavour="phi3")
    assert main(["save-processor", str(tmp_path / "ckpt"), "--output", str(tmp_path / "out")]) == 0
    assert {"processing_sa2va.py", "image_processing_sa2va.py", "chat_template.jinja"} <= set(
        os.listdir(tmp_path / "out")
    )
    # the classes are left as they were: a later plain save_pretrained writes no remote code
    assert "_auto_class" not in Sa2VAProcessor.__dict__ and "_auto_class" not in Sa2VAImageProcessor.__dict__
    np.save(tmp_path / "image.npy", IMAGE)
    r = subprocess.run(
        [sys.executable, "-c", LOAD_WITHOUT_PROJECT, str(tmp_path / "out"), str(tmp_path / "image.npy")],
        capture_output=True,
        text=True,
        cwd=str(tmp_path),
        env={**os.environ, "HF_HUB_OFFLINE": "1", "HF_MODULES_CACHE": str(tmp_path / "modules")},
    )
    assert r.returncode == 0, r.stderr[-3000:]
    remote = json.loads(r.stdout.strip().splitlines()[-1])
    local = processor_from_checkpoint(tmp_path / "ckpt")
    prompt = local.apply_chat_template(
        [{"role": "user", "content": "<image>\nWhat is here?"}], add_generation_prompt=True
    )
    assert remote == {
        "type": "Sa2VAProcessor",
        "ids": [int(i) for i in local(images=Image.fromarray(IMAGE), text=prompt)["input_ids"][0]],
    }


@pytest.mark.parametrize("has_card", [False, True])
def test_push_processor_uploads_a_model_repo_and_keeps_its_card(tmp_path, capsys, hub, has_card):
    fake_checkpoint(tmp_path / "ckpt", template="qwen_chat", flavour="qwen")
    api = hub(FakeApi(files={"README.md"} if has_card else ()))
    assert main(["push-processor", str(tmp_path / "ckpt"), "--repo", "me/sa2va-proc"]) == 0
    (upload,) = [c for c in api.calls if c[0] == "upload_folder"]
    assert {"processing_sa2va.py", "requirements.txt", "processor_config.json"} <= set(upload[2])
    assert ("README.md" in upload[2]) is not has_card  # the model's own card is never overwritten
    assert [c[0] for c in api.calls] == ["whoami", "create_repo", "file_exists", "create_repo", "upload_folder"]
    out = capsys.readouterr().out
    assert "pushed the processor to https://huggingface.co/me/sa2va-proc" in out
    assert ("kept the repository's README.md" in out) is has_card
    if not has_card:
        assert "AutoProcessor.from_pretrained('me/sa2va-proc', trust_remote_code=True)" in api.uploaded_card


def test_push_processor_checks_before_reading_the_checkpoint(tmp_path, capsys, monkeypatch, no_network):
    import huggingface_hub

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    assert main(["push-processor", str(tmp_path / "no-such-checkpoint"), "--repo", "me/sa2va-proc"]) == 2
    assert "cannot push to me/sa2va-proc: HF_HUB_OFFLINE is set" in capsys.readouterr().err
