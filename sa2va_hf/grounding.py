"""The grounding image: what the mask decoder (SAM2 / SAM3) sees, for every model family.

Upstream resizes the whole RGB image to a square with PIL (BICUBIC, aspect not kept) and hands
it over as uint8 CHW; the model normalizes it itself. Like SAM2's ``utils/transforms.py``, one
small object holds the resolution and the mean/std, so image families and video share it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image

from .resize import resize, torch_source
from .tiling import IMAGENET_MEAN, IMAGENET_STD, normalization_table, normalize_planes_into


@dataclass(frozen=True)
class GroundingTransform:
    """Square PIL resize to ``size``, uint8 CHW; ``normalized=True`` gives ``(x/255 - mean)/std`` float32."""

    size: int = 1024
    mean: Sequence[float] = IMAGENET_MEAN
    std: Sequence[float] = IMAGENET_STD

    def __call__(self, rgb: Image.Image, normalized: bool = False, backend: str = "pil") -> np.ndarray:
        """``backend``: the resize's (:mod:`.resize`): PIL's, exact, or torch's."""
        source = torch_source(rgb) if backend == "torch" else rgb
        planes = resize(source, self.size, self.size, backend)  # R, G, B planes: no transpose
        if normalized:
            out = np.empty((1, 3, self.size, self.size), dtype=np.float32)
            normalize_planes_into(out, planes, normalization_table(self.mean, self.std))
            return out[0]
        out = np.empty((3, self.size, self.size), dtype=np.uint8)
        for c in range(3):
            out[c] = planes[c]
        return out


#: SAM2 (Sa2VA's InternVL / Qwen checkpoints): 1024, ImageNet mean/std.
SAM2_GROUNDING = GroundingTransform(1024, IMAGENET_MEAN, IMAGENET_STD)
#: SAM3 (Sa2VA-Qwen3-VL-4B-SAM3): 1008, and ImageNet mean/std: Sa2VA's SAM3 wrapper normalizes as its
#: SAM2 one does (``hf/models_qwen3vl_sam3/sam3.py``, ``img_mean`` / ``img_std``). transformers'
#: ``Sam3ImageProcessor`` (mean = std = 0.5, bilinear) is stock SAM3's, not what the Sa2VA model computes.
SAM3_GROUNDING = GroundingTransform(1008, IMAGENET_MEAN, IMAGENET_STD)
#: By mask decoder: what ``grounding="sam2" | "sam3"`` selects.
GROUNDING_MODELS = {"sam2": SAM2_GROUNDING, "sam3": SAM3_GROUNDING}
