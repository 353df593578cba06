"""One picture of what the model gets: the image with its masks, the tiles, and the prompt grid.

Used by ``sa2va-hf show`` and ``sa2va-hf demo``. Everything is drawn from the processor's
own output (tiles are de-normalized ``pixel_values``), so the picture shows what the
model sees, not what we meant to give it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PIL import Image, ImageDraw

PALETTE = [
    (230, 25, 75), (60, 180, 75), (255, 225, 25), (0, 130, 200), (245, 130, 48),
    (145, 30, 180), (70, 240, 240), (240, 50, 230), (210, 245, 60), (250, 190, 190),
]  # fmt: skip
BACKGROUND = (32, 32, 36)
TEXT = (235, 235, 235)


def denormalize(tile: np.ndarray, mean: Sequence[float], std: Sequence[float]) -> Image.Image:
    """(3, S, S) normalized float32 -> RGB image."""
    x = tile * np.asarray(std, np.float32)[:, None, None] + np.asarray(mean, np.float32)[:, None, None]
    return Image.fromarray(np.clip(np.rint(x * 255), 0, 255).astype(np.uint8).transpose(1, 2, 0))


def overlay(image: Image.Image, masks: np.ndarray | None, alpha: float = 0.45) -> Image.Image:
    """Masks (n, H, W) painted over an RGB image, one palette colour each."""
    out = np.asarray(image.convert("RGB"), dtype=np.float32).copy()
    if masks is None:
        return image.convert("RGB")
    for k, m in enumerate(masks):
        colour = np.asarray(PALETTE[k % len(PALETTE)], np.float32)
        sel = m.astype(bool)
        out[sel] = (1 - alpha) * out[sel] + alpha * colour
    return Image.fromarray(out.astype(np.uint8))


def draw_grid(tile: Image.Image, prompt_masks: np.ndarray, alpha: float = 0.5) -> Image.Image:
    """The token grid over a tile, with each region's cells filled in its colour."""
    g = prompt_masks.shape[-1] if len(prompt_masks) else 16
    size = tile.width
    cell = size / g
    base = np.asarray(tile, dtype=np.float32).copy()
    for k, pm in enumerate(prompt_masks):
        colour = np.asarray(PALETTE[k % len(PALETTE)], np.float32)
        up = np.kron(pm, np.ones((int(np.ceil(cell)),) * 2, dtype=np.uint8))[:size, :size].astype(bool)
        base[up] = (1 - alpha) * base[up] + alpha * colour
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

    panel_h = 448
    left = _fit(overlay(image, region_masks) if region_masks is not None else image, panel_h)
    right = draw_grid(denormalize(tiles[-1], mean, std), prompt)
    small = 112
    tile_imgs = [denormalize(t, mean, std).resize((small, small)) for t in tiles]
    has_thumb = len(tile_imgs) > 1
    cols, rows = grid if grid else (min(len(tile_imgs), 8), -(-len(tile_imgs) // min(len(tile_imgs), 8)))
    # Grid tiles as a mosaic (2 px apart) in their row-major places, the thumbnail beside it.
    places = [(10 + (k % cols) * (small + 2), (k // cols) * (small + 2)) for k in range(cols * rows)]
    if has_thumb and grid:
        places.append((10 + cols * (small + 2) + 24, 0))
    label_h = 16
    header = 28
    counts = features["region_pixels"][index] if "region_pixels" in features else []
    legend_rows = len(names or [])
    width = max(left.width + right.width + 30, max(x for x, _ in places) + small + 20, 640 if legend_rows else 0)
    tiles_h = header + panel_h + 30 + max(y for _, y in places) + small + label_h + 10
    height = tiles_h + legend_rows * (LEGEND_ROW + 4) + (20 if legend_rows else 0)
    canvas = Image.new("RGB", (width, height), BACKGROUND)
    draw = ImageDraw.Draw(canvas)
    text = title or "sa2va-hf"
    text += f"   tiles T={len(tiles)}   image tokens={256 * len(tiles)}   region cells={list(counts)}"
    draw.text((10, 8), text, fill=TEXT)
    canvas.paste(left, (10, header))
    canvas.paste(right, (left.width + 20, header))
    y0 = header + panel_h + 24
    draw.text(
        (10, y0 - 18),
        f"tiles fed to the vision encoder ({cols}x{rows} grid, thumbnail last); "
        "right panel: thumbnail + 16x16 prompt grid",
        fill=TEXT,
    )
    for i, (t, (x, y)) in enumerate(zip(tile_imgs, places)):
        canvas.paste(t, (x, y0 + y))
        if has_thumb and i == len(tile_imgs) - 1:
            draw.text((x, y0 + y + small + 2), "thumbnail", fill=TEXT)
    if legend_rows:
        cells = [prompt[k] if k < len(prompt) else None for k in range(legend_rows)]
        region_counts = [counts[k] if k < len(counts) else None for k in range(legend_rows)]
        draw_legend(canvas, names, (10, tiles_h + 10), region_counts, cells)
    return canvas


LEGEND_ROW = 36


def draw_legend(canvas: Image.Image, names: Sequence[str], origin: tuple[int, int], counts=None, grids=None) -> None:
    """One row per region: its colour, its 16x16 grid (when given), its name and grid cells."""
    draw = ImageDraw.Draw(canvas)
    x0, y = origin
    for k, name in enumerate(names):
        colour = PALETTE[k % len(PALETTE)]
        draw.rectangle([x0, y + 8, x0 + 18, y + 26], fill=colour)
        x = x0 + 26
        if grids is not None and grids[k] is not None:
            g = np.asarray(grids[k]).astype(bool)
            cell = np.zeros((*g.shape, 3), np.uint8) + np.asarray((60, 60, 66), np.uint8)
            cell[g] = colour
            canvas.paste(Image.fromarray(cell).resize((LEGEND_ROW - 4, LEGEND_ROW - 4), Image.NEAREST), (x, y))
            x += LEGEND_ROW + 4
        cells = "" if counts is None or counts[k] is None else f"  ({int(counts[k])} grid cells)"
        draw.text((x, y + 11), f"{name}{cells}", fill=TEXT)
        y += LEGEND_ROW + 4


def render_strip(
    frames: Sequence[Image.Image], frame_masks: Sequence[np.ndarray], names: Sequence[str], title: str = ""
) -> Image.Image:
    """A video record: a strip of frames, each with its regions' masks (n, H, W) painted, and a legend."""
    height = 180
    shown = [_fit(overlay(f, m), height) for f, m in zip(frames, frame_masks)]
    width = max(sum(im.width + 6 for im in shown) + 14, 640)
    canvas = Image.new("RGB", (width, 28 + height + 24 + len(names) * (LEGEND_ROW + 4) + 10), BACKGROUND)
    draw = ImageDraw.Draw(canvas)
    draw.text((10, 8), title or "sa2va-hf", fill=TEXT)
    x = 10
    for im in shown:
        canvas.paste(im, (x, 28))
        x += im.width + 6
    draw_legend(canvas, names, (10, 28 + height + 14))
    return canvas


def summary(features, names) -> None:
    """Print tiles, image tokens and each region's grid cells (= its <IMG_CONTEXT> tokens)."""
    t = int(features["num_patches"][0])
    print(f"tiles: {t}  pixel_values: {tuple(features['pixel_values'].shape)}  image tokens: {256 * t}")
    for name, n in zip(names, features.get("region_pixels", [[]])[0]):
        print(f"  region {name}: {n} grid cells -> {n} <IMG_CONTEXT> tokens")
