"""Build a :class:`Sa2VAProcessor` from a Sa2VA checkpoint folder or Hub repo (``ByteDance/Sa2VA-*`` layout).

Such a folder has the tokenizer files (with ``[SEG]``, ``<vp>`` ... already added), a ``config.json``
(``model_type`` ``sa2va_chat``, written by upstream's ``tools/convert_to_hf.py``) and the model's
code beside the weights (the converter copies its ``hf/models*/`` folder there). What is read from
it, and what must be said instead:

* **family** -- from the Sa2VA model class the config names, wherever the converter's transformers
  put it: ``architectures``, ``text_config.architectures`` (transformers 4.57's ``Qwen2_5_VLConfig``
  moves ``architectures`` into its text config when the model is saved, leaving
  ``Qwen2_5_VLForConditionalGeneration`` at the top), or ``auto_map``'s ``AutoModel``.
  ``Sa2VAChatModel`` is InternVL (every v1 checkpoint and v2's InternVL3; a config with an
  ``llm_config`` and no Sa2VA class too), ``Sa2VAChatModelQwen`` is Qwen-VL, told apart by
  ``vision_config.model_type`` (or ``text_config.model_type``): ``qwen2_5_vl*`` or ``qwen3_vl*``;
  ``Sa2VAChatModelLlava`` is LLaVA-1.5 (upstream's later code, ``hf/models_llava``), and so is a
  ``Sa2VAChatModel`` config whose ``template`` is ``vicuna`` or whose ``vision_config.model_type`` is a
  CLIP tower (``clip*``; InternVL's are ``intern_vit*`` with a phi3 / qwen / internlm2 template). A
  family the keys do not settle must be given as ``family=``; a ``family=`` that contradicts them is
  an error naming both.
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
* **grounding model** -- no public config key says it; what the folder holds does. From the surest
  sign down: the model's own code (the ``auto_map`` module in the folder) imports ``SAM3`` from
  ``sam3.py`` or ``SAM2`` from ``sam2.py``; only one of ``sam3.py`` / ``sam2.py`` is in the folder;
  ``sam3`` in ``architectures`` / ``auto_map`` / ``model_type``. These are the checkpoint's own code and
  classes: a ``grounding=`` that contradicts them is an error naming both. Weaker, a guess: ``sam3`` in
  the last part of ``_name_or_path``, or in the folder's or repo's name (``Sa2VA-Qwen3-VL-4B-SAM3``);
  nothing at all means SAM2. ``grounding=`` overrides a guess. The reason is logged.
"""

from __future__ import annotations

import json
import logging
import os
import re
from dataclasses import dataclass
from typing import Any

from ..chat_templates import get_template
from ..data.logs import without_messages
from ..errors import Sa2VAError
from ..families import FAMILIES, get_family
from ..grounding import GROUNDING_MODELS
from ..processing_sa2va import Sa2VAProcessor

logger = logging.getLogger(__name__)

#: Sa2VA's HF model classes -> family (Qwen: refined by the vision config).
SA2VA_MODEL_CLASSES = {"Sa2VAChatModel": "internvl", "Sa2VAChatModelQwen": "qwen", "Sa2VAChatModelLlava": "llava"}
#: ``vision_config.model_type`` / ``text_config.model_type`` prefixes of the two Qwen-VL generations
#: (transformers 4.x writes ``qwen2_5_vl``, 5.x ``qwen2_5_vl_vision`` ...).
QWEN_MODEL_TYPES = {"qwen3_vl": "qwen3_vl", "qwen2_5_vl": "qwen2_5_vl"}
#: ``from .sam3 import SAM3`` in the model's code: the grounding model it builds.
_GROUNDING_IMPORT = re.compile(r"^\s*from\s+\.(sam2|sam3)\s+import\b", re.MULTILINE)


@dataclass(frozen=True)
class Finding:
    """What a checkpoint folder says about one setting: ``value``, the ``reason`` (logged and quoted in
    errors), and whether it is ``hard`` -- read from the checkpoint's own classes or code -- or a guess
    (a name, or nothing found), which a caller's setting may override."""

    value: str
    reason: str
    hard: bool


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


def _sub(config: dict[str, Any], key: str) -> dict[str, Any]:
    value = config.get(key)
    return value if isinstance(value, dict) else {}


def _strings(value: Any) -> list[str]:
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


def _auto_model(config: dict[str, Any]) -> list[tuple[str, str]]:
    """(auto_map key, "module.Class") of the config's model classes (a ``repo--`` prefix dropped)."""
    auto_map = _sub(config, "auto_map")
    return [
        (key, auto_map[key].split("--")[-1])
        for key in ("AutoModel", "AutoModelForCausalLM")
        if isinstance(auto_map.get(key), str)
    ]


def _sa2va_model_class(config: dict[str, Any]) -> tuple[str, str] | None:
    """(Sa2VA model class, where config.json names it), or None."""
    for where, names in (
        ("architectures", _strings(config.get("architectures"))),
        ("text_config.architectures", _strings(_sub(config, "text_config").get("architectures"))),
    ):
        for name in names:
            if name in SA2VA_MODEL_CLASSES:
                return name, f"config.json's {where} names {name}"
    for key, ref in _auto_model(config):
        name = ref.rsplit(".", 1)[-1]
        if name in SA2VA_MODEL_CLASSES:
            return name, f"config.json's auto_map[{key!r}] is {ref!r}"
    return None


def family_finding(config: dict[str, Any], where: str = "config.json") -> Finding:
    """The Sa2VA family a checkpoint config describes, and why (see the module docstring for the keys);
    an error asking for ``family=`` when the keys do not settle it."""
    found = _sa2va_model_class(config)
    if found is None:
        if isinstance(config.get("llm_config"), dict):  # configs written before architectures were recorded
            return Finding("internvl", "config.json has InternVL's llm_config and no Sa2VA model class", True)
        known = ", ".join(f"{a} -> {f}" for a, f in SA2VA_MODEL_CLASSES.items())
        raise Sa2VAError(
            f"{where}: cannot tell the Sa2VA family: no Sa2VA model class in architectures="
            f"{config.get('architectures')!r}, text_config.architectures or auto_map (detected: {known}); "
            f"pass family= one of {', '.join(FAMILIES)} (e.g. family='llava' for a LLaVA-1.5 checkpoint)"
        )
    name, why = found
    family = SA2VA_MODEL_CLASSES[name]
    if family == "qwen":
        for key in ("vision_config", "text_config"):
            model_type = _sub(config, key).get("model_type")
            for prefix, qwen in QWEN_MODEL_TYPES.items():
                if isinstance(model_type, str) and model_type.startswith(prefix):
                    return Finding(qwen, f"{why} and its {key}.model_type is {model_type!r}", True)
        raise Sa2VAError(
            f"{where}: a Sa2VAChatModelQwen whose vision_config / text_config model_type names neither "
            "Qwen2.5-VL nor Qwen3-VL; pass family='qwen2_5_vl' or family='qwen3_vl'"
        )
    if family == "internvl":  # the converter writes Sa2VAChatModel for every model that is not Qwen
        vision_type = _sub(config, "vision_config").get("model_type")
        if config.get("template") == "vicuna":
            return Finding("llava", f"{why} with the vicuna template (LLaVA-1.5's)", True)
        if isinstance(vision_type, str) and vision_type.startswith("clip"):
            return Finding("llava", f"{why} with a CLIP vision tower ({vision_type!r})", True)
    return Finding(family, why, True)


def detect_family(config: dict[str, Any], where: str = "config.json") -> str:
    """The Sa2VA family a checkpoint config describes (see :func:`family_finding`)."""
    return family_finding(config, where).value


def grounding_finding(folder: str, config: dict[str, Any], name: str = "") -> Finding:
    """Which mask decoder the checkpoint at ``folder`` grounds with, and why (module docstring)."""
    for _, ref in _auto_model(config):
        module = ref.rsplit(".", 1)[0]
        code = os.path.join(folder, module + ".py")
        if module.isidentifier() and os.path.isfile(code):  # a module beside config.json, never a path
            with open(code, encoding="utf-8", errors="replace") as f:
                imported = set(_GROUNDING_IMPORT.findall(f.read()))
            if len(imported) == 1:
                model = imported.pop()
                return Finding(model, f"the model's code {code!r} builds it from {model}.py", True)
    present = [m for m in ("sam2", "sam3") if os.path.isfile(os.path.join(folder, f"{m}.py"))]
    if len(present) == 1:
        path = os.path.join(folder, f"{present[0]}.py")
        return Finding(present[0], f"{path!r} is the only grounding model code in the folder", True)
    for key, value in (
        *(("architectures", a) for a in _strings(config.get("architectures"))),
        *((f"auto_map[{k!r}]", v) for k, v in _sub(config, "auto_map").items()),
        ("model_type", config.get("model_type")),
    ):
        if isinstance(value, str) and "sam3" in value.lower():
            return Finding("sam3", f"config.json's {key} is {value!r}", True)
    # names only (the last part of _name_or_path, a repo id's, the folder's own): the rest of a path says
    # nothing of the model
    name_or_path = os.path.basename(str(config.get("_name_or_path") or "").rstrip("/\\"))
    for label, value in (
        ("config.json's _name_or_path", name_or_path),
        ("the checkpoint's name", name),
        ("the folder's name", os.path.basename(folder.rstrip("/"))),
    ):
        if "sam3" in value.lower():
            return Finding("sam3", f"{label} {value!r} says SAM3 (a guess from a name)", False)
    return Finding("sam2", "nothing in the checkpoint names SAM3", False)


def _resolve(said: str | None, found: Finding, what: str, where: str) -> str:
    """The caller's setting where given -- unless it contradicts the checkpoint's own classes or code --,
    else what the checkpoint says; logged either way."""
    if said is None:
        logger.info("%s: %s %r because %s", where, what, found.value, found.reason)
        return found.value
    if said != found.value:
        if found.hard:
            raise Sa2VAError(
                f"{what}={said!r} contradicts the checkpoint {where!r}: {found.reason}, which means {what} "
                f"{found.value!r}; leave {what}= out"
            )
        logger.info("%s: %s=%r as given, though %s", where, what, said, found.reason)
    return said


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
            from ``config.json`` (one that contradicts it is an error).
        grounding: ``"sam2"`` (1024) or ``"sam3"`` (1008; Sa2VA-Qwen3-VL-4B-SAM3); by default what the
            checkpoint shows (see the module docstring; one that contradicts its code is an error).
        template: overrides the config's ``template``.
        tokenizer: a tokenizer to use instead of loading the checkpoint's.
        trust_remote_code: passed to ``AutoTokenizer`` (InternLM2-based checkpoints ship
            their tokenizer as remote code).
        image_processor_kwargs: extra options for the family's image processor.
        **processor_kwargs: extra :class:`Sa2VAProcessor` options (``mode="training"``,
            ``add_sa2va_tokens``, ...); the processor builds what the checkpoint's ``predict_forward``
            builds by default (``mode="inference"``).
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
    if family is None:
        spec = get_family(_resolve(None, family_finding(config, repr(config_file)), "family", local))
    else:
        spec = get_family(family)
        try:
            found = family_finding(config, repr(config_file))
        except Sa2VAError:  # nothing in the folder says it: the caller does
            found = Finding(spec.name, "", False)
        _resolve(spec.name, found, "family", local)
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
    else:
        get_template(template)  # a wrong name fails before the tokenizer is read
    if spec.name == "internvl":
        ip_kwargs = image_processor_kwargs_from_config(config)
    elif spec.name == "llava":
        ip_kwargs = _llava_kwargs(config, preprocessor)
    else:
        ip_kwargs = _qwen_kwargs(config, preprocessor)
    if grounding is not None and grounding not in GROUNDING_MODELS:
        raise Sa2VAError(f"grounding must be one of {sorted(GROUNDING_MODELS)}, got {grounding!r}")
    name = os.path.basename(os.fspath(path_or_repo).rstrip("/"))
    grounding = _resolve(grounding, grounding_finding(local, config, name), "grounding", local)
    model = GROUNDING_MODELS[grounding]
    ip_kwargs.update(grounding_size=model.size, grounding_mean=list(model.mean), grounding_std=list(model.std))
    ip_kwargs.update(image_processor_kwargs or {})
    if tokenizer is None:
        from transformers import AutoTokenizer

        # AutoTokenizer reads config.json as a bare config when no class is registered for "sa2va_chat"
        # (the checkpoint's config is remote code) and warns about the type: nothing the user can act on
        with without_messages("transformers.configuration_utils", "You are using a model of type"):
            tokenizer = AutoTokenizer.from_pretrained(local, trust_remote_code=trust_remote_code)
    return Sa2VAProcessor(
        spec.image_processor(**ip_kwargs), tokenizer, template=template, family=spec.name, **processor_kwargs
    )
