"""sa2va-hf: the Hugging Face-native data layer for Sa2VA-style models.

Importing the package registers :class:`Sa2VAImageProcessor` with ``AutoImageProcessor``,
so a saved processor folder loads back with ``AutoImageProcessor.from_pretrained(dir)``.
"""

from . import masks
from .errors import (
    EmptyRegionError,
    ImageLoadError,
    MaskFormatError,
    Sa2VAError,
    ShapeMismatchError,
)
from .image_processing_sa2va import Sa2VAImageProcessor
from .loading import list_sources, load_source

__version__ = "0.1.0"

__all__ = [
    "EmptyRegionError",
    "ImageLoadError",
    "MaskFormatError",
    "Sa2VAError",
    "Sa2VAImageProcessor",
    "ShapeMismatchError",
    "list_sources",
    "load_source",
    "masks",
]


def _register_auto_classes() -> None:
    from transformers import AutoImageProcessor

    from .configuration_sa2va import Sa2VAProcessingConfig

    AutoImageProcessor.register(
        Sa2VAProcessingConfig, image_processor_classes={"pil": Sa2VAImageProcessor}, exist_ok=True
    )


_register_auto_classes()
