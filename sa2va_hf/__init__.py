"""sa2va-hf: the Hugging Face-native data layer for Sa2VA-style models.

Where things live (see the README's "Where things live"):

* top level -- the processor closure, which travels as remote code: ``errors``, ``masks``,
  ``image_io``, the image processor, the processor and their helpers (flat, sibling imports only);
* :mod:`sa2va_hf.data` -- every source as ``datasets`` records in one schema (``load_source``);
* :mod:`sa2va_hf.training` -- records -> upstream Sa2VA training samples, the collator;
* :mod:`sa2va_hf.export` -- checkpoints, Parquet / Hub export;
* :mod:`sa2va_hf.cli` -- the ``sa2va-hf`` command line.

Importing the package registers every family's image processor (:class:`Sa2VAImageProcessor`,
:class:`Sa2VAQwen2VLImageProcessor`, :class:`Sa2VALlavaImageProcessor`) with ``AutoImageProcessor``
and :class:`Sa2VAProcessor` with ``AutoProcessor``, so a saved folder loads back with
``AutoImageProcessor.from_pretrained(dir)`` / ``AutoProcessor.from_pretrained(dir)``.
"""

from . import masks
from .chat_templates import CHAT_TEMPLATES, ChatTemplate, get_template
from .data import list_sources, load_source
from .errors import (
    EmptyRegionError,
    ImageLoadError,
    MaskFormatError,
    Sa2VAError,
    ShapeMismatchError,
)
from .export.checkpoint import processor_from_checkpoint
from .families import FAMILIES
from .image_processing_sa2va import Sa2VAImageProcessor
from .image_processing_sa2va_llava import Sa2VALlavaImageProcessor
from .image_processing_sa2va_qwen2_vl import Sa2VAQwen2VLImageProcessor
from .processing_sa2va import Sa2VAProcessor
from .training.collator import Sa2VACollator
from .video_processing_sa2va import Sa2VAVideoProcessor

__version__ = "0.3.0"

__all__ = [
    "EmptyRegionError",
    "FAMILIES",
    "ImageLoadError",
    "MaskFormatError",
    "Sa2VAError",
    "Sa2VAImageProcessor",
    "Sa2VALlavaImageProcessor",
    "Sa2VAProcessor",
    "Sa2VAQwen2VLImageProcessor",
    "Sa2VAVideoProcessor",
    "Sa2VACollator",
    "CHAT_TEMPLATES",
    "ChatTemplate",
    "get_template",
    "processor_from_checkpoint",
    "ShapeMismatchError",
    "list_sources",
    "load_source",
    "masks",
]


def _register_auto_classes() -> None:
    from transformers import AutoImageProcessor, AutoProcessor

    from .configuration_sa2va import Sa2VALlavaProcessingConfig, Sa2VAProcessingConfig, Sa2VAQwen2VLProcessingConfig

    # one config class per image processor: AutoImageProcessor finds a saved class name through its mapping
    for config, image_processor_class in (
        (Sa2VAProcessingConfig, Sa2VAImageProcessor),
        (Sa2VAQwen2VLProcessingConfig, Sa2VAQwen2VLImageProcessor),
        (Sa2VALlavaProcessingConfig, Sa2VALlavaImageProcessor),
    ):
        AutoImageProcessor.register(config, image_processor_classes={"pil": image_processor_class}, exist_ok=True)
    AutoProcessor.register(Sa2VAProcessingConfig, Sa2VAProcessor, exist_ok=True)


_register_auto_classes()
