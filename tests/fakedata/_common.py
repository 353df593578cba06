from __future__ import annotations

import os

import numpy as np
from PIL import Image
from pycocotools import mask as mask_utils


def write_image(path: str, h: int, w: int, seed: int = 0, fmt: str = "JPEG") -> str:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(path, format=fmt)
    return path


def image_bytes(h: int, w: int, seed: int = 0) -> bytes:
    import io

    rng = np.random.default_rng(seed)
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(buf, format="JPEG")
    return buf.getvalue()


def blob(h: int, w: int, seed: int) -> np.ndarray:
    """A random binary mask: a few random rectangles (never empty)."""
    rng = np.random.default_rng(seed)
    m = np.zeros((h, w), np.uint8)
    for _ in range(3):
        y0, x0 = rng.integers(0, h - 4), rng.integers(0, w - 4)
        y1, x1 = rng.integers(y0 + 1, h + 1), rng.integers(x0 + 1, w + 1)
        m[y0:y1, x0:x1] = 1
    return m


def compressed_rle(mask: np.ndarray) -> dict:
    rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    return {"size": [int(rle["size"][0]), int(rle["size"][1])], "counts": rle["counts"].decode("ascii")}


def uncompressed_rle(mask: np.ndarray) -> dict:
    """Column-major run lengths starting with a run of zeros (COCO convention), by plain numpy."""
    flat = mask.astype(np.uint8).flatten(order="F")
    change = np.flatnonzero(np.diff(flat)) + 1
    bounds = np.concatenate(([0], change, [flat.size]))
    runs = np.diff(bounds).tolist()
    if flat.size and flat[0] == 1:
        runs = [0] + runs
    return {"size": [int(mask.shape[0]), int(mask.shape[1])], "counts": [int(r) for r in runs]}


def polygon_mask(polygons: list, h: int, w: int) -> np.ndarray:
    """Expected mask of a polygon list: each part rasterised alone, then OR-ed (not merged RLE)."""
    out = np.zeros((h, w), np.uint8)
    for poly in polygons:
        out |= mask_utils.decode(mask_utils.frPyObjects([poly], h, w))[:, :, 0]
    return out


def rect_poly(x0: float, y0: float, x1: float, y1: float) -> list[float]:
    return [x0, y0, x1, y0, x1, y1, x0, y1]


def tri_poly(x0: float, y0: float, s: float) -> list[float]:
    return [x0, y0, x0 + s, y0, x0, y0 + s]


def region(id, mask, bbox=None, label=None) -> dict:
    return {"id": str(id), "mask": mask, "bbox": bbox, "label": label}


def text(t, region_ids, start=None, end=None) -> dict:
    return {"text": t, "region_ids": list(region_ids), "start": start, "end": end}


def record(id, frame, h, w, regions=(), texts=(), caption=None, conversations=()) -> dict:
    return {
        "id": str(id),
        "frame": frame,  # absolute path, or bytes for embedded images
        "height": h,
        "width": w,
        "regions": list(regions),
        "texts": list(texts),
        "caption": caption,
        "conversations": list(conversations),
    }


def frame_signature_image(i: int, h: int, w: int) -> np.ndarray:
    """An RGB frame whose brightness encodes ``i`` (survives lossy video coding): 20 + 20 * i grey."""
    value = min(20 + 20 * i, 255)
    return np.full((h, w, 3), value, np.uint8)


def frame_signature(frame) -> int:
    """The ``i`` of :func:`frame_signature_image`, read back from a decoded frame."""
    mean = float(np.asarray(frame, dtype=np.float32).mean())
    return int(round((mean - 20) / 20))


def write_mp4(
    path: str, frames: list[np.ndarray], fps: int = 24, container_format: str = "mp4", codec: str = "libx264"
) -> str:
    """Encode RGB frames (H, W even) as H.264 with PyAV, in an mp4 (or ``container_format``, e.g.
    ``"matroska"``, whose header states no frame count; or another ``codec``)."""
    import av

    os.makedirs(os.path.dirname(path), exist_ok=True)
    h, w = frames[0].shape[:2]
    with av.open(path, "w", format=container_format) as container:
        stream = container.add_stream(codec, rate=fps)
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        if codec == "libx264":
            stream.options = {"preset": "ultrafast", "crf": "10"}
        else:
            stream.bit_rate = 4_000_000  # near lossless at these sizes: frame signatures survive
        for frame in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path
