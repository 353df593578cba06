"""The processor classes, registered with transformers' Auto factories without importing transformers.

``import sa2va_hf`` makes ``AutoProcessor.from_pretrained(folder)`` find :class:`Sa2VAProcessor`, and
``AutoImageProcessor.from_pretrained(folder)`` each family's image processor. Importing transformers
costs seconds of CPU (it imports torch), which the command line and the data side never need; so each
registration runs when its transformers module exists: at once if it is already imported, else right
after Python imports it (a one-shot import hook). Whichever comes first, ``import sa2va_hf`` or
``from transformers import AutoProcessor``, the factories know the classes before anyone can ask them.
"""

from __future__ import annotations

import importlib.abc
import sys
import threading
import warnings
from collections.abc import Callable
from types import ModuleType

IMAGE_PROCESSING_AUTO = "transformers.models.auto.image_processing_auto"
PROCESSING_AUTO = "transformers.models.auto.processing_auto"


def _register_image_processors(auto: ModuleType) -> None:
    from .configuration_sa2va import Sa2VALlavaProcessingConfig, Sa2VAProcessingConfig, Sa2VAQwen2VLProcessingConfig
    from .image_processing_sa2va import Sa2VAImageProcessor
    from .image_processing_sa2va_llava import Sa2VALlavaImageProcessor
    from .image_processing_sa2va_qwen2_vl import Sa2VAQwen2VLImageProcessor

    # one config class per image processor: AutoImageProcessor finds a saved class name through its mapping
    for config, image_processor_class in (
        (Sa2VAProcessingConfig, Sa2VAImageProcessor),
        (Sa2VAQwen2VLProcessingConfig, Sa2VAQwen2VLImageProcessor),
        (Sa2VALlavaProcessingConfig, Sa2VALlavaImageProcessor),
    ):
        auto.AutoImageProcessor.register(config, image_processor_classes={"pil": image_processor_class}, exist_ok=True)


def _register_processor(auto: ModuleType) -> None:
    from .configuration_sa2va import Sa2VAProcessingConfig
    from .processing_sa2va import Sa2VAProcessor

    auto.AutoProcessor.register(Sa2VAProcessingConfig, Sa2VAProcessor, exist_ok=True)


REGISTRATIONS: dict[str, Callable[[ModuleType], None]] = {
    IMAGE_PROCESSING_AUTO: _register_image_processors,
    PROCESSING_AUTO: _register_processor,
}


def _run(name: str, module: ModuleType) -> None:
    try:
        REGISTRATIONS[name](module)
    except Exception as e:  # noqa: BLE001 - transformers' own import must not fail because of ours
        warnings.warn(f"sa2va-hf could not register its classes with {name}: {e!r}", RuntimeWarning, stacklevel=2)


class _AfterImport(importlib.abc.MetaPathFinder):
    """Runs a registration right after Python has executed one of :data:`REGISTRATIONS`' modules."""

    def __init__(self, names: list[str]) -> None:
        self.pending = set(names)
        self.lock = threading.Lock()

    def find_spec(self, fullname, path, target=None):
        if fullname not in self.pending:
            return None
        spec = None
        for finder in sys.meta_path:  # the spec the import would have used without us
            if finder is not self and hasattr(finder, "find_spec"):
                spec = finder.find_spec(fullname, path, target)
                if spec is not None:
                    break
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        with self.lock:
            self.pending.discard(fullname)
            if not self.pending and self in sys.meta_path:
                sys.meta_path.remove(self)
        execute = spec.loader.exec_module

        def exec_module(module: ModuleType) -> None:
            execute(module)
            _run(fullname, module)

        spec.loader.exec_module = exec_module  # this import's own loader object: nothing else sees it
        return spec


def register_auto_classes() -> None:
    """Register now what transformers has imported; the rest as soon as it is imported."""
    waiting = []
    for name in REGISTRATIONS:
        module = sys.modules.get(name)
        if module is not None:
            _run(name, module)
        else:
            waiting.append(name)
    if waiting:
        sys.meta_path.insert(0, _AfterImport(waiting))
