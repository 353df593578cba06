"""How frames decoded from an mp4 differ from JPEG frames of the same video (a measurement, not a test).

Ref-SAV records keep the mp4 and decode frames with PyAV (``sa2va_hf.video_io``); the other video
sources store JPEG frame dumps. Three comparisons, in grey levels (0..255) over every RGB value:

1. ``--jpeg-dir``: real JPEG frames -> H.264 mp4 (libx264, yuv420p, CRF 18 and 23) -> decoded
   with ``video_io``, against the JPEG frames themselves;
2. ``--mp4``: every frame decoded with ``video_io``, then dumped as JPEG (PIL, quality 95) and read
   back: the difference a JPEG-dump pipeline adds;
3. ``--mp4`` again, ``video_io`` against OpenCV's ``cv2.VideoCapture`` (upstream's decoder), when
   ``cv2`` can be imported.

Run: ``.venv/bin/python bench/video_frames.py --jpeg-dir DIR_OF_JPEGS --mp4 VIDEO.mp4``.
"""

from __future__ import annotations

import argparse
import glob
import io
import os
import sys
import tempfile

import numpy as np
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from sa2va_hf import video_io  # noqa: E402


def stats(a: list[np.ndarray], b: list[np.ndarray]) -> str:
    d = np.abs(np.stack(a).astype(np.int16) - np.stack(b).astype(np.int16))
    return f"mean {d.mean():.2f}, 99th percentile {np.percentile(d, 99):.0f}, max {d.max()}"


def encode(frames: list[np.ndarray], path: str, crf: int) -> None:
    import av

    h, w = frames[0].shape[:2]
    with av.open(path, "w", format="mp4") as c:
        s = c.add_stream("libx264", rate=24)
        s.width, s.height, s.pix_fmt, s.options = w, h, "yuv420p", {"crf": str(crf)}
        for f in frames:
            c.mux(s.encode(av.VideoFrame.from_ndarray(f, format="rgb24")))
        c.mux(s.encode())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jpeg-dir", required=True)
    ap.add_argument("--mp4", required=True)
    args = ap.parse_args()

    jpegs = [np.asarray(Image.open(p).convert("RGB")) for p in sorted(glob.glob(os.path.join(args.jpeg_dir, "*.jpg")))]
    h, w = jpegs[0].shape[:2]
    print(f"1. {len(jpegs)} JPEG frames {w}x{h} -> mp4 -> video_io, against the JPEGs:")
    with tempfile.TemporaryDirectory() as tmp:
        for crf in (18, 23):
            path = os.path.join(tmp, f"crf{crf}.mp4")
            encode(jpegs, path, crf)
            decoded = [np.asarray(f) for f in video_io.read_frames(path)]
            print(f"   CRF {crf}: {stats(decoded, jpegs)}")

    frames = [np.asarray(f) for f in video_io.read_frames(args.mp4)]
    h, w = frames[0].shape[:2]
    dumped = []
    for f in frames:
        buf = io.BytesIO()
        Image.fromarray(f).save(buf, format="JPEG", quality=95)
        dumped.append(np.asarray(Image.open(buf).convert("RGB")))
    print(f"2. {os.path.basename(args.mp4)} ({len(frames)} frames {w}x{h}), video_io vs its JPEG dump (quality 95):")
    print(f"   {stats(frames, dumped)}")

    try:
        import cv2
    except ImportError:
        print("3. cv2 not importable: OpenCV comparison skipped")
        return
    cap, ours = cv2.VideoCapture(args.mp4), []
    while True:
        ok, bgr = cap.read()
        if not ok:
            break
        ours.append(bgr[:, :, ::-1])
    print(f"3. video_io vs cv2.VideoCapture (OpenCV {cv2.__version__}), {len(ours)} frames each:")
    print(f"   {stats(frames, ours)}; identical frames: {sum(np.array_equal(a, b) for a, b in zip(frames, ours))}")


if __name__ == "__main__":
    main()
