"""The strings upstream's rules produce, written out by hand for the training tests (never built with
the package's own helpers): image and region strings, each chat template's pieces, and the tile count
from the independent reading of the tiling rule in ``tests/reference.py``.
"""

from __future__ import annotations

import numpy as np
from pycocotools import mask as mask_utils

from ..fakedata._common import frame_signature
from ..reference import MEAN, STD, ref_grid, ref_nearest, ref_pool

C = "<IMG_CONTEXT>"

#: (what opens a user turn, what closes it and opens the answer, the answer suffix, BOS of the first turn)
TEMPLATES = {
    "qwen": ("<|im_start|>user\n", "<|im_end|>\n<|im_start|>assistant\n", "<|im_end|>", ""),
    "phi3": ("<|user|>\n", "<|end|>\n<|assistant|>\n", "<|end|>", "<s>"),
    "internlm2": ("<|im_start|>user\n", "<|im_end|>\n<|im_start|>assistant\n", "<|im_end|>", "<s>"),
}
#: Sa2VA v1's RefCOCO instruction, forced whatever the template
REFCOCO_V1 = ("<|user|>\n", "<|end|><|assistant|>\n")


def tiles(width: int, height: int) -> int:
    cols, rows = ref_grid(width, height)
    return cols * rows + (1 if cols * rows > 1 else 0)


def img(n_tiles: int) -> str:
    return "<img>" + C * (256 * n_tiles) + "</img>"


def region_str(cells: list[int]) -> str:
    parts = [f"region{i + 1}<vp>" + C * k + "</vp>" for i, k in enumerate(cells)]
    return f"There are {len(cells)} part regions in the picture: " + ", ".join(parts) + ".\n"


def decoded(record, region: int, frame: int = 0) -> np.ndarray:
    rle = record["regions"][region]["masks"][frame]
    return mask_utils.decode({"size": list(rle["size"]), "counts": rle["counts"].encode()})


def nearest_cells(record, region: int) -> int:
    return int(ref_nearest(decoded(record, region), 16, 16).sum())


def pool_cells(record, region: int) -> int:
    return int(ref_pool(decoded(record, region)).sum())


def xtuner_runs(flavour: str, turns: list[tuple[str, str]]) -> list[tuple[str, bool]]:
    """xtuner's layout (template_map_fn + encode_fn) of (user, answer) turns, as (text, labelled) runs."""
    open_, close, suffix, bos = TEMPLATES[flavour]
    runs = []
    for i, (user, answer) in enumerate(turns):
        runs.append(((bos if i == 0 else "\n") + open_ + user + close, False))
        runs.append((answer + suffix, True))
    runs.append(("\n", False))
    return runs


def direct_runs(flavour: str, turns: list[tuple[str, str]], instruction=None) -> list[tuple[str, bool]]:
    """v1's own RefCOCO / LLaVA loop: the first turn with the tokenizer's special tokens (BOS where it has
    one), no separator, no EOS; ``instruction`` = (open, close), the template's by default."""
    open_, close, suffix, bos = TEMPLATES[flavour]
    if instruction is not None:
        open_, close = instruction
    runs = []
    for i, (user, answer) in enumerate(turns):
        runs.append(((bos if i == 0 else "") + open_ + user + close, False))
        runs.append((answer + suffix, True))
    return runs


def sample_runs(tokenizer, sample) -> list[tuple[str, bool]]:
    """A built sample's ids decoded into (text, labelled) runs (labels must equal ids where labelled)."""
    from ..tokenizer_utils import label_runs

    return [(text, on) for on, text in label_runs(tokenizer, sample["input_ids"], sample["labels"])]


def frame_signatures(pixel_values) -> list[int]:
    """The frame index each tile shows, for videos of ``frame_signature_image`` frames (tiles un-normalized)."""
    std, mean = np.asarray(STD, np.float32)[:, None, None], np.asarray(MEAN, np.float32)[:, None, None]
    return [frame_signature((tile * std + mean) * 255) for tile in pixel_values]
