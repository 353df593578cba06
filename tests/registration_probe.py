"""Run in a fresh process by ``tests/test_registration.py``: ``import sa2va_hf`` registers the processor
classes with transformers' Auto factories, whichever is imported first, without importing transformers itself.

``python -m tests.registration_probe ORDER FOLDER`` saves an image processor and a processor into FOLDER and
loads them back through ``AutoImageProcessor`` / ``AutoProcessor``; it prints what it found.
"""

from __future__ import annotations

import os
import sys


def main(order: str, folder: str) -> None:
    if order == "transformers_first":
        from transformers import AutoImageProcessor, AutoProcessor

        import sa2va_hf
    else:
        import sa2va_hf

        print(f"after import sa2va_hf, transformers imported: {'transformers' in sys.modules}")
        from transformers import AutoImageProcessor, AutoProcessor

    from tests.tokenizer_utils import make_tokenizer

    sa2va_hf.Sa2VAQwen2VLImageProcessor().save_pretrained(os.path.join(folder, "qwen"))
    sa2va_hf.Sa2VAProcessor(sa2va_hf.Sa2VAImageProcessor(max_tiles=3), make_tokenizer("phi3")).save_pretrained(
        os.path.join(folder, "processor")
    )
    image_processor = AutoImageProcessor.from_pretrained(os.path.join(folder, "qwen"))
    processor = AutoProcessor.from_pretrained(os.path.join(folder, "processor"))
    print(f"AutoImageProcessor: {type(image_processor).__name__}")
    print(f"AutoProcessor: {type(processor).__name__} max_tiles={processor.image_processor.max_tiles}")


if __name__ == "__main__":
    main(*sys.argv[1:])
