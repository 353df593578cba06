"""Build a :class:`Sa2VAProcessor` from a Sa2VA checkpoint folder (``ByteDance/Sa2VA-*`` layout).

Such a folder has the tokenizer files (with ``[SEG]``, ``<vp>`` ... already added) and a
``config.json`` (``model_type`` ``sa2va_chat``) whose ``template`` names the chat template
(``phi3_chat``, ``qwen_chat``, ``internlm2_chat``). The image settings follow upstream's
``predict_forward``, which fixes 1..12 tiles with a thumbnail whatever ``config.json`` says;
the token-grid parameters (tile size, patch size, downsample ratio) are read from the config.
"""

from __future__ import annotations

import json
import os
from typing import Any

from ..errors import Sa2VAError
from ..image_processing_sa2va import Sa2VAImageProcessor
from ..processing_sa2va import Sa2VAProcessor


def read_checkpoint_config(path: str | os.PathLike) -> dict[str, Any]:
    """The ``config.json`` of a local checkpoint folder as a dict."""
    config_file = os.path.join(os.fspath(path), "config.json")
    if not os.path.isfile(config_file):
        raise Sa2VAError(f"{os.fspath(path)!r} has no config.json; is it a Sa2VA checkpoint folder?")
    try:
        with open(config_file, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError) as e:
        raise Sa2VAError(f"cannot read {config_file!r}: {e}") from None


def image_processor_kwargs_from_config(config: dict[str, Any]) -> dict[str, Any]:
    """Tile size, patch size and downsample ratio of a ``sa2va_chat`` config (where present)."""
    vision = config.get("vision_config") or {}
    out: dict[str, Any] = {}
    size = config.get("force_image_size") or vision.get("image_size")
    if size:
        out["image_size"] = int(size)
    if vision.get("patch_size"):
        out["patch_size"] = int(vision["patch_size"])
    if config.get("downsample_ratio"):
        out["downsample_ratio"] = float(config["downsample_ratio"])
    return out


def processor_from_checkpoint(
    path: str | os.PathLike,
    *,
    template: Any = None,
    tokenizer: Any = None,
    trust_remote_code: bool = False,
    image_processor_kwargs: dict[str, Any] | None = None,
    **processor_kwargs: Any,
) -> Sa2VAProcessor:
    """A :class:`Sa2VAProcessor` for the Sa2VA checkpoint at ``path`` (a local folder or a Hub id).

    Args:
        path: checkpoint folder (or Hub repo id, resolved with ``huggingface_hub``).
        template: overrides the config's ``template``.
        tokenizer: a tokenizer to use instead of loading the checkpoint's.
        trust_remote_code: passed to ``AutoTokenizer`` (InternLM2-based checkpoints ship
            their tokenizer as remote code).
        image_processor_kwargs: extra :class:`Sa2VAImageProcessor` options.
        **processor_kwargs: extra :class:`Sa2VAProcessor` options (``add_sa2va_tokens``, ...).
    """
    local = os.fspath(path)
    if not os.path.isdir(local):
        try:
            from huggingface_hub import snapshot_download

            local = snapshot_download(
                os.fspath(path), allow_patterns=["*.json", "*.model", "*.txt", "*.py", "*.tiktoken"]
            )
        except Exception as e:  # noqa: BLE001 - any hub failure is reported the same way
            raise Sa2VAError(f"{os.fspath(path)!r} is not a local folder and could not be fetched: {e}") from None
    config = read_checkpoint_config(local)
    if template is None:
        template = config.get("template")
        if not template:
            raise Sa2VAError(f"{os.path.join(local, 'config.json')!r} has no 'template'; pass template=...")
    if tokenizer is None:
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(local, trust_remote_code=trust_remote_code)
    ip_kwargs = image_processor_kwargs_from_config(config)
    ip_kwargs.update(image_processor_kwargs or {})
    return Sa2VAProcessor(Sa2VAImageProcessor(**ip_kwargs), tokenizer, template=template, **processor_kwargs)
