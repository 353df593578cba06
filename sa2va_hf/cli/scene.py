"""An embedded sample, generated on the spot (no download): a small scene with two regions.

The regions come in the two annotation shapes real sources use: a polygon (like Osprey /
RefCOCO) and a compressed RLE (like GranD-f / describe-anything).
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

from .. import masks as mask_codec

WIDTH, HEIGHT = 1200, 800


def make_scene() -> tuple[Image.Image, list, list[str]]:
    """(image, [polygon, rle], names): a house under a sun, 1200x800 (a 3x2 grid + thumbnail)."""
    y = np.linspace(0, 1, HEIGHT, dtype=np.float32)[:, None, None]
    sky = (1 - y) * np.array([110, 170, 235], np.float32) + y * np.array([200, 225, 250], np.float32)
    img = np.broadcast_to(sky, (HEIGHT, WIDTH, 3)).astype(np.uint8).copy()
    img[560:] = (86, 150, 70)  # grass
    image = Image.fromarray(img)
    draw = ImageDraw.Draw(image)

    house = [[380.0, 560.0, 380.0, 380.0, 560.0, 250.0, 740.0, 380.0, 740.0, 560.0]]
    draw.polygon(house[0], fill=(170, 160, 150))
    draw.rectangle([520, 450, 600, 560], fill=(90, 55, 30))  # door
    draw.rectangle([420, 410, 480, 460], fill=(240, 240, 200))  # windows
    draw.rectangle([640, 410, 700, 460], fill=(240, 240, 200))

    sun = Image.new("L", (WIDTH, HEIGHT))
    ImageDraw.Draw(sun).ellipse([930, 70, 1090, 230], fill=1)
    draw.ellipse([930, 70, 1090, 230], fill=(255, 215, 60))
    sun_rle = mask_codec.encode(np.asarray(sun))
    return image, [house, sun_rle], ["house", "sun"]
