"""The speed work keeps every output: threads, lazily opened images, the torch resize backend, prompts from RLE.

No timing is asserted here (``sa2va-hf bench`` measures); these tests pin what must not change
while things get faster: bit-identical outputs whatever the thread count and input kind, the
1-grey-level bound of the torch backend, the RLE grid equal to the decode path, and the thread
policy (which cores a call uses).
"""

from __future__ import annotations

import multiprocessing
import threading

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image, ImageDraw, ImageFilter

from sa2va_hf import ImageLoadError, MaskFormatError, Sa2VAError, Sa2VAImageProcessor, ShapeMismatchError, masks
from sa2va_hf import threads as threads_mod
from sa2va_hf.image_processing_sa2va import Sa2VAImageProcessor as IP
from sa2va_hf.prompt_grid import masks_to_grid, segmentations_to_grid

from .. import reference as ref

try:
    import torch
except ImportError:  # pragma: no cover - torch is in the test extra
    torch = None

needs_torch = pytest.mark.skipif(torch is None, reason="torch not installed")


def photo_like(w: int, h: int, seed: int = 0) -> Image.Image:
    """Smooth colour fields with edges: what JPEG photos look like to a resize (not noise)."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (max(h // 24, 2), max(w // 24, 2), 3), dtype=np.uint8)
    im = Image.fromarray(small).resize((w, h), Image.BILINEAR)
    draw = ImageDraw.Draw(im)
    for _ in range(12):
        x, y = rng.integers(0, w), rng.integers(0, h)
        draw.rectangle([x, y, x + rng.integers(5, w // 3 + 6), y + rng.integers(5, h // 3 + 6)],
                       fill=tuple(int(v) for v in rng.integers(0, 256, 3)))  # fmt: skip
    return im.filter(ImageFilter.GaussianBlur(0.7))


def noise(w: int, h: int, seed: int = 0) -> Image.Image:
    return Image.fromarray(np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8))


@pytest.fixture(scope="module")
def jpeg_path(tmp_path_factory):
    """A JPEG large enough that reading it takes a while (the race window of a lazily opened image)."""
    path = tmp_path_factory.mktemp("images") / "photo.jpg"
    photo_like(1800, 1200, seed=5).save(path, quality=95)
    return path


# --------------------------------------------------------------------------- threads: same outputs


def assert_same(a, b):
    assert set(a) == set(b)
    for key in a:
        if isinstance(a[key], list):
            assert len(a[key]) == len(b[key])
            for x, y in zip(a[key], b[key]):
                assert np.array_equal(np.asarray(x), np.asarray(y)), key
        else:
            assert np.array_equal(a[key], b[key]), key


OPTION_SETS = [
    {},
    {"use_thumbnail": False},
    {"return_grounding": False},
    {"normalize_grounding": True},
    {"max_tiles": 4, "min_tiles": 2},
    {"image_size": 224, "grounding_size": 333},  # an odd grounding side: the one-value lookup path
    {"image_size": 225, "patch_size": 15},  # an odd tile side too
    {"do_normalize": False, "image_mean": 0.3},
]


@pytest.mark.parametrize("options", OPTION_SETS, ids=[str(o) or "defaults" for o in OPTION_SETS])
def test_thread_counts_give_identical_outputs(options):
    images = [noise(640, 480, 1), photo_like(300, 900, 2), noise(1, 1, 3), photo_like(2000, 3, 4), noise(449, 447, 5)]
    vps = [np.asarray(photo_like(*im.size, 9).convert("L")) > 128 for im in images]
    one = Sa2VAImageProcessor(num_threads=1, **options)(images, visual_prompts=[v[None] for v in vps],
                                                         empty_region="keep")  # fmt: skip
    for n in (2, 3, None):
        many = Sa2VAImageProcessor(num_threads=n, **options)(images, visual_prompts=[v[None] for v in vps],
                                                              empty_region="keep")  # fmt: skip
        assert_same(one, many)


@pytest.mark.parametrize("num_threads", [1, 2])
def test_every_input_kind_gives_the_recipe(tmp_path, num_threads):
    image = photo_like(700, 400, 7)
    path = tmp_path / "x.png"
    image.save(path)
    expected_pv = ref.ref_pixel_values(image)
    expected_g = ref.ref_g_pixel_values(image)
    proc = Sa2VAImageProcessor(num_threads=num_threads)
    kinds = [image, str(path), path, Image.open(path), np.asarray(image), [image, str(path)]]
    for kind in kinds:
        out = proc(kind)
        n = 2 if isinstance(kind, list) else 1
        assert np.array_equal(out["pixel_values"], np.concatenate([expected_pv] * n))
        assert np.array_equal(out["g_pixel_values"], np.stack([expected_g] * n))


def test_lazily_opened_images_are_read_once_under_threads(jpeg_path):
    """``Image.open(path)`` passed as is: two threads once read the same file handle
    (``OSError: image file is truncated`` in most calls). 120 calls, each a fresh lazy image."""
    expected = Sa2VAImageProcessor(num_threads=1)(Image.open(jpeg_path).convert("RGB"))
    proc = Sa2VAImageProcessor(num_threads=2)
    for _ in range(120):
        out = proc(Image.open(jpeg_path))
        assert np.array_equal(out["pixel_values"], expected["pixel_values"])
        assert np.array_equal(out["g_pixel_values"], expected["g_pixel_values"])


def test_one_lazy_image_shared_by_concurrent_calls(jpeg_path):
    """Several user threads handed the same lazily opened image: it is read once, by one of them."""
    expected = Sa2VAImageProcessor(num_threads=1)(str(jpeg_path))["pixel_values"]
    proc = Sa2VAImageProcessor(num_threads=2)
    for _ in range(5):
        image = Image.open(jpeg_path)
        results, errors = [], []

        def call(image=image, results=results, errors=errors):
            try:
                results.append(proc(image, return_grounding=False)["pixel_values"])
            except Exception as e:  # pragma: no cover - the failure being tested for
                errors.append(e)

        workers = [threading.Thread(target=call) for _ in range(4)]
        for t in workers:
            t.start()
        for t in workers:
            t.join()
        assert not errors and len(results) == 4
        assert all(np.array_equal(r, expected) for r in results)


def test_a_truncated_lazy_image_is_an_image_load_error(tmp_path, jpeg_path):
    cut = tmp_path / "cut.jpg"
    cut.write_bytes(jpeg_path.read_bytes()[:5000])
    for n in (1, 2):
        with pytest.raises(ImageLoadError, match=r"image 0.*cut\.jpg"):
            Sa2VAImageProcessor(num_threads=n)(Image.open(cut))
        with pytest.raises(ImageLoadError, match=r"cut\.jpg"):
            Sa2VAImageProcessor(num_threads=n)([str(jpeg_path), str(cut)])


def test_an_error_in_a_batch_leaves_no_work_running():
    proc = Sa2VAImageProcessor(num_threads=2)
    images = [noise(800, 600, k) for k in range(4)]
    with pytest.raises(ShapeMismatchError):
        proc(images, visual_prompts=[np.ones((1, 600, 800))] * 3 + [np.ones((1, 5, 5))])
    assert np.array_equal(
        proc(images[:1])["pixel_values"], Sa2VAImageProcessor(num_threads=1)(images[:1])["pixel_values"]
    )


# --------------------------------------------------------------------------- threads: the policy


def test_thread_policy(monkeypatch):
    monkeypatch.delenv(threads_mod.ENV_VAR, raising=False)
    monkeypatch.delenv("LOCAL_WORLD_SIZE", raising=False)
    assert threads_mod.default_num_threads() == min(threads_mod.available_cores(), threads_mod.MAX_THREADS)
    assert threads_mod.resolve_num_threads(3) == 3
    monkeypatch.setenv("LOCAL_WORLD_SIZE", str(threads_mod.available_cores() * 2))
    assert threads_mod.default_num_threads() == 1
    monkeypatch.setenv(threads_mod.ENV_VAR, "3")
    assert threads_mod.default_num_threads() == 3
    monkeypatch.setenv(threads_mod.ENV_VAR, "many")
    with pytest.raises(Sa2VAError, match=threads_mod.ENV_VAR):
        threads_mod.default_num_threads()


def _threads_in_child(_=None):
    from sa2va_hf import threads

    return threads.default_num_threads()


def test_one_thread_in_a_process_pool_worker(monkeypatch):
    monkeypatch.delenv(threads_mod.ENV_VAR, raising=False)
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(1) as pool:
        assert pool.map_async(_threads_in_child, [0]).get(timeout=60) == [1]


class _ThreadsDataset:
    def __len__(self):
        return 2

    def __getitem__(self, i):
        return threads_mod.default_num_threads()


@needs_torch
def test_one_thread_in_a_dataloader_worker(monkeypatch):
    monkeypatch.delenv(threads_mod.ENV_VAR, raising=False)
    loader = torch.utils.data.DataLoader(_ThreadsDataset(), num_workers=1, batch_size=None,
                                         multiprocessing_context="spawn", timeout=60)  # fmt: skip
    assert list(loader) == [1, 1]


def test_num_threads_is_an_option_saved_with_the_processor(tmp_path):
    assert Sa2VAImageProcessor().num_threads is None
    Sa2VAImageProcessor(num_threads=3, resize_backend="pil").save_pretrained(tmp_path)
    loaded = IP.from_pretrained(tmp_path)
    assert loaded.num_threads == 3 and loaded.resize_backend == "pil"
    with pytest.raises(Sa2VAError, match="num_threads"):
        Sa2VAImageProcessor(num_threads=65)


# --------------------------------------------------------------------------- the torch resize backend

BACKEND_SIZES = [(1, 1), (3, 2), (20, 30), (448, 448), (449, 447), (640, 480), (2000, 3), (5, 3000), (1023, 769),
                 (1800, 1200)]  # fmt: skip


@needs_torch
@pytest.mark.parametrize("w,h", BACKEND_SIZES)
@pytest.mark.parametrize("content", ["photo", "noise"])
def test_torch_backend_stays_within_its_bound(w, h, content):
    """Before normalization (rescale and normalize off), against the exact path.

    torch's uint8 kernel weighs with 15-17 bits where PIL uses 22, and both round the first pass
    to uint8: a value differs by 1 where a rounding falls the other way, and by 2 where two such
    differences of the first pass add up in the second -- a few per million values on photos.
    Pinned: never more than 2, at most 0.02% of values by 2, at most 1% of values differ at all
    (0.2-0.4% on photos; measured in docs/speed.md).
    """
    image = photo_like(w, h, w + h) if content == "photo" else noise(w, h, w * h)
    raw = {"do_rescale": False, "do_normalize": False}
    exact = Sa2VAImageProcessor(**raw)(image)
    fast = Sa2VAImageProcessor(resize_backend="torch", **raw)(image)
    assert fast["pixel_values"].shape == exact["pixel_values"].shape
    assert fast["pixel_values"].dtype == np.float32
    assert np.array_equal(fast["num_patches"], exact["num_patches"])
    for key in ("pixel_values", "g_pixel_values"):
        diff = np.abs(fast[key].astype(np.int64) - exact[key].astype(np.int64))
        assert diff.max() <= 2, (key, diff.max())
        assert (diff == 2).mean() <= 2e-4, (key, (diff == 2).mean())
        assert (diff > 0).mean() <= 0.01, (key, (diff > 0).mean())


@needs_torch
def test_torch_backend_keeps_everything_else(tmp_path):
    image = photo_like(900, 500, 1)
    vp = np.zeros((1, 500, 900), np.uint8)
    vp[0, 100:300, 200:600] = 1
    exact = Sa2VAImageProcessor()(image, visual_prompts=[vp], masks=[vp], return_tensors="pt")
    fast = Sa2VAImageProcessor(resize_backend="torch")(image, visual_prompts=[vp], masks=[vp], return_tensors="pt")
    for key in ("num_patches", "vp_overall_mask", "prompt_masks", "region_pixels", "masks"):
        assert_same({key: exact[key]}, {key: fast[key]})
    # the same normalization: tiles differ only where a resized value did, by at most 2/255/std
    assert (fast["pixel_values"] - exact["pixel_values"]).abs().max() <= 2 / 255 / 0.224 + 1e-6
    Sa2VAImageProcessor(resize_backend="torch").save_pretrained(tmp_path)
    assert IP.from_pretrained(tmp_path).resize_backend == "torch"
    # per call too, and the same with threads
    one = Sa2VAImageProcessor(num_threads=1)(image, resize_backend="torch")
    two = Sa2VAImageProcessor(num_threads=2)(image, resize_backend="torch")
    assert_same(one, two)
    with pytest.raises(Sa2VAError, match="resize_backend"):
        Sa2VAImageProcessor(resize_backend="cv2")


@needs_torch
@pytest.mark.parametrize("max_llm_frames", [None, 1])
def test_torch_backend_reaches_every_frame_of_a_video(max_llm_frames):
    """A video's tiles and grounding images (those of frames past ``max_llm_frames`` too) take the backend, within
    its bound of the exact path; the one-tile rule and everything else are unchanged."""
    from sa2va_hf import Sa2VAVideoProcessor

    frames = [photo_like(320, 180, s) for s in range(3)]
    raw = {"do_rescale": False, "do_normalize": False, "max_llm_frames": max_llm_frames}
    exact = Sa2VAVideoProcessor()(frames, **raw)
    fast = Sa2VAVideoProcessor()(frames, resize_backend="torch", **raw)
    two = Sa2VAVideoProcessor()(frames, resize_backend="torch", num_threads=2, **raw)
    assert exact.keys() == fast.keys()
    for key in exact:
        np.testing.assert_array_equal(fast[key], two[key], err_msg=key)
        assert fast[key].shape == exact[key].shape and fast[key].dtype == exact[key].dtype, key
    for key in ("pixel_values", "g_pixel_values"):
        diff = np.abs(fast[key].astype(np.int64) - exact[key].astype(np.int64))
        assert diff.max() <= 2, key
        for k in range(len(diff)):
            assert diff[k].any(), (key, k)  # the backend's values, not PIL's


# --------------------------------------------------------------------------- the prompt grid from RLE


def _decode_path(segmentations, h, w, grid, mode, image_size):
    return masks_to_grid(masks.decode_many(segmentations, h, w), grid, mode, image_size)


@st.composite
def masks_and_sizes(draw):
    h = draw(st.integers(1, 700))
    w = draw(st.integers(1, 700))
    n = draw(st.integers(0, 4))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    out = np.zeros((n, h, w), np.uint8)
    for k in range(n):
        kind = draw(st.sampled_from(["boxes", "noise", "full", "empty", "columns"]))
        if kind == "boxes":
            for _ in range(int(rng.integers(1, 4))):
                y, x = int(rng.integers(0, h)), int(rng.integers(0, w))
                out[k, y : y + int(rng.integers(1, h + 1)), x : x + int(rng.integers(1, w + 1))] = 1
        elif kind == "noise":
            out[k] = rng.random((h, w)) < rng.random()
        elif kind == "full":
            out[k] = 1
        elif kind == "columns":  # runs that wrap from one column into the next ones
            out[k, int(rng.integers(0, h)) :, int(rng.integers(0, w)) :] = 1
            out[k, : int(rng.integers(0, h)), int(rng.integers(0, w)) :] = 1
    grid = draw(st.sampled_from([16, 8, 5, 1]))
    image_size = draw(st.sampled_from([448, 224, 100, 37, 16]))
    return out, grid, image_size


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True)
@given(masks_and_sizes(), st.sampled_from(["nearest", "pool"]), st.sampled_from(["compressed", "uncompressed"]))
def test_grid_from_rle_equals_decode_then_grid(case, mode, kind):
    stack, grid, image_size = case
    n, h, w = stack.shape
    segmentations = [masks.encode(m) for m in stack]
    if kind == "uncompressed":
        segmentations = [{"size": s["size"], "counts": masks.rle_counts(s["counts"]).tolist()} for s in segmentations]
    got = segmentations_to_grid(segmentations, h, w, grid, mode, image_size)
    assert got.dtype == np.uint8 and got.shape == (n, grid, grid)
    assert np.array_equal(got, masks_to_grid(stack, grid, mode, image_size))
    assert np.array_equal(got, ref_grid(stack, grid, mode, image_size))


def ref_grid(stack, grid, mode, image_size):
    """tests/reference.py's plain loops, when its pool rule applies (cells of equal size)."""
    if mode == "pool" and image_size % grid:
        return masks_to_grid(stack, grid, mode, image_size)
    one = ref.ref_nearest if mode == "nearest" else None
    return np.stack(
        [one(m, grid, grid) if one else ref.ref_pool(m, grid, image_size) for m in stack]
    ) if len(stack) else np.zeros((0, grid, grid), np.uint8)  # fmt: skip


def test_grid_from_polygons_and_mixed_lists():
    h, w = 300, 500
    polygon = [[10, 10, 400, 20, 380, 280, 30, 250]]
    box = np.zeros((h, w), np.uint8)
    box[50:200, 100:300] = 1
    segmentations = [
        polygon,
        masks.encode(box),
        {"size": [h, w], "counts": masks.rle_counts(masks.encode(box)["counts"]).tolist()},
    ]
    for mode in ("nearest", "pool"):
        assert np.array_equal(
            segmentations_to_grid(segmentations, h, w, 16, mode), _decode_path(segmentations, h, w, 16, mode, 448)
        )


BAD_SEGMENTATIONS = [
    ({"size": [10, 10], "counts": "0"}, MaskFormatError),  # runs cover 0 pixels
    ({"size": [10, 10], "counts": "\x01\x02"}, MaskFormatError),  # outside the alphabet
    ({"size": [10, 10], "counts": "P"}, MaskFormatError),  # ends inside a number
    ({"size": [10, 10], "counts": [50, 60]}, MaskFormatError),
    ({"size": [10, 10], "counts": [-5, 105]}, MaskFormatError),
    ({"size": [10, 10], "counts": [True, 99]}, MaskFormatError),
    ({"size": [11, 10], "counts": "3;"}, ShapeMismatchError),
    ({"size": [10, 10], "counts": 7}, MaskFormatError),
    ({"size": "ab", "counts": "3;"}, MaskFormatError),
]


@pytest.mark.parametrize("bad,error", BAD_SEGMENTATIONS)
def test_grid_from_rle_refuses_what_decoding_refuses(bad, error):
    good = masks.encode(np.ones((10, 10), np.uint8))
    for segmentations in ([bad], [good, bad]):
        with pytest.raises(error) as from_runs:
            segmentations_to_grid(segmentations, 10, 10, 16, "pool", record="r")
        with pytest.raises(error) as from_pixels:
            masks.decode_many(segmentations, 10, 10, record="r")
        assert str(from_runs.value) == str(from_pixels.value)


def test_processor_takes_rle_prompts_through_the_runs():
    image = photo_like(640, 480, 3)
    box = np.zeros((480, 640), np.uint8)
    box[100:300, 200:500] = 1
    small = np.zeros((480, 640), np.uint8)
    small[10:12, 10:12] = 1
    for mode in ("nearest", "pool"):
        from_rle = Sa2VAImageProcessor()(image, visual_prompts=[masks.encode(box), masks.encode(small)],
                                         prompt_mask_mode=mode, empty_region="drop")  # fmt: skip
        from_array = Sa2VAImageProcessor()(image, visual_prompts=np.stack([box, small]), prompt_mask_mode=mode,
                                           empty_region="drop")  # fmt: skip
        assert_same(from_rle, from_array)
        assert from_rle["dropped_regions"] == [[1]]
