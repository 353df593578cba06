"""Build a :class:`Sa2VAProcessor` from a Sa2VA checkpoint folder or Hub repo (``ByteDance/Sa2VA-*`` layout).

Such a folder has the tokenizer files (with ``[SEG]``, ``<vp>`` ... already added) and a
``config.json`` (``model_type`` ``sa2va_chat``, written by upstream's ``tools/convert_to_hf.py``).
What is read from it, and what must be said instead:

* **family** -- from ``architectures[0]``: ``Sa2VAChatModel`` is InternVL (every v1 checkpoint and
  v2's InternVL3; a config with an ``llm_config`` and no ``architectures`` too),
  ``Sa2VAChatModelQwen`` is Qwen-VL, told apart by ``vision_config.model_type`` (or
  ``text_config.model_type``): ``qwen2_5_vl*`` or ``qwen3_vl*``. The converter writes
  ``Sa2VAChatModel`` for every model that is not Qwen, so a ``Sa2VAChatModel`` config whose
  ``template`` is ``vicuna`` or whose ``vision_config.model_type`` is a CLIP tower (``clip*``) is
  LLaVA-1.5 (InternVL's are ``intern_vit*`` with a phi3 / qwen / internlm2 template). Any family the
  keys do not settle must be given as ``family=``.
* **template** -- ``template`` (``phi3_chat``, ``qwen_chat``, ``internlm2_chat``, ``vicuna``, ...).
  InternVL's v1 checkpoints differ by size, so an InternVL config without it is an error; the Qwen and
  LLaVA families fall back to their one template (``qwen``, ``vicuna``).
* **image sizes** -- InternVL: tile size, patch size and downsample ratio (``force_image_size`` /
  ``vision_config.image_size``, ``vision_config.patch_size``, ``downsample_ratio``); the tiling
  itself follows upstream's ``predict_forward``, which fixes 1..12 tiles with a thumbnail whatever
  ``config.json`` says. Qwen: ``patch_size``, ``merge_size``, ``temporal_patch_size``,
  ``image_mean``, ``image_std`` from the folder's ``preprocessor_config.json`` (the stock Qwen
  processor the converter saves), else ``vision_config`` (``patch_size``, ``spatial_merge_size``,
  ``temporal_patch_size``); the pixel limits are always Sa2VA's (``predict_forward`` passes its own,
  not the stock processor's). LLaVA: ``vision_config.image_size`` / ``patch_size`` and the
  preprocessor's ``image_mean`` / ``image_std`` where present.
* **grounding model** -- no public config key says it. SAM3 (1008) when ``grounding="sam3"``, or
  when the checkpoint shows it: a ``sam3.py`` in the folder (the converter copies the model's code
  beside the weights), ``sam3`` in ``architectures`` / ``auto_map`` / ``model_type`` / the last part
  of ``_name_or_path``, or in the folder's or repo's name (``Sa2VA-Qwen3-VL-4B-SAM3``); the reason is
  logged. SAM2 (1024) otherwise; ``grounding="sam2"`` overrides every sign.
"""

from __future__ import annotations

import json
import logging
import os
from typing import Any

from ..chat_templates import get_template
from ..errors import Sa2VAError
from ..families import FAMILIES, get_family
from ..grounding import GROUNDING_MODELS
from ..processing_sa2va import Sa2VAProcessor

logger = logging.getLogger(__name__)

#: ``architectures[0]`` of a Sa2VA ``config.json`` -> family (Qwen: refined by the vision config).
ARCHITECTURES = {"Sa2VAChatModel": "internvl", "Sa2VAChatModelQwen": "qwen"}
#: ``vision_config.model_type`` / ``text_config.model_type`` prefixes of the two Qwen-VL generations
#: (transformers 4.x writes ``qwen2_5_vl``, 5.x ``qwen2_5_vl_vision`` ...).
QWEN_MODEL_TYPES = {"qwen3_vl": "qwen3_vl", "qwen2_5_vl": "qwen2_5_vl"}


def read_json(path: str | os.PathLike, what: str) -> dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as f:
            value = json.load(f)
    except (OSError, ValueError) as e:
        raise Sa2VAError(f"cannot read {os.fspath(path)!r}: {e}") from None
    if not isinstance(value, dict):
        raise Sa2VAError(f"{os.fspath(path)!r}: {what} must be a JSON object, got {type(value).__name__}")
    return value


def read_checkpoint_config(path: str | os.PathLike) -> dict[str, Any]:
    """The ``config.json`` of a local checkpoint folder as a dict."""
    config_file = os.path.join(os.fspath(path), "config.json")
    if not os.path.isfile(config_file):
        raise Sa2VAError(f"{os.fspath(path)!r} has no config.json; is it a Sa2VA checkpoint folder?")
    return read_json(config_file, "config.json")


def detect_family(config: dict[str, Any], where: str = "config.json") -> str:
    """The Sa2VA family a checkpoint config describes (see the module docstring for the keys)."""
    architectures = config.get("architectures") or []
    arch = architectures[0] if isinstance(architectures, list) and architectures else None
    family = ARCHITECTURES.get(arch) if isinstance(arch, str) else None
    if family is None and arch is None and isinstance(config.get("llm_config"), dict):
        family = "internvl"  # configs written before architectures were recorded
    if family == "internvl" and _looks_like_llava(config):
        return "llava"
    if family == "qwen":
        for key in ("vision_config", "text_config"):
            model_type = (config.get(key) or {}).get("model_type")
            for prefix, name in QWEN_MODEL_TYPES.items():
                if isinstance(model_type, str) and model_type.startswith(prefix):
                    return name
        raise Sa2VAError(
            f"{where}: a Sa2VAChatModelQwen whose vision_config / text_config model_type names neither "
            "Qwen2.5-VL nor Qwen3-VL; pass family='qwen2_5_vl' or family='qwen3_vl'"
        )
    if family is None:
        known = ", ".join(f"{a} -> {f}" for a, f in ARCHITECTURES.items())
        raise Sa2VAError(
            f"{where}: cannot tell the Sa2VA family from architectures={architectures!r} (detected: {known}); "
            f"pass family= one of {', '.join(FAMILIES)} (e.g. family='llava' for a LLaVA-1.5 checkpoint)"
        )
    return family


def _looks_like_llava(config: dict[str, Any]) -> bool:
    """A ``Sa2VAChatModel`` config of a LLaVA-1.5 model: the vicuna template or a CLIP vision tower."""
    vision_type = (config.get("vision_config") or {}).get("model_type")
    return config.get("template") == "vicuna" or (isinstance(vision_type, str) and vision_type.startswith("clip"))


def detect_grounding(folder: str, config: dict[str, Any], name: str = "") -> tuple[str, str | None]:
    """``("sam3", why)`` when the checkpoint shows a SAM3 grounding model, else ``("sam2", None)``
    (see the module docstring for the signs read)."""
    if os.path.isfile(os.path.join(folder, "sam3.py")):
        return "sam3", f"{os.path.join(folder, 'sam3.py')!r} is there"
    auto_map = config.get("auto_map") if isinstance(config.get("auto_map"), dict) else {}
    architectures = config.get("architectures") if isinstance(config.get("architectures"), list) else []
    for key, value in (
        *(("architectures", a) for a in architectures),
        *((f"auto_map[{k!r}]", v) for k, v in auto_map.items()),
        ("model_type", config.get("model_type")),
        # its last part only: the folders above a checkpoint say nothing of the model
        ("_name_or_path", os.path.basename(str(config.get("_name_or_path") or "").rstrip("/\\")) or None),
    ):
        if isinstance(value, str) and "sam3" in value.lower():
            return "sam3", f"config.json's {key} is {value!r}"
    # names only (a repo id's last part, a folder's own name): the rest of a path says nothing of the model
    for label, value in (("the checkpoint's name", name), ("the folder's name", os.path.basename(folder.rstrip("/")))):
        if "sam3" in value.lower():
            return "sam3", f"{label} {value!r} says SAM3"
    return "sam2", None


def image_processor_kwargs_from_config(config: dict[str, Any]) -> dict[str, Any]:
    """Tile size, patch size and downsample ratio of an InternVL ``sa2va_chat`` config (where present)."""
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


def _qwen_kwargs(config: dict[str, Any], preprocessor: dict[str, Any]) -> dict[str, Any]:
    vision = config.get("vision_config") or {}
    out: dict[str, Any] = {}
    for name, vision_name in (
        ("patch_size", "patch_size"),
        ("merge_size", "spatial_merge_size"),
        ("temporal_patch_size", "temporal_patch_size"),
    ):
        value = preprocessor.get(name, vision.get(vision_name))
        if value is not None:
            out[name] = value
    for name in ("image_mean", "image_std"):
        if preprocessor.get(name) is not None:
            out[name] = preprocessor[name]
    return out


def _llava_kwargs(config: dict[str, Any], preprocessor: dict[str, Any]) -> dict[str, Any]:
    vision = config.get("vision_config") or {}
    out = {name: vision[name] for name in ("image_size", "patch_size") if vision.get(name) is not None}
    out.update({name: preprocessor[name] for name in ("image_mean", "image_std") if preprocessor.get(name) is not None})
    return out


def processor_from_checkpoint(
    path_or_repo: str | os.PathLike,
    family: str | None = None,
    *,
    grounding: str | None = None,
    template: Any = None,
    tokenizer: Any = None,
    trust_remote_code: bool = False,
    image_processor_kwargs: dict[str, Any] | None = None,
    **processor_kwargs: Any,
) -> Sa2VAProcessor:
    """A :class:`Sa2VAProcessor` for the Sa2VA checkpoint at ``path_or_repo`` (a local folder or a Hub id).

    Local folders are read offline. See the module docstring for what is read from the checkpoint.

    Args:
        path_or_repo: checkpoint folder (or Hub repo id, whose json / tokenizer files are fetched
            with ``huggingface_hub``).
        family: ``"internvl"``, ``"qwen2_5_vl"``, ``"qwen3_vl"`` or ``"llava"``; by default detected
            from ``config.json``.
        grounding: ``"sam2"`` (1024) or ``"sam3"`` (1008; Sa2VA-Qwen3-VL-4B-SAM3); by default SAM3
            where the checkpoint shows it (see the module docstring), else SAM2.
        template: overrides the config's ``template``.
        tokenizer: a tokenizer to use instead of loading the checkpoint's.
        trust_remote_code: passed to ``AutoTokenizer`` (InternLM2-based checkpoints ship
            their tokenizer as remote code).
        image_processor_kwargs: extra options for the family's image processor.
        **processor_kwargs: extra :class:`Sa2VAProcessor` options (``add_sa2va_tokens``, ...).
    """
    local = os.fspath(path_or_repo)
    if not os.path.isdir(local):
        try:
            from huggingface_hub import snapshot_download

            local = snapshot_download(local, allow_patterns=["*.json", "*.model", "*.txt", "*.py", "*.tiktoken"])
        except Exception as e:  # noqa: BLE001 - any hub failure is reported the same way
            raise Sa2VAError(
                f"{os.fspath(path_or_repo)!r} is not a local folder and could not be fetched: {e}"
            ) from None
    config_file = os.path.join(local, "config.json")
    config = read_checkpoint_config(local)
    spec = get_family(family if family is not None else detect_family(config, repr(config_file)))
    preprocessor_file = os.path.join(local, "preprocessor_config.json")
    preprocessor = read_json(preprocessor_file, "the preprocessor config") if os.path.isfile(preprocessor_file) else {}

    if template is None:
        template = config.get("template") or (None if spec.name == "internvl" else spec.template)
        if not template:
            raise Sa2VAError(f"{config_file!r} has no 'template'; pass template=...")
        try:
            get_template(template)
        except Sa2VAError as e:  # e.g. a Jinja template written where upstream writes a name
            raise Sa2VAError(
                f"{config_file!r}: its 'template' is not one sa2va-hf knows ({e}); pass template=..."
            ) from None
    if spec.name == "internvl":
        ip_kwargs = image_processor_kwargs_from_config(config)
    elif spec.name == "llava":
        ip_kwargs = _llava_kwargs(config, preprocessor)
    else:
        ip_kwargs = _qwen_kwargs(config, preprocessor)
    if grounding is None:
        grounding, why = detect_grounding(local, config, os.path.basename(os.fspath(path_or_repo).rstrip("/")))
        if why:
            logger.info("%s: SAM3 grounding (1008) because %s; pass grounding='sam2' if it is not", local, why)
    if grounding not in GROUNDING_MODELS:
        raise Sa2VAError(f"grounding must be one of {sorted(GROUNDING_MODELS)}, got {grounding!r}")
    model = GROUNDING_MODELS[grounding]
    ip_kwargs.update(grounding_size=model.size, grounding_mean=list(model.mean), grounding_std=list(model.std))
    ip_kwargs.update(image_processor_kwargs or {})
    if tokenizer is None:
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(local, trust_remote_code=trust_remote_code)
    return Sa2VAProcessor(
        spec.image_processor(**ip_kwargs), tokenizer, template=template, family=spec.name, **processor_kwargs
    )
