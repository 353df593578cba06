"""Sa2VAImageProcessor against the plain SPEC §2 reference (tests/reference.py) and torch."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageDraw

from sa2va_hf import EmptyRegionError, Sa2VAError, ShapeMismatchError, masks
from sa2va_hf.grounding import SAM3_GROUNDING
from sa2va_hf.image_processing_sa2va import Sa2VAImageProcessor
from sa2va_hf.tiling import candidate_grids, choose_grid

from .. import reference as ref

try:
    import torch
    import torch.nn.functional as F
except ImportError:  # pragma: no cover - torch is in the test extra
    torch = None

needs_torch = pytest.mark.skipif(torch is None, reason="torch not installed")


def noise_image(w: int, h: int, seed: int = 0) -> Image.Image:
    """Random RGB: every uint8 value appears, so normalization is checked on all 256 inputs."""
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8))


def blob_masks(w: int, h: int, n: int = 3, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    out = np.zeros((n, h, w), dtype=np.uint8)
    for k in range(n):
        im = Image.new("L", (w, h))
        cx, cy = rng.uniform(0, w), rng.uniform(0, h)
        rx, ry = rng.uniform(0.1, 0.6) * w, rng.uniform(0.1, 0.6) * h
        ImageDraw.Draw(im).ellipse([cx - rx, cy - ry, cx + rx, cy + ry], fill=1)
        out[k] = np.asarray(im)
    return out


# Sizes chosen to cover: smaller than a tile, exact tiles, extreme aspect ratios, the
# same-ratio area rule (1x1 / 2x2 / 3x3), and exact ties between different ratios
# (7:2 -> 3x1 vs 4x1, 7:4 -> 2x1 vs 3x2 vs 4x2) on both sides of the area rule.
SIZES = [
    (1, 1), (20, 30), (448, 448), (449, 447), (500, 500), (700, 700), (1400, 1400), (896, 448),
    (640, 480), (1023, 769), (2000, 3), (5, 3000), (700, 200), (1750, 500), (700, 400), (1400, 800),
    (2100, 1200), (9, 40), (90, 400), (896, 1008), (2048, 588),
]  # fmt: skip


@pytest.mark.parametrize("w,h", SIZES)
def test_grid_choice_matches_reference(w, h):
    assert choose_grid(w, h) == ref.ref_grid(w, h)


def test_grid_choice_on_many_sizes_and_limits():
    rng = np.random.default_rng(1)
    for _ in range(3000):
        w, h = (int(v) for v in rng.integers(1, 4000, 2))
        lo = int(rng.integers(1, 4))
        hi = int(rng.integers(lo, 13))
        assert choose_grid(w, h, lo, hi) == ref.ref_grid(w, h, lo, hi), (w, h, lo, hi)


def test_exact_ties_resolve_like_upstream():
    # Same ratio, the area rule decides: 500^2 < 0.5*448^2*4 <= 700^2 < 0.5*448^2*9 <= 1400^2.
    assert choose_grid(500, 500) == (1, 1)
    assert choose_grid(700, 700) == (2, 2)
    assert choose_grid(1400, 1400) == (3, 3)
    # The area rule is strict: 896*1008 == 0.5*448^2*9 exactly, so 3x3 does not win.
    assert choose_grid(896, 1008) == (2, 2)
    assert choose_grid(2048, 588) == (3, 1)
    # 7:2 lies exactly between 3:1 and 4:1; the later (4x1) wins only for a large image.
    assert choose_grid(700, 200) == (3, 1)
    assert choose_grid(1750, 500) == (4, 1)
    # Candidates are visited in upstream's order (area first, then set order).
    grids = candidate_grids(1, 12)
    assert [g[0] * g[1] for g in grids] == sorted(g[0] * g[1] for g in grids)
    assert len(grids) == len(set(grids)) == sum(1 for c in range(1, 13) for r in range(1, 13) if c * r <= 12)


@pytest.mark.parametrize("w,h", SIZES)
def test_pixel_values_bit_identical(w, h):
    image = noise_image(w, h, seed=w * 7 + h)
    out = Sa2VAImageProcessor()(image, return_grounding=False)
    expected = ref.ref_pixel_values(image)
    assert out["pixel_values"].dtype == np.float32
    assert out["pixel_values"].shape == expected.shape
    assert np.array_equal(out["pixel_values"], expected)
    assert out["num_patches"].tolist() == [len(expected)]


def test_tile_count_and_thumbnail_last():
    image = noise_image(896, 448)
    out = Sa2VAImageProcessor()(image, return_grounding=False)
    assert out["pixel_values"].shape[0] == 3  # 2x1 grid + thumbnail
    thumb = ref.ref_normalize(ref.ref_resize(image, (448, 448)))
    assert np.array_equal(out["pixel_values"][-1], thumb)
    no_thumb = Sa2VAImageProcessor(use_thumbnail=False)(image, return_grounding=False)
    assert no_thumb["pixel_values"].shape[0] == 2


def test_processor_options_change_tiling():
    image = noise_image(1750, 500)
    assert Sa2VAImageProcessor(max_tiles=6)(image, return_grounding=False)["pixel_values"].shape[0] == 5
    assert Sa2VAImageProcessor()(image, max_tiles=1, return_grounding=False)["pixel_values"].shape[0] == 1


def test_normalization_covers_all_uint8_values():
    # One 448x448 image holding every value in every channel, one tile, so no resampling blurs it.
    values = np.tile(np.arange(256, dtype=np.uint8), 448 * 448 // 256 + 1)[: 448 * 448].reshape(448, 448)
    image = Image.fromarray(np.stack([values, values[::-1], values.T], axis=-1))
    out = Sa2VAImageProcessor()(image, return_grounding=False)["pixel_values"][0]
    assert np.array_equal(out, ref.ref_normalize(image))


@needs_torch
def test_normalization_equals_torch_to_tensor_normalize():
    image = noise_image(448, 448, seed=3)
    x = torch.from_numpy(np.array(image)).permute(2, 0, 1).float().div(255)
    mean = torch.tensor(ref.MEAN).view(3, 1, 1)
    std = torch.tensor(ref.STD).view(3, 1, 1)
    expected = x.sub(mean).div(std).numpy()
    assert np.array_equal(Sa2VAImageProcessor()(image, return_grounding=False)["pixel_values"][0], expected)


@pytest.mark.parametrize("w,h", [(20, 30), (640, 480), (2000, 3)])
def test_g_pixel_values_uint8_1024(w, h):
    image = noise_image(w, h)
    out = Sa2VAImageProcessor()(image)
    g = out["g_pixel_values"]
    assert g.shape == (1, 3, 1024, 1024) and g.dtype == np.uint8
    assert np.array_equal(g[0], ref.ref_g_pixel_values(image))


def test_g_pixel_values_normalized_option():
    image = noise_image(300, 200)
    g = Sa2VAImageProcessor(normalize_grounding=True)(image)["g_pixel_values"][0]
    assert g.dtype == np.float32
    assert np.array_equal(g, ref.ref_normalize(ref.ref_resize(image, (1024, 1024))))


def test_grounding_size_and_mean_std_options():
    """SAM3's 1008 input, and the normalization the model applies, come from the options."""
    image = noise_image(300, 200)
    ip = Sa2VAImageProcessor(grounding_size=1008, grounding_mean=0.5, grounding_std=[0.5, 0.5, 0.5])
    assert np.array_equal(ip(image)["g_pixel_values"][0], ref.ref_g_pixel_values(image, 1008))
    g = ip(image, normalize_grounding=True)["g_pixel_values"][0]
    assert np.array_equal(g, ref.ref_normalize(ref.ref_resize(image, (1008, 1008)), (0.5,) * 3, (0.5,) * 3))
    # Sa2VA's SAM3 wrapper normalizes with ImageNet, as its SAM2 one does
    assert (SAM3_GROUNDING.size, tuple(SAM3_GROUNDING.mean), tuple(SAM3_GROUNDING.std)) == (1008, ref.MEAN, ref.STD)
    with pytest.raises(Sa2VAError, match="grounding_std must not hold 0"):
        Sa2VAImageProcessor(grounding_std=0)


MASK_SIZES = [(16, 16), (17, 15), (20, 30), (448, 448), (640, 480), (1023, 769), (2000, 3), (3, 2000), (33, 1000)]


@pytest.mark.parametrize("w,h", MASK_SIZES)
def test_prompt_masks_nearest_bit_identical(w, h):
    image = noise_image(w, h)
    vp = blob_masks(w, h, n=3, seed=w + h)
    out = Sa2VAImageProcessor(empty_region="keep", return_grounding=False)(image, visual_prompts=vp)
    got = out["prompt_masks"][0]
    expected = np.stack([ref.ref_nearest(m, 16, 16) for m in vp])
    assert got.dtype == np.uint8 and got.shape == (3, 16, 16)
    assert np.array_equal(got, expected)
    assert out["region_pixels"][0] == [int(m.sum()) for m in expected]


@pytest.mark.parametrize("w,h", MASK_SIZES)
def test_prompt_masks_pool_bit_identical(w, h):
    image = noise_image(w, h)
    vp = blob_masks(w, h, n=3, seed=w * h)
    out = Sa2VAImageProcessor(prompt_mask_mode="pool", empty_region="keep", return_grounding=False)(
        image, visual_prompts=vp
    )
    expected = np.stack([ref.ref_pool(m) for m in vp])
    assert np.array_equal(out["prompt_masks"][0], expected)


@needs_torch
@pytest.mark.parametrize("w,h", MASK_SIZES + [(4000, 3000), (7, 1500)])
def test_prompt_masks_equal_torch(w, h):
    vp = blob_masks(w, h, n=4, seed=w ^ h)
    t = torch.from_numpy(vp).float().unsqueeze(0)
    nearest = F.interpolate(t, size=(16, 16), mode="nearest")[0].to(torch.uint8).numpy()
    pooled = (F.adaptive_avg_pool2d(F.interpolate(t, size=(448, 448), mode="nearest"), (16, 16)) > 0.5)[0]
    image = Image.new("RGB", (w, h))
    kw = dict(empty_region="keep", return_grounding=False, max_tiles=1)
    ip = Sa2VAImageProcessor()
    assert np.array_equal(ip(image, visual_prompts=vp, **kw)["prompt_masks"][0], nearest)
    got_pool = ip(image, visual_prompts=vp, prompt_mask_mode="pool", **kw)["prompt_masks"][0]
    assert np.array_equal(got_pool, pooled.to(torch.uint8).numpy())


def test_pool_threshold_is_strictly_more_than_half():
    # A 448x448 mask filling exactly half of each 28x28 cell (392 of 784 pixels) gives 0 cells;
    # one more pixel per cell tips it over.
    m = np.zeros((448, 448), dtype=np.uint8)
    m[:, :14] = 1
    for c in range(16):
        m[:, c * 28 : c * 28 + 14] = 1
    image = Image.new("RGB", (448, 448))
    ip = Sa2VAImageProcessor(prompt_mask_mode="pool", empty_region="keep", return_grounding=False)
    with pytest.warns(UserWarning, match="region 0 has 0"):
        assert ip(image, visual_prompts=[m])["region_pixels"] == [[0]]
    m[0::28, 14::28] = 1
    assert ip(image, visual_prompts=[m])["region_pixels"] == [[256]]


def test_prompts_from_polygons_and_rle_equal_arrays():
    w, h = 640, 480
    image = noise_image(w, h)
    polygon = [[100.0, 100.0, 400.0, 120.0, 380.0, 400.0, 90.0, 380.0], [500.0, 10.0, 630.0, 10.0, 600.0, 200.0]]
    decoded = masks.decode(polygon, h, w)
    rle = masks.encode(decoded)
    ip = Sa2VAImageProcessor(return_grounding=False)
    from_poly = ip(image, visual_prompts=[polygon])
    from_rle = ip(image, visual_prompts=[rle])
    from_array = ip(image, visual_prompts=decoded[None])
    for out in (from_poly, from_rle):
        assert np.array_equal(out["prompt_masks"][0], from_array["prompt_masks"][0])
    assert np.array_equal(from_array["prompt_masks"][0][0], ref.ref_nearest(decoded, 16, 16))


def test_vp_overall_mask_marks_the_thumbnail():
    ip = Sa2VAImageProcessor(return_grounding=False)
    image = noise_image(896, 448)
    vp = blob_masks(896, 448, n=1, seed=5)
    with_vp = ip(image, visual_prompts=vp)["vp_overall_mask"]
    assert with_vp.dtype == bool and with_vp.tolist() == ref.ref_vp_overall_mask(3, True).tolist()
    assert ip(image)["vp_overall_mask"].tolist() == [False, False, False]
    single = ip(noise_image(100, 100), visual_prompts=blob_masks(100, 100, n=1))["vp_overall_mask"]
    assert single.tolist() == [True]


def test_batched_layout():
    images = [noise_image(896, 448, 1), noise_image(120, 120, 2), noise_image(700, 700, 3)]
    vps = [blob_masks(896, 448, 2, 1), None, blob_masks(700, 700, 1, 3)]
    gts = [blob_masks(896, 448, 1, 9), blob_masks(120, 120, 3, 8), None]
    out = Sa2VAImageProcessor()(images, visual_prompts=vps, masks=gts)
    assert out["num_patches"].tolist() == [3, 1, 5]
    assert out["pixel_values"].shape == (9, 3, 448, 448)
    assert out["g_pixel_values"].shape == (3, 3, 1024, 1024)
    assert out["vp_overall_mask"].tolist() == [False, False, True, False, False, False, False, False, True]
    assert [p.shape for p in out["prompt_masks"]] == [(2, 16, 16), (0, 16, 16), (1, 16, 16)]
    assert [len(r) for r in out["region_pixels"]] == [2, 0, 1]
    assert [m.shape for m in out["masks"]] == [(1, 448, 896), (3, 120, 120), (0, 700, 700)]
    for got, image in zip(np.split(out["pixel_values"], np.cumsum([3, 1])), images):
        assert np.array_equal(got, ref.ref_pixel_values(image))


def test_gt_masks_at_original_size_and_binary():
    image = noise_image(50, 40)
    gt = np.zeros((2, 40, 50), dtype=np.uint8)
    gt[0, 5:10, 5:10] = 7  # upstream sums overlapping polygons; we hand back 0/1
    out = Sa2VAImageProcessor()(image, masks=gt)
    assert out["masks"][0].dtype == np.uint8
    assert out["masks"][0].max() == 1 and out["masks"][0].shape == (2, 40, 50)


@needs_torch
def test_return_tensors_pt():
    out = Sa2VAImageProcessor()(noise_image(60, 50), visual_prompts=blob_masks(60, 50, 1), return_tensors="pt")
    assert out["pixel_values"].dtype == torch.float32
    assert out["g_pixel_values"].dtype == torch.uint8
    assert out["vp_overall_mask"].dtype == torch.bool
    assert isinstance(out["prompt_masks"], list) and out["prompt_masks"][0].dtype == torch.uint8


def test_inputs_as_array_path_and_pil_agree(tmp_path):
    image = noise_image(120, 90)
    path = tmp_path / "im.png"
    image.save(path)
    ip = Sa2VAImageProcessor()
    a = ip(image)["pixel_values"]
    assert np.array_equal(a, ip(np.asarray(image))["pixel_values"])
    assert np.array_equal(a, ip(str(path))["pixel_values"])
    assert np.array_equal(a, ip(image.convert("RGBA"))["pixel_values"])  # converted like upstream


def test_mask_shape_must_match_image():
    image = noise_image(64, 48)
    with pytest.raises(ShapeMismatchError, match=r"\(1, 48, 63\).*\(48, 64\)"):
        Sa2VAImageProcessor()(image, visual_prompts=np.zeros((1, 48, 63), np.uint8))
    with pytest.raises(ShapeMismatchError, match=r"\[48, 63\].*\[48, 64\]"):
        Sa2VAImageProcessor()(image, masks=[masks.encode(np.zeros((48, 63), np.uint8))])
    with pytest.raises(ShapeMismatchError, match="one entry per image"):
        Sa2VAImageProcessor()([image, image], visual_prompts=[np.zeros((1, 48, 64), np.uint8)])


def test_degenerate_polygon_is_a_clear_error():
    with pytest.raises(ValueError, match="4 numbers"):
        Sa2VAImageProcessor()(noise_image(64, 48), visual_prompts=[[[1.0, 2.0, 3.0, 4.0]]])


class TestEmptyRegionPolicy:
    image = Image.new("RGB", (640, 480))

    def tiny_and_big(self):
        vp = np.zeros((2, 480, 640), np.uint8)
        vp[0, 1:3, 1:3] = 1  # between sampled rows/columns: 0 cells under nearest
        vp[1, 100:400, 100:500] = 1
        return vp

    def test_error_is_the_default(self):
        with pytest.raises(EmptyRegionError, match="region 0 has 0"):
            Sa2VAImageProcessor()(self.image, visual_prompts=self.tiny_and_big())

    def test_drop_reports_what_was_dropped(self):
        out = Sa2VAImageProcessor(empty_region="drop")(self.image, visual_prompts=self.tiny_and_big())
        assert out["dropped_regions"] == [[0]]
        assert out["prompt_masks"][0].shape == (1, 16, 16) and out["region_pixels"][0][0] > 0

    def test_keep_warns(self):
        with pytest.warns(UserWarning, match="region 0 has 0"):
            out = Sa2VAImageProcessor(empty_region="keep")(self.image, visual_prompts=self.tiny_and_big())
        assert out["region_pixels"][0][0] == 0

    def test_min_region_cells_like_upstream_v2(self):
        vp = self.tiny_and_big()
        vp[0, 0:40, 0:40] = 1  # 1 cell: fine at 1, too small at 4
        Sa2VAImageProcessor()(self.image, visual_prompts=vp)
        with pytest.raises(EmptyRegionError):
            Sa2VAImageProcessor(min_region_cells=4)(self.image, visual_prompts=vp)


def test_bad_options_are_refused():
    with pytest.raises(Sa2VAError, match="prompt_mask_mode"):
        Sa2VAImageProcessor(prompt_mask_mode="bilinear")
    with pytest.raises(Sa2VAError, match="unknown"):
        Sa2VAImageProcessor()(noise_image(10, 10), max_patches=3)
    with pytest.raises(Sa2VAError, match="return_tensors"):
        Sa2VAImageProcessor()(noise_image(10, 10), return_tensors="tf")
    with pytest.raises(Sa2VAError, match=r"max_tiles must be an int, got 6\.0"):
        Sa2VAImageProcessor(max_tiles=6.0)
    with pytest.raises(Sa2VAError, match="grounding_size must be an int"):
        Sa2VAImageProcessor()(noise_image(10, 10), grounding_size="1024")
    with pytest.raises(Sa2VAError, match="empty_region"):
        Sa2VAImageProcessor()(noise_image(10, 10), empty_region="skip")


def test_grid_parameters():
    ip = Sa2VAImageProcessor()
    assert (ip.grid_size, ip.tokens_per_tile) == (16, 256)
    assert Sa2VAImageProcessor(image_size=224).grid_size == 8
    assert ip.num_tiles(896, 448) == 3 and ip.num_tiles(100, 100) == 1


def test_threaded_grounding_gives_identical_outputs():
    images = [noise_image(640, 480, 1), noise_image(300, 900, 2)]
    vps = [blob_masks(640, 480, 2, 1), blob_masks(300, 900, 1, 2)]
    one = Sa2VAImageProcessor()(images, visual_prompts=vps)
    two = Sa2VAImageProcessor(num_threads=2)(images, visual_prompts=vps)
    for key in ("pixel_values", "g_pixel_values", "vp_overall_mask", "num_patches"):
        assert np.array_equal(one[key], two[key])
    assert np.array_equal(two["g_pixel_values"][1], ref.ref_g_pixel_values(images[1]))
    with pytest.raises(Sa2VAError, match="num_threads"):
        Sa2VAImageProcessor(num_threads=0)


@pytest.mark.parametrize("size", [(130, 96, 140, 84), (400, 300, 500, 200), (5, 300, 48, 48), (2250, 1500, 1344, 896)])
def test_resizes_run_the_horizontal_pass_first_as_the_pillow_upstream_ran(size):
    """Upstream ran Pillow 11.3: horizontal pass, rounded to uint8, then vertical. Pillow 13 goes vertical
    first where that is less work (width grows while height shrinks, or height shrinks much more), by
    up to ~20 grey levels; the processor keeps the old order on any Pillow."""
    from sa2va_hf.resize import pil_resize

    in_w, in_h, out_w, out_h = size
    image = Image.fromarray(np.random.default_rng(in_w).integers(0, 256, (in_h, in_w, 3), dtype=np.uint8))
    expected = np.asarray(ref.ref_resize(image, (out_w, out_h)))
    np.testing.assert_array_equal(np.asarray(pil_resize(image, out_w, out_h)), expected)
    ip = Sa2VAImageProcessor(max_tiles=1, use_thumbnail=False, grounding_size=out_w)
    if out_w == out_h:  # the grounding image is a square resize of the whole image
        np.testing.assert_array_equal(ip(image)["g_pixel_values"][0], expected.transpose(2, 0, 1))
