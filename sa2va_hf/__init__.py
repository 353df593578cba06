"""sa2va-hf: the Hugging Face-native data layer for Sa2VA-style models.

Where things live (see docs/architecture.md):

* top level -- the processor closure, which travels as remote code: ``errors``, ``masks``,
  ``image_io``, the image processor, the processor and their helpers (flat, sibling imports only);
* :mod:`sa2va_hf.data` -- every source as ``datasets`` records in one schema (``load_source``);
* :mod:`sa2va_hf.training` -- records -> upstream Sa2VA training samples, the collator;
* :mod:`sa2va_hf.export` -- checkpoints, Parquet / Hub export;
* :mod:`sa2va_hf.cli` -- the ``sa2va-hf`` command line.

Importing the package registers every family's image processor (:class:`Sa2VAImageProcessor`,
:class:`Sa2VAQwen2VLImageProcessor`, :class:`Sa2VALlavaImageProcessor`) with ``AutoImageProcessor``
and :class:`Sa2VAProcessor` with ``AutoProcessor``, so a saved folder loads back with
``AutoImageProcessor.from_pretrained(dir)`` / ``AutoProcessor.from_pretrained(dir)``. It imports
nothing heavy itself: the names below are imported on first use, and the registration runs when
transformers' Auto factories are imported (:mod:`sa2va_hf.registration`), so ``sa2va-hf --help`` and
the data side never pay for transformers and torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from .registration import register_auto_classes

__version__ = "0.3.0"

#: public name -> the module that defines it (imported on first use)
_EXPORTS = {
    "EmptyRegionError": ".errors",
    "ImageLoadError": ".errors",
    "MaskFormatError": ".errors",
    "Sa2VAError": ".errors",
    "ShapeMismatchError": ".errors",
    "FAMILIES": ".families",
    "Sa2VAImageProcessor": ".image_processing_sa2va",
    "Sa2VALlavaImageProcessor": ".image_processing_sa2va_llava",
    "Sa2VAProcessor": ".processing_sa2va",
    "Sa2VAQwen2VLImageProcessor": ".image_processing_sa2va_qwen2_vl",
    "Sa2VAVideoProcessor": ".video_processing_sa2va",
    "Sa2VACollator": ".training.collator",
    "CHAT_TEMPLATES": ".chat_templates",
    "ChatTemplate": ".chat_templates",
    "get_template": ".chat_templates",
    "processor_from_checkpoint": ".export.checkpoint",
    "list_sources": ".data",
    "load_source": ".data",
    "masks": ".masks",
}

__all__ = [
    "CHAT_TEMPLATES",
    "ChatTemplate",
    "EmptyRegionError",
    "FAMILIES",
    "ImageLoadError",
    "MaskFormatError",
    "Sa2VACollator",
    "Sa2VAError",
    "Sa2VAImageProcessor",
    "Sa2VALlavaImageProcessor",
    "Sa2VAProcessor",
    "Sa2VAQwen2VLImageProcessor",
    "Sa2VAVideoProcessor",
    "ShapeMismatchError",
    "get_template",
    "list_sources",
    "load_source",
    "masks",
    "processor_from_checkpoint",
]


def __getattr__(name: str):
    module_name = _EXPORTS.get(name)
    if module_name is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module = importlib.import_module(module_name, __name__)
    value = module if module_name == f".{name}" else getattr(module, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


if TYPE_CHECKING:  # what the names are, for type checkers and IDEs
    from . import masks
    from .chat_templates import CHAT_TEMPLATES, ChatTemplate, get_template
    from .data import list_sources, load_source
    from .errors import EmptyRegionError, ImageLoadError, MaskFormatError, Sa2VAError, ShapeMismatchError
    from .export.checkpoint import processor_from_checkpoint
    from .families import FAMILIES
    from .image_processing_sa2va import Sa2VAImageProcessor
    from .image_processing_sa2va_llava import Sa2VALlavaImageProcessor
    from .image_processing_sa2va_qwen2_vl import Sa2VAQwen2VLImageProcessor
    from .processing_sa2va import Sa2VAProcessor
    from .training.collator import Sa2VACollator
    from .video_processing_sa2va import Sa2VAVideoProcessor

register_auto_classes()
