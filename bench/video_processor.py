"""Time the video path of the processor (a measurement, not a test): ratios, best of N.

For one video of F frames it times:

1. the image processor on the frames with ``max_tiles=1`` (what ``Sa2VAProcessor`` did with videos
   before ``Sa2VAVideoProcessor``: the same pixels, checked before timing);
2. ``Sa2VAVideoProcessor`` (``num_threads=1``);
3. ``Sa2VAVideoProcessor(num_threads=2)``: the SAM2 resizes on a worker thread beside the tiles;
4. ``max_llm_frames=5`` (``predict_forward``): tiles for 5 frames, SAM2 images for all;
5. with ``--mp4``: decoding every frame with ``sa2va_hf.video_io`` (PyAV), for scale.

Run: ``.venv/bin/python bench/video_processor.py [--mp4 VIDEO.mp4] [--frames 16] [--size 720x1280]``.
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench._common import best  # noqa: E402
from sa2va_hf import Sa2VAImageProcessor, video_io  # noqa: E402
from sa2va_hf.video_processing_sa2va import Sa2VAVideoProcessor  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mp4", help="read the frames from this video (every frame, at most --frames)")
    parser.add_argument("--frames", type=int, default=16)
    parser.add_argument("--size", default="720x1280", help="H x W of synthetic frames (without --mp4)")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    if args.mp4:
        frames = video_io.read_frames(args.mp4, range(args.frames))
        source = f"{os.path.basename(args.mp4)}, first {len(frames)} frames"
    else:
        h, w = (int(v) for v in args.size.split("x"))
        rng = np.random.default_rng(0)
        frames = [Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)) for _ in range(args.frames)]
        source = f"{len(frames)} random frames"
    w, h = frames[0].size
    ip = Sa2VAImageProcessor()
    vp = Sa2VAVideoProcessor(ip)

    old = ip(frames, max_tiles=1)
    new = vp(frames)
    for key in ("pixel_values", "g_pixel_values"):
        np.testing.assert_array_equal(old[key], new[key], err_msg=key)

    runs = {
        "image processor, max_tiles=1 (before)": lambda: ip(frames, max_tiles=1),
        "Sa2VAVideoProcessor": lambda: vp(frames),
        "Sa2VAVideoProcessor, num_threads=2": lambda: vp(frames, num_threads=2),
        "Sa2VAVideoProcessor, max_llm_frames=5": lambda: vp(frames, max_llm_frames=5),
    }
    if args.mp4:
        runs["decode every frame (video_io)"] = lambda: video_io.read_frames(args.mp4, range(len(frames)))
    print(f"{source}, {w}x{h}; best of {args.repeat}; same pixels checked")
    base = None
    for name, fn in runs.items():
        t = best(fn, args.repeat)
        base = base or t
        print(f"  {name:42s} {t * 1000:8.1f} ms  {t / len(frames) * 1000:6.1f} ms/frame  {base / t:5.2f}x")


if __name__ == "__main__":
    main()
