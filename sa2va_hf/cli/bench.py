"""``sa2va-hf bench``: the image processor against its peers, as ratios.

Peers, all producing the same ``pixel_values`` bit for bit (checked before timing):
* ``transformers``: ``GotOcr2ImageProcessorPil`` (InternVL tiling in transformers);
* ``naive``: the recipe as upstream writes it (PIL crop per tile, per-tile float math).
Timings are best-of-``repeat`` wall times per image; ratios > 1 mean sa2va-hf is faster.
"full sample" adds ``g_pixel_values`` and two visual prompts; "2 threads" is the same with
``num_threads=2`` (grounding resize beside the tiling).
"""

from __future__ import annotations

import time

import numpy as np
from PIL import Image

from ..image_io import to_rgb_image
from ..image_processing_sa2va import IMAGENET_MEAN, IMAGENET_STD, Sa2VAImageProcessor, choose_grid

HELP = "time the image processor against the transformers peer"
GENERATED_SIZES = [(640, 480), (1920, 1080), (4032, 3024), (1200, 300)]


def _naive(image: Image.Image) -> np.ndarray:
    cols, rows = choose_grid(image.width, image.height)
    big = image.resize((448 * cols, 448 * rows))
    tiles = [
        big.crop(((i % cols) * 448, (i // cols) * 448, (i % cols + 1) * 448, (i // cols + 1) * 448))
        for i in range(cols * rows)
    ]
    if len(tiles) > 1:
        tiles.append(image.resize((448, 448)))
    mean = np.asarray(IMAGENET_MEAN, np.float32)[:, None, None]
    std = np.asarray(IMAGENET_STD, np.float32)[:, None, None]
    return np.stack(
        [((np.asarray(t).transpose(2, 0, 1).astype(np.float32) / np.float32(255)) - mean) / std for t in tiles]
    )


def _best(fn, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def _images(paths: list[str]) -> list[tuple[str, Image.Image]]:
    if paths:
        return [(p.rsplit("/", 1)[-1], to_rgb_image(p)) for p in paths]
    rng = np.random.default_rng(0)
    out = []
    for w, h in GENERATED_SIZES:
        # Smooth noise: photo-like content without shipping photos.
        small = rng.integers(0, 256, (max(h // 16, 1), max(w // 16, 1), 3), dtype=np.uint8)
        out.append((f"generated {w}x{h}", Image.fromarray(small).resize((w, h), Image.BILINEAR)))
    return out


def add_arguments(parser) -> None:
    parser.add_argument("--images", nargs="*", default=[], help="image files (default: generated photos)")
    parser.add_argument("--repeat", type=int, default=5)


def run(args) -> int:
    from transformers.models.got_ocr2.image_processing_pil_got_ocr2 import GotOcr2ImageProcessorPil

    peer = GotOcr2ImageProcessorPil(
        crop_to_patches=True, min_patches=1, max_patches=12, size={"height": 448, "width": 448},
        image_mean=list(IMAGENET_MEAN), image_std=list(IMAGENET_STD),
    )  # fmt: skip
    ours = Sa2VAImageProcessor(return_grounding=False)
    full = Sa2VAImageProcessor()
    full_threaded = Sa2VAImageProcessor(num_threads=2)
    print(
        f"{'image':<24}{'T':>3}{'sa2va-hf ms':>13}{'transformers ms':>17}{'naive ms':>10}{'vs tf':>8}{'vs naive':>10}{'full sample ms':>16}{'2 threads':>11}"
    )
    ratios_tf, ratios_naive = [], []
    for name, image in _images(args.images):
        a = ours(image)["pixel_values"]
        b = peer(image, return_tensors="np")["pixel_values"]
        c = _naive(image)
        same = np.array_equal(a, b) and np.array_equal(a, c)
        vp = np.zeros((2, image.height, image.width), np.uint8)
        vp[0, : image.height // 2] = 1
        vp[1, :, : image.width // 3] = 1
        t_ours = _best(lambda im=image: ours(im), args.repeat)
        t_tf = _best(lambda im=image: peer(im, return_tensors="np"), args.repeat)
        t_naive = _best(lambda im=image: _naive(im), args.repeat)
        t_full = _best(lambda im=image, vp=vp: full(im, visual_prompts=vp), args.repeat)
        t_full2 = _best(lambda im=image, vp=vp: full_threaded(im, visual_prompts=vp), args.repeat)
        ratios_tf.append(t_tf / t_ours)
        ratios_naive.append(t_naive / t_ours)
        flag = "" if same else "  (outputs differ!)"
        print(
            f"{name:<24}{len(a):>3}{t_ours * 1e3:>13.1f}{t_tf * 1e3:>17.1f}{t_naive * 1e3:>10.1f}"
            f"{t_tf / t_ours:>7.2f}x{t_naive / t_ours:>9.2f}x{t_full * 1e3:>16.1f}{t_full2 * 1e3:>11.1f}{flag}"
        )
    gm = lambda r: float(np.exp(np.mean(np.log(r))))  # noqa: E731
    print(f"geometric mean speed-up: {gm(ratios_tf):.2f}x vs transformers, {gm(ratios_naive):.2f}x vs naive")
    return 0
