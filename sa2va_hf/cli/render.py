"""One picture of what the model gets: the image with its masks, the tiles, and the prompt grid.

Used by ``sa2va-hf show`` and ``sa2va-hf demo``. Everything is drawn from the processor's
own output (tiles are de-normalized ``pixel_values``), so the picture shows what the
model sees, not what we meant to give it.

Made to check masks by eye on any photo: each region is a light fill plus an outline in its colour
with a dark rim outside it (visible on bright, dark and same-coloured backgrounds alike); each region's
colour is the palette colour that stands out most from what lies under and around it (a red car is
not outlined in red); the legend gives each region's colour, its own 16x16 grid, its name and its
grid cells in a readable size.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont

#: distinct, saturated colours (from Sasha Trubetskoy's list; no two of one hue); a region takes the one
#: that contrasts most with what it is drawn on
PALETTE = [
    (230, 25, 75), (60, 180, 75), (255, 225, 25), (0, 130, 200), (245, 130, 48), (145, 30, 180),
    (70, 240, 240), (240, 50, 230), (0, 128, 128), (0, 0, 128), (128, 0, 0),
]  # fmt: skip
BACKGROUND = (32, 32, 36)
TEXT = (235, 235, 235)
DIM_TEXT = (170, 170, 178)
EMPTY_CELL = (60, 60, 66)
RIM = (0, 0, 0)
FILL_ALPHA = 0.35
OUTLINE = 3  # px, inside the mask's border; a 1 px dark rim lies just outside it
PANEL = 448  # the picture's panels are this high (the thumbnail's own size)
TILE = 112  # a tile in the mosaic
LEGEND_GRID = 80  # a region's 16x16 grid in the legend: 5 px a cell
LEGEND_ROW = LEGEND_GRID + 8
SMALL_LEGEND_ROW = 44  # a legend row without a grid (video strips)


@functools.cache
def font(size: int) -> ImageFont.ImageFont:
    """Pillow's own font at ``size`` px (Pillow >= 10.1 with FreeType), else its small bitmap font."""
    try:
        return ImageFont.load_default(size=size)
    except (TypeError, ImportError, OSError):  # an older Pillow, or one built without FreeType
        return ImageFont.load_default()


def denormalize(tile: np.ndarray, mean: Sequence[float], std: Sequence[float]) -> Image.Image:
    """(3, S, S) normalized float32 -> RGB image."""
    x = tile * np.asarray(std, np.float32)[:, None, None] + np.asarray(mean, np.float32)[:, None, None]
    return Image.fromarray(np.clip(np.rint(x * 255), 0, 255).astype(np.uint8).transpose(1, 2, 0))


def _shrink(mask: np.ndarray, steps: int) -> np.ndarray:
    """``mask`` eroded by ``steps`` pixels (4-neighbourhood; the image border counts as outside)."""
    out = mask.copy()
    for _ in range(steps):
        padded = np.pad(out, 1)
        out = out & padded[:-2, 1:-1] & padded[2:, 1:-1] & padded[1:-1, :-2] & padded[1:-1, 2:]
    return out


def _grow(mask: np.ndarray, steps: int) -> np.ndarray:
    """``mask`` dilated by ``steps`` pixels (4-neighbourhood)."""
    out = mask.copy()
    for _ in range(steps):
        padded = np.pad(out, 1)
        out = out | padded[:-2, 1:-1] | padded[2:, 1:-1] | padded[1:-1, :-2] | padded[1:-1, 2:]
    return out


def _distances(pixels: np.ndarray) -> np.ndarray:
    """(palette colours, pixels): how far each palette colour looks from each pixel ("redmean" weighted RGB)."""
    palette = np.asarray(PALETTE, np.float32)[:, None, :]
    mean_red = (palette[..., 0] + pixels[None, :, 0]) / 2
    d = palette - pixels[None]
    return np.sqrt((2 + mean_red / 256) * d[..., 0] ** 2 + 4 * d[..., 1] ** 2 + (2 + (255 - mean_red) / 256) * d[..., 2] ** 2)


def region_colours(image: Image.Image, masks: np.ndarray | None) -> list[tuple[int, int, int]]:
    """One palette colour per mask (n, H, W) of ``image``: of the colours no earlier region took (all of them
    past the palette's length), the one that stands out most from what it is drawn on -- the largest distance
    that 90% of the region's pixels, and 90% of the pixels just outside it, keep from it."""
    if masks is None or len(masks) == 0:
        return []
    scale = max(1, max(image.size) // 320)  # judged on a small copy: colours need no detail
    small = np.asarray(image.convert("RGB"), dtype=np.float32)[::scale, ::scale]
    used: list[int] = []
    for mask in masks:
        m = np.asarray(mask, dtype=bool)[::scale, ::scale]
        contrast = np.full(len(PALETTE), np.inf)
        for part in (m, _grow(m, 3) & ~m):  # the fill's pixels, and the outline's other side
            if part.any():
                pixels = small[part][:: max(1, int(part.sum()) // 4000)]
                contrast = np.minimum(contrast, np.percentile(_distances(pixels), 10, axis=1))
        free = [k for k in range(len(PALETTE)) if k not in used] or list(range(len(PALETTE)))
        used.append(max(free, key=lambda k: contrast[k]))
    return [PALETTE[k] for k in used]


def overlay(image: Image.Image, masks: np.ndarray | None, colours: Sequence, height: int | None = None) -> Image.Image:
    """``image`` (scaled to ``height``) with each mask (n, H, W) as a light fill and an outline in its colour,
    a dark rim just outside the outline. Drawn at the output's size: outlines keep their width."""
    shown = image.convert("RGB") if height is None else _fit(image.convert("RGB"), height)
    if masks is None or len(masks) == 0:
        return shown
    out = np.asarray(shown, dtype=np.float32).copy()
    scaled = [np.asarray(Image.fromarray(np.asarray(m, np.uint8) * 255).resize(shown.size, Image.NEAREST)) > 0 for m in masks]
    for m, colour in zip(scaled, colours):
        out[m] = (1 - FILL_ALPHA) * out[m] + FILL_ALPHA * np.asarray(colour, np.float32)
    for m, colour in zip(scaled, colours):  # outlines over every fill: an overlapped region keeps its border
        rim = _grow(m, 1) & ~m
        out[rim] = 0.2 * out[rim] + 0.8 * np.asarray(RIM, np.float32)
        out[m & ~_shrink(m, OUTLINE)] = colour
    return Image.fromarray(out.astype(np.uint8))


def draw_grid(tile: Image.Image, prompt_masks: np.ndarray, colours: Sequence, alpha: float = 0.55) -> Image.Image:
    """The token grid over a tile, each region's cells filled in its colour."""
    g = prompt_masks.shape[-1] if len(prompt_masks) else 16
    size = tile.width
    cell = size / g
    base = np.asarray(tile, dtype=np.float32).copy()
    for pm, colour in zip(prompt_masks, colours):
        up = np.kron(pm, np.ones((int(np.ceil(cell)),) * 2, dtype=np.uint8))[:size, :size].astype(bool)
        base[up] = (1 - alpha) * base[up] + alpha * np.asarray(colour, np.float32)
    im = Image.fromarray(base.astype(np.uint8))
    draw = ImageDraw.Draw(im)
    for i in range(g + 1):
        p = round(i * cell)
        draw.line([(p, 0), (p, size)], fill=(255, 255, 255), width=1)
        draw.line([(0, p), (size, p)], fill=(255, 255, 255), width=1)
    return im


def _fit(image: Image.Image, height: int) -> Image.Image:
    w = max(1, round(image.width * height / image.height))
    return image.resize((w, height))


def render(
    image: Image.Image,
    features,
    region_masks: np.ndarray | None = None,
    index: int = 0,
    title: str = "",
    mean: Sequence[float] = (0.485, 0.456, 0.406),
    std: Sequence[float] = (0.229, 0.224, 0.225),
    grid: tuple[int, int] | None = None,
    names: Sequence[str] | None = None,
) -> Image.Image:
    """Compose image+masks | thumbnail+grid on top, all tiles below, and a legend when ``names`` are given.

    ``features`` is the image processor's output for a batch; ``index`` picks the image.
    ``region_masks`` (n, H, W) are drawn over the image (the visual prompts, or GT masks); the
    legend gives each region's colour, name and grid cells (= its ``<IMG_CONTEXT>`` tokens), with
    its own 16x16 grid.
    """
    num_patches = [int(n) for n in np.asarray(features["num_patches"])]
    start = sum(num_patches[:index])
    tiles = np.asarray(features["pixel_values"])[start : start + num_patches[index]]
    prompt = np.asarray(features["prompt_masks"][index]) if "prompt_masks" in features else np.zeros((0, 16, 16))
    if region_masks is None and "masks" in features:
        region_masks = np.asarray(features["masks"][index])
    colours = region_colours(image, region_masks)

    left = overlay(image, region_masks, colours, PANEL)
    right = draw_grid(denormalize(tiles[-1], mean, std), prompt, colours)
    tile_imgs = [denormalize(t, mean, std).resize((TILE, TILE)) for t in tiles]
    has_thumb = len(tile_imgs) > 1
    cols, rows = grid if grid else (min(len(tile_imgs), 8), -(-len(tile_imgs) // min(len(tile_imgs), 8)))
    # Grid tiles as a mosaic (2 px apart) in their row-major places, the thumbnail beside it.
    places = [(10 + (k % cols) * (TILE + 2), (k // cols) * (TILE + 2)) for k in range(cols * rows)]
    if has_thumb and grid:
        places.append((10 + cols * (TILE + 2) + 24, 0))
    counts = features["region_pixels"][index] if "region_pixels" in features else []
    legend_rows = len(names or [])
    header, caption = 56, 24
    width = max(left.width + right.width + 30, max(x for x, _ in places) + TILE + 20, 760 if legend_rows else 0)
    tiles_top = header + PANEL + caption + 30
    tiles_h = tiles_top + max(y for _, y in places) + TILE + 24
    height = tiles_h + (legend_height(legend_rows, True) + 30 if legend_rows else 0)
    canvas = Image.new("RGB", (width, height), BACKGROUND)
    draw = ImageDraw.Draw(canvas)
    draw.text((10, 8), title or "sa2va-hf", fill=TEXT, font=font(18))
    draw.text(
        (10, 32),
        f"{len(tiles)} tiles = {256 * len(tiles)} image tokens;  grid cells per region: {[int(c) for c in counts]}",
        fill=DIM_TEXT,
        font=font(14),
    )
    canvas.paste(left, (10, header))
    canvas.paste(right, (left.width + 20, header))
    draw.text((10, header + PANEL + 4), "the image and its masks", fill=DIM_TEXT, font=font(14))
    draw.text(
        (left.width + 20, header + PANEL + 4),
        "thumbnail + 16x16 prompt grid (a cell = an <IMG_CONTEXT> token)",
        fill=DIM_TEXT,
        font=font(14),
    )
    draw.text(
        (10, tiles_top - 22),
        f"tiles fed to the vision encoder ({cols}x{rows} grid{', thumbnail last' if has_thumb else ''})",
        fill=DIM_TEXT,
        font=font(14),
    )
    for i, (t, (x, y)) in enumerate(zip(tile_imgs, places)):
        canvas.paste(t, (x, tiles_top + y))
        if has_thumb and i == len(tile_imgs) - 1:
            draw.text((x, tiles_top + y + TILE + 2), "thumbnail", fill=DIM_TEXT, font=font(14))
    if legend_rows:
        cells = [prompt[k] if k < len(prompt) else None for k in range(legend_rows)]
        region_counts = [counts[k] if k < len(counts) else None for k in range(legend_rows)]
        draw_legend(canvas, names, colours, (10, tiles_h + 16), region_counts, cells)
    return canvas


def legend_height(rows: int, grids: bool) -> int:
    return rows * (LEGEND_ROW if grids else SMALL_LEGEND_ROW)


def draw_legend(
    canvas: Image.Image, names: Sequence[str], colours: Sequence, origin: tuple[int, int], counts=None, grids=None
) -> None:
    """One row per region: its colour (fill and outline as drawn), its 16x16 grid (when given), its name and
    grid cells."""
    draw = ImageDraw.Draw(canvas)
    x0, y = origin
    swatch = np.zeros((32, 32), bool)
    swatch[4:28, 4:28] = True
    for k, name in enumerate(names):
        colour = colours[k] if k < len(colours) else PALETTE[k % len(PALETTE)]
        row = LEGEND_ROW if grids is not None else SMALL_LEGEND_ROW
        canvas.paste(overlay(Image.new("RGB", (32, 32), BACKGROUND), swatch[None], [colour]), (x0, y + (row - 40) // 2))
        x = x0 + 44
        if grids is not None and grids[k] is not None:
            g = np.asarray(grids[k]).astype(bool)
            cell = np.zeros((*g.shape, 3), np.uint8) + np.asarray(EMPTY_CELL, np.uint8)
            cell[g] = colour
            canvas.paste(Image.fromarray(cell).resize((LEGEND_GRID, LEGEND_GRID), Image.NEAREST), (x, y))
            x += LEGEND_GRID + 14
        draw.text((x, y + (18 if grids is not None else 8)), str(name), fill=TEXT, font=font(16))
        if counts is not None and counts[k] is not None:
            n = int(counts[k])
            said = f"{n} grid cell{'s' if n != 1 else ''} = {n} <IMG_CONTEXT> token{'s' if n != 1 else ''}"
            draw.text((x, y + 44), said, fill=DIM_TEXT if n else (255, 120, 120), font=font(14))
        y += row


def render_strip(
    frames: Sequence[Image.Image], frame_masks: Sequence[np.ndarray], names: Sequence[str], title: str = ""
) -> Image.Image:
    """A video record: a strip of frames, each with its regions' masks (n, H, W) drawn, and a legend."""
    height = 240
    shown_masks = next((m for m in frame_masks if m is not None and np.any(m)), None)
    colours = region_colours(frames[0], shown_masks) if shown_masks is not None else []
    colours = colours or [PALETTE[k % len(PALETTE)] for k in range(len(names))]
    shown = [overlay(f, m, colours, height) for f, m in zip(frames, frame_masks)]
    width = max(sum(im.width + 6 for im in shown) + 14, 760)
    top = 40
    canvas = Image.new("RGB", (width, top + height + 16 + legend_height(len(names), False) + 10), BACKGROUND)
    draw = ImageDraw.Draw(canvas)
    draw.text((10, 10), title or "sa2va-hf", fill=TEXT, font=font(18))
    x = 10
    for im in shown:
        canvas.paste(im, (x, top))
        x += im.width + 6
    draw_legend(canvas, names, colours, (10, top + height + 16))
    return canvas


def summary(features, names) -> None:
    """Print tiles, image tokens and each region's grid cells (= its <IMG_CONTEXT> tokens)."""
    t = int(features["num_patches"][0])
    print(f"tiles: {t}  pixel_values: {tuple(features['pixel_values'].shape)}  image tokens: {256 * t}")
    for name, n in zip(names, features.get("region_pixels", [[]])[0]):
        print(f"  region {name}: {n} grid cells -> {n} <IMG_CONTEXT> tokens")
