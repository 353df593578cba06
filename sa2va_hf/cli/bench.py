"""``sa2va-hf bench``: every speed ratio of the processor, side by side, in one process.

Each row times two functions A/B-interleaved over the same inputs (per round: every input once
through each, the order alternating between rounds) and reports the ratio of their total times
per round -- the median and the spread (min..max) over the rounds; > 1 means sa2va-hf is faster.
Outputs are compared before anything is timed (bit for bit, or within the torch backend's bound).

Peers:

* ``upstream``: the recipe as upstream writes it, op for op: ``Image.open(path).convert("RGB")``,
  ``dynamic_preprocess`` (one resize, a PIL ``crop`` per tile, the thumbnail resize), per tile
  ``x/255`` then ``(x - mean)/std`` in float32 on a CHW array (what ``ToTensor`` + ``Normalize``
  compute), ``np.stack``; the grounding image: PIL resize to 1024, uint8 CHW;
* ``floor``: what the exact output cannot avoid on one core: the decode, the three PIL resizes and
  the normalization of the tiles, back to back;
* ``transformers``: ``GotOcr2ImageProcessorPil``, InternVL's tiling in transformers (tiles only);
* ``decode + interpolate``: upstream's visual prompts, pycocotools ``decode`` then
  ``F.interpolate`` (nearest to 16x16; for ``pool``, nearest to 448 then ``adaptive_avg_pool2d > 0.5``),
  the masks of one image per call, as upstream's dataset and the processor take them.

Inputs: the photos cars / truck / groceries and two 960x540 video frames of the project's
``shared/data`` when found (``--data``, ``$SA2VA_HF_BENCH_DATA``, or ``shared/data`` in the working
directory or above it), else generated photo-like JPEGs; COCO RLEs from ``coco_rle/*.json`` there,
else generated ellipses.
"""

from __future__ import annotations

import glob
import json
import os
import platform
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image

from ..threads import default_num_threads
from ..tiling import IMAGENET_MEAN, IMAGENET_STD, choose_grid
from .args import existing_file, existing_folder, positive_int

HELP = "time the image processor against the upstream recipe, its floor and transformers, as ratios"

PHOTOS = ("images/cars.jpg", "images/truck.jpg", "images/groceries.jpg")
FRAMES = ("video_bedroom/00000.jpg", "video_bedroom/00001.jpg")
#: sizes of the generated stand-ins when shared/data is not there (the real photos' sizes)
GENERATED_SIZES = [(2250, 1500), (1800, 1200), (800, 534), (960, 540), (960, 540)]
QUICK_SIZES = [(640, 480), (300, 200)]


# --------------------------------------------------------------------------- the peers

_MEAN = np.asarray(IMAGENET_MEAN, dtype=np.float32)[:, None, None]
_STD = np.asarray(IMAGENET_STD, dtype=np.float32)[:, None, None]


def upstream_recipe(path: str) -> tuple[np.ndarray, np.ndarray]:
    """(pixel_values, g_pixel_values) of one image file, the way upstream computes them (its resizes on the
    Pillow it ran: ``pil_resize``, one call each on Pillow <= 12)."""
    from ..resize import pil_resize

    image = Image.open(path).convert("RGB")
    cols, rows = choose_grid(image.width, image.height)
    resized = pil_resize(image, 448 * cols, 448 * rows)
    tiles = [
        resized.crop(((i % cols) * 448, (i // cols) * 448, (i % cols + 1) * 448, (i // cols + 1) * 448))
        for i in range(cols * rows)
    ]
    if len(tiles) != 1:
        tiles.append(pil_resize(image, 448, 448))
    pixel_values = np.stack(
        [((np.asarray(t).transpose(2, 0, 1).astype(np.float32) / np.float32(255)) - _MEAN) / _STD for t in tiles]
    )
    grounding = np.ascontiguousarray(np.asarray(pil_resize(image, 1024, 1024)).transpose(2, 0, 1))
    return pixel_values, grounding


def floor_steps(path: str) -> None:
    """The exact path's unavoidable work on one core: decode, the three resizes, the tiles' normalization."""
    from ..resize import pil_resize, resize
    from ..tiling import normalization_table, normalize_planes_into

    with Image.open(path) as im:
        im.load()
        image = im if im.mode == "RGB" else im.convert("RGB")
    cols, rows = choose_grid(image.width, image.height)
    n = cols * rows
    out = np.empty((n + (n > 1), 3, 448, 448), dtype=np.float32)
    table = normalization_table(IMAGENET_MEAN, IMAGENET_STD)
    normalize_planes_into(out[:n], resize(image, 448 * cols, 448 * rows), table, rows, cols)
    if n > 1:
        normalize_planes_into(out[n:], resize(image, 448, 448), table)
    pil_resize(image, 1024, 1024)


def _prompt_grids_upstream(groups: Sequence[list[dict]], mode: str) -> Callable[[], list]:
    import torch
    import torch.nn.functional as F
    from pycocotools import mask as mask_utils

    def run() -> list:
        out = []
        for group in groups:
            stack = torch.from_numpy(np.stack([mask_utils.decode(r) for r in group]))[None]
            if mode == "nearest":
                out.append(F.interpolate(stack, size=(16, 16), mode="nearest")[0])
            else:
                big = F.interpolate(stack.float(), size=(448, 448), mode="nearest")
                out.append((F.adaptive_avg_pool2d(big, 16) > 0.5)[0])
        return out

    return run


def _prompt_grids_ours(groups: Sequence[list[dict]], mode: str) -> Callable[[], list]:
    from ..prompt_grid import segmentations_to_grid

    def run() -> list:
        return [segmentations_to_grid(g, *g[0]["size"], 16, mode) for g in groups]

    return run


# --------------------------------------------------------------------------- timing


@dataclass
class Row:
    name: str
    ratios: list[float]
    a_ms: float  # median per-round time of the sa2va-hf side, per call
    b_ms: float  # the peer's
    target: str = ""
    note: str = ""

    def line(self) -> str:
        median = statistics.median(self.ratios)
        spread = f"{min(self.ratios):.2f}..{max(self.ratios):.2f}"
        return f"{self.name:<58}{self.target:>8}{median:>8.2f}x{spread:>13}{self.a_ms:>10.2f}{self.b_ms:>10.2f}  {self.note}"


def ab(name: str, ours: Callable[[], object], peer: Callable[[], object], rounds: int, calls: int = 1, **kw) -> Row:
    """Interleave ``ours`` and ``peer`` for ``rounds`` rounds; the ratio peer/ours per round."""
    ours(), peer()  # warm up (imports, caches, thread pools)
    t_ours, t_peer = [], []
    for r in range(rounds):
        pair = [(ours, t_ours), (peer, t_peer)]
        for fn, sink in pair if r % 2 == 0 else pair[::-1]:
            start = time.perf_counter()
            fn()
            sink.append(time.perf_counter() - start)
    ratios = [p / o for o, p in zip(t_ours, t_peer)]
    per_call = 1e3 / calls
    return Row(name, ratios, statistics.median(t_ours) * per_call, statistics.median(t_peer) * per_call, **kw)


def over(paths: Sequence[str], fn: Callable[[str], object]) -> Callable[[], None]:
    def run() -> None:
        for path in paths:
            fn(path)

    return run


class torch_threads:
    """Temporarily set torch's intra-op threads (a no-op without torch)."""

    def __init__(self, n: int) -> None:
        self.n = n

    def __enter__(self):
        try:
            import torch
        except ImportError:
            self.torch = None
            return self
        self.torch, self.before = torch, torch.get_num_threads()
        torch.set_num_threads(self.n)
        return self

    def __exit__(self, *exc) -> None:
        if self.torch is not None:
            self.torch.set_num_threads(self.before)


# --------------------------------------------------------------------------- inputs


def find_data(explicit: str | None) -> str | None:
    """The project's shared/data folder: given, from $SA2VA_HF_BENCH_DATA, or shared/data here or above."""
    for candidate in (explicit, os.environ.get("SA2VA_HF_BENCH_DATA")):
        if candidate:
            return candidate if os.path.isdir(candidate) else None
    here = os.path.abspath(os.getcwd())
    while True:
        candidate = os.path.join(here, "shared", "data")
        if os.path.isfile(os.path.join(candidate, PHOTOS[0])):
            return candidate
        parent = os.path.dirname(here)
        if parent == here:
            return None
        here = parent


def photo_like(width: int, height: int, seed: int) -> Image.Image:
    """Smooth colour fields and a few sharp shapes: resizes treat it like a photo."""
    from PIL import ImageDraw, ImageFilter

    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (max(height // 40, 2), max(width // 40, 2), 3), dtype=np.uint8)
    image = Image.fromarray(small).resize((width, height), Image.BICUBIC)
    draw = ImageDraw.Draw(image)
    for _ in range(20):
        x, y = int(rng.integers(0, width)), int(rng.integers(0, height))
        box = [x, y, x + int(rng.integers(4, width // 4 + 5)), y + int(rng.integers(4, height // 4 + 5))]
        draw.ellipse(box, fill=tuple(int(v) for v in rng.integers(0, 256, 3)))
    return image.filter(ImageFilter.GaussianBlur(0.8))


def image_paths(args, workdir: str) -> tuple[list[str], str]:
    if args.images:
        return list(args.images), "given files"
    data = None if args.quick else find_data(args.data)
    if data and all(os.path.isfile(os.path.join(data, p)) for p in PHOTOS + FRAMES):
        return [os.path.join(data, p) for p in PHOTOS + FRAMES], f"photos and video frames of {data}"
    paths = []
    for k, (w, h) in enumerate(QUICK_SIZES if args.quick else GENERATED_SIZES):
        path = os.path.join(workdir, f"generated_{k}_{w}x{h}.jpg")
        photo_like(w, h, k).save(path, quality=90)
        paths.append(path)
    return paths, "generated photo-like JPEGs (no shared/data found)"


def ellipse_rles(n: int, seed: int = 0) -> list[list[dict]]:
    """Groups of 1-6 RLE ellipses on 640x480, like COCO object masks."""
    from .. import masks

    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:480, :640]
    groups = []
    while sum(map(len, groups)) < n:
        group = []
        for _ in range(int(rng.integers(1, 7))):
            cy, cx, ry, rx = rng.uniform(0, 480), rng.uniform(0, 640), rng.uniform(5, 200), rng.uniform(5, 250)
            group.append(masks.encode((((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 < 1).astype(np.uint8)))
        groups.append(group)
    return groups


def rle_groups(args) -> tuple[list[list[dict]], str]:
    data = None if args.quick else find_data(args.data)
    files = sorted(glob.glob(os.path.join(data, "coco_rle", "*.json"))) if data else []
    if files:
        by_image: dict = {}
        with open(files[0]) as f:
            for entry in json.load(f):
                by_image.setdefault(entry["image_id"], []).append(entry["segmentation"])
        groups = list(by_image.values())
        return groups, f"{sum(map(len, groups))} COCO RLEs of {len(groups)} images ({os.path.basename(files[0])})"
    groups = ellipse_rles(40 if args.quick else 700)
    return groups, f"{sum(map(len, groups))} generated RLE ellipses (640x480) of {len(groups)} images"


# --------------------------------------------------------------------------- the command


def add_arguments(parser) -> None:
    parser.add_argument(
        "--images",
        nargs="*",
        default=[],
        type=existing_file,
        help="image files (default: shared/data photos, else generated)",
    )
    parser.add_argument(
        "--data", default=None, type=existing_folder, help="the project's shared/data folder (default: found upwards)"
    )
    parser.add_argument(
        "--repeat", type=positive_int, default=7, help="A/B rounds per row (median and spread over them)"
    )
    parser.add_argument("--quick", action="store_true", help="small generated inputs, for a smoke test")


def _check(condition: bool, what: str) -> None:
    if not condition:
        raise SystemExit(f"sa2va-hf bench: outputs differ ({what}); not timing different work")


def end_to_end_rows(paths: Sequence[str], rounds: int) -> list[str]:
    """Hook: samples/s of the training transform end to end (records -> ``Sa2VATrainingTransform`` ->
    ``DataLoader`` -> ``Sa2VACollator``).

    Not measured here: a training sample needs a tokenizer, and a wheel ships none that works
    offline. ``bench/training.py`` in the repository measures it with the tests' tokenizer, beside
    the processor's pixel work for the same samples (docs/training.md, "Speed"). TODO: a row here
    once a tokenizer can be had offline (e.g. ``--tokenizer PATH``).
    """
    return [
        "end-to-end transform + DataLoader samples/s: not measured here (needs a tokenizer); "
        "bench/training.py in the repository measures it"
    ]


def run(args) -> int:
    from ..image_processing_sa2va import Sa2VAImageProcessor

    rounds = max(1, args.repeat)
    threads = default_num_threads()
    load_before = _load()
    with tempfile.TemporaryDirectory() as workdir, torch_threads(1):
        paths, source = image_paths(args, workdir)
        images = [Image.open(p) for p in paths]
        for im in images:
            im.load()
        print(f"sa2va-hf bench: {len(paths)} images, {source}")
        for path, im in zip(paths, images):
            cols, rows = choose_grid(*im.size)
            print(f"  {os.path.basename(path)}: {im.width}x{im.height}, {cols * rows + (cols * rows > 1)} tiles")
        try:
            import torch

            torch_version = torch.__version__
        except ImportError:
            torch = None
            torch_version = "not installed"
        import PIL

        print(
            f"machine: {os.cpu_count()} cores ({threads} by default), Python {platform.python_version()}, "
            f"Pillow {PIL.__version__}, numpy {np.__version__}, torch {torch_version}"
        )
        print(f"{rounds} A/B rounds per row; ratio = peer time / sa2va-hf time (> 1: sa2va-hf faster)\n")

        default = Sa2VAImageProcessor()
        one = Sa2VAImageProcessor(num_threads=1)
        for path in paths:  # the same work, checked before timing
            pv, g = upstream_recipe(path)
            for proc in (default, one):
                out = proc(path)
                _check(np.array_equal(out["pixel_values"], pv) and np.array_equal(out["g_pixel_values"][0], g), path)

        rows: list[Row] = []
        n = len(paths)
        up = over(paths, upstream_recipe)
        rows.append(ab(f"exact, default threads ({threads}) vs upstream", over(paths, default), up, rounds, n,
                       target=">=1.6"))  # fmt: skip
        rows.append(ab("exact, 1 thread vs upstream", over(paths, one), up, rounds, n))
        rows.append(ab("exact, 1 thread vs its floor (decode + 3 resizes + norm.)", over(paths, one),
                       over(paths, floor_steps), rounds, n, target=">=0.91",
                       note="floor / ours: within 10% of the floor"))  # fmt: skip
        rows.append(ab(f"exact, one call for all {n} images vs upstream", lambda: default(paths), up, rounds, n))

        if torch is not None:
            fast = Sa2VAImageProcessor(num_threads=1, resize_backend="torch")
            for path in paths:
                pv, g = upstream_recipe(path)
                got = fast(path)
                raw = fast(path, do_rescale=False, do_normalize=False)["pixel_values"]
                exact_raw = one(path, do_rescale=False, do_normalize=False)["pixel_values"]
                _check(np.abs(raw - exact_raw).max() <= 2 and np.abs(got["g_pixel_values"][0].astype(int) - g).max() <= 2,
                       f"torch backend beyond 2 grey levels on {path}")  # fmt: skip
            rows.append(ab("torch backend, 1 thread vs upstream", over(paths, fast), up, rounds, n, target=">=3"))
            fast_default = Sa2VAImageProcessor(resize_backend="torch")
            rows.append(ab(f"torch backend, default threads ({threads}) vs upstream", over(paths, fast_default), up,
                           rounds, n))  # fmt: skip

        try:
            from transformers.models.got_ocr2.image_processing_pil_got_ocr2 import GotOcr2ImageProcessorPil
        except ImportError:
            GotOcr2ImageProcessorPil = None
        if GotOcr2ImageProcessorPil is not None:
            peer = GotOcr2ImageProcessorPil(
                crop_to_patches=True, min_patches=1, max_patches=12, size={"height": 448, "width": 448},
                image_mean=list(IMAGENET_MEAN), image_std=list(IMAGENET_STD),
            )  # fmt: skip
            tiles_only = Sa2VAImageProcessor(return_grounding=False)
            tiles_one = Sa2VAImageProcessor(return_grounding=False, num_threads=1)
            for path in paths:
                _check(np.array_equal(tiles_only(path)["pixel_values"],
                                      peer(Image.open(path).convert("RGB"), return_tensors="np")["pixel_values"]),
                       f"transformers' tiles on {path}")  # fmt: skip

            def peer_call(path: str) -> None:
                peer(Image.open(path).convert("RGB"), return_tensors="np")

            rows.append(ab(f"exact tiles, default threads ({threads}) vs transformers GotOcr2 PIL",
                           over(paths, tiles_only), over(paths, peer_call), rounds, n))  # fmt: skip
            rows.append(ab("exact tiles, 1 thread vs transformers GotOcr2 PIL", over(paths, tiles_one),
                           over(paths, peer_call), rounds, n))  # fmt: skip

        grid_source = ""
        if torch is not None:
            groups, grid_source = rle_groups(args)
            n_masks = sum(map(len, groups))
            for mode in ("nearest", "pool"):
                ours_fn, peer_fn = _prompt_grids_ours(groups, mode), _prompt_grids_upstream(groups, mode)
                _check(all(np.array_equal(a, b.numpy().astype(np.uint8)) for a, b in zip(ours_fn(), peer_fn())),
                       f"prompt grid ({mode})")  # fmt: skip
                rows.append(ab(f"prompt grid from RLE ({mode}) vs decode + interpolate", ours_fn, peer_fn, rounds,
                               n_masks, target=">=10", note="ms per mask"))  # fmt: skip

        print(f"{'comparison':<58}{'target':>8}{'median':>9}{'spread':>13}{'ours ms':>10}{'peer ms':>10}")
        for row in rows:
            print(row.line())
        for line in end_to_end_rows(paths, rounds):
            print(line)
        if grid_source:
            print(f"\nvisual prompts: {grid_source}; ms per call are per image unless noted")
        load_after = _load()
        if load_before is not None:
            print(f"load average (1 min) before: {load_before:.2f}, after: {load_after:.2f}")
            if load_before > 0.5:
                print("note: other processes were running; rows that need every core understate the ratio")
    return 0


def _load() -> float | None:
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):
        return None
