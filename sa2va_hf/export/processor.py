"""A processor folder that loads anywhere: ``AutoProcessor.from_pretrained(folder, trust_remote_code=True)``
on a machine without sa2va-hf (the processing code travels in the folder).

What that code needs is declared where readers look: transformers checks the imports of each remote-code
file when it loads them (every import outside a ``try``), so the closure imports only
:data:`REQUIRED` at module level and the rest (:data:`OPTIONAL`) inside a ``try`` where the input
that needs it is read; ``requirements.txt`` and ``README.md`` in the folder list both, with the
version ranges sa2va-hf itself is tested with.
"""

from __future__ import annotations

import importlib.metadata
import os
import re
from typing import Any

__all__ = ["OPTIONAL", "REQUIRED", "requirement_lines", "save_remote_code_processor"]

#: import name -> (distribution, what it is for): what the remote code needs to load and run.
REQUIRED = {
    "numpy": ("numpy", "arrays"),
    "PIL": ("pillow", "images"),
    "transformers": ("transformers", "ProcessorMixin, the tokenizer"),
    "jinja2": ("jinja2", "apply_chat_template (imported by transformers when it renders a chat template)"),
}
#: import name -> (distribution, the input that needs it): imported only where that input is read.
OPTIONAL = {
    "pycocotools": ("pycocotools", "masks given as COCO RLE or polygons (array masks need nothing)"),
    "torch": ("torch", 'return_tensors="pt"'),
    "av": ("av", "video files (mp4 ...) as input (frames given as images or arrays need nothing)"),
}


def _ranges() -> dict[str, str]:
    """distribution -> its version range in sa2va-hf's own metadata (the ranges CI tests)."""
    try:
        requires = importlib.metadata.requires("sa2va-hf") or []
    except importlib.metadata.PackageNotFoundError:  # a source checkout that was never installed
        return {}
    out = {}
    for requirement in requires:
        requirement = requirement.split(";")[0].strip()
        name = re.match(r"[A-Za-z0-9._-]+", requirement).group(0)
        specifiers = requirement[len(name) :].lstrip("[").split("]")[-1]
        out.setdefault(name.lower(), ",".join(sorted(specifiers.split(","), key=lambda s: not s.startswith(">"))))
    return out


def requirement_lines(processor: Any = None) -> tuple[list[str], list[str]]:
    """(required, optional) pip requirement lines, each with its version range and what it is for.

    An optional import that ``processor``'s settings compute with (the Qwen-VL families' default pixels
    need torch) is required for that processor.
    """
    ranges = _ranges()
    image_processor = getattr(processor, "image_processor", None)
    needed = image_processor.required_imports() if hasattr(image_processor, "required_imports") else {}

    def line(distribution: str, why: str) -> str:
        return f"{distribution}{ranges.get(distribution, '')}  # {why}"

    required = [line(*entry) for entry in REQUIRED.values()]
    required += [line(OPTIONAL[name][0], why) for name, why in needed.items()]
    optional = [line(*entry) for name, entry in OPTIONAL.items() if name not in needed]
    return required, optional


def _requirements_txt(processor: Any) -> str:
    from .. import __version__

    required, optional = requirement_lines(processor)
    return "\n".join(
        [
            f"# What the remote code of this processor (written by sa2va-hf {__version__}) needs:",
            "# pip install -r requirements.txt",
            *required,
            "# only for some inputs (uncomment what you use):",
            *(f"# {entry}" for entry in optional),
            "",
        ]
    )


def _readme(processor: Any, location: str) -> str:
    from .. import __version__

    required, optional = requirement_lines(processor)
    image_processor = processor.image_processor
    template = processor.template if isinstance(processor.template, str) else "custom"
    size = getattr(image_processor, "grounding_size", "?")
    return f"""---
library_name: transformers
tags:
- sa2va
- sa2va-hf
---

# Sa2VA processor ({processor.family}, template `{template}`)

Images, videos, visual prompts and masks plus text, turned into what a Sa2VA checkpoint of the
`{processor.family}` family consumes (`{type(image_processor).__name__}`, grounding image {size}x{size}).
The processing code travels with it (written by sa2va-hf {__version__}); sa2va-hf itself is not needed:

```python
from transformers import AutoProcessor

processor = AutoProcessor.from_pretrained({location!r}, trust_remote_code=True)
```

## Requirements

`pip install -r requirements.txt`:

{chr(10).join(f"- `{entry.split('  # ')[0]}`: {entry.split('  # ')[1]}" for entry in required)}

Only for some inputs:

{chr(10).join(f"- `{entry.split('  # ')[0]}`: {entry.split('  # ')[1]}" for entry in optional)}
"""


def save_remote_code_processor(processor: Any, folder: str | os.PathLike, *, repo_id: str | None = None) -> str:
    """``save_pretrained`` with the remote-code files and ``auto_map``, leaving the classes as they were;
    then ``requirements.txt`` and ``README.md`` saying what that code needs (its snippet loads ``repo_id``
    if given, else ``folder``).

    ``register_for_auto_class`` marks the classes (process-wide) so that ``save_pretrained`` copies
    their code into the folder; the marks are put back afterwards, so later saves are unchanged.
    """
    processor_cls = type(processor)
    image_cls = type(processor.image_processor)
    before = (processor_cls.__dict__.get("_auto_class"), image_cls.__dict__.get("_auto_class"))
    try:
        processor_cls.register_for_auto_class("AutoProcessor")  # registers the image processor too
        processor.save_pretrained(os.fspath(folder))
    finally:
        for cls, value in zip((processor_cls, image_cls), before):
            if value is None and "_auto_class" in cls.__dict__:
                delattr(cls, "_auto_class")
            elif value is not None:
                cls._auto_class = value
    readme = _readme(processor, repo_id or os.fspath(folder))
    for name, text in (("requirements.txt", _requirements_txt(processor)), ("README.md", readme)):
        with open(os.path.join(os.fspath(folder), name), "w", encoding="utf-8") as f:
            f.write(text)
    return os.fspath(folder)
