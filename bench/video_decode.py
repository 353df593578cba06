"""Frame decoding rate of ``sa2va_hf.video_io.read_frames`` (a measurement, not a test).

Three ways to turn decoded frames into RGB images, on the same mp4, in the same run:

* ``pyav`` -- ``frame.to_image()``: PyAV's per-thread conversion context, FFmpeg's automatic
  thread count (what 0.2.x did; not fork-safe);
* ``read_frames`` -- the package's per-process conversion context at the package's thread count
  (every core this process may use, one inside a pool worker);
* ``read_frames, 1 thread`` -- as a DataLoader worker runs it (``SA2VA_HF_NUM_THREADS=1``).

All three give the same bytes (checked). Prints frames per second and the ratio to ``pyav``.

Run: ``.venv/bin/python bench/video_decode.py [--mp4 VIDEO.mp4] [--size 1280x720] [--frames 120]``
(without ``--mp4`` an H.264 mp4 of moving noise is written to a temporary folder).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench._common import best  # noqa: E402
from sa2va_hf import video_io  # noqa: E402
from sa2va_hf.threads import ENV_VAR  # noqa: E402


def write_mp4(path: str, width: int, height: int, frames: int) -> None:
    import av

    rng = np.random.default_rng(0)
    base = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    with av.open(path, "w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=24)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for i in range(frames):
            frame = np.roll(base, 4 * i, axis=1)
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode())


def pyav_frames(path: str) -> list:
    import av

    with av.open(path) as container:
        return [frame.to_image() for frame in container.decode(video=0)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mp4")
    ap.add_argument("--size", default="1280x720")
    ap.add_argument("--frames", type=int, default=120)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = args.mp4
        if path is None:
            width, height = (int(v) for v in args.size.split("x"))
            path = os.path.join(tmp, "noise.mp4")
            write_mp4(path, width, height, args.frames)
        reference = pyav_frames(path)
        n = len(reference)
        print(f"{os.path.basename(path)}: {n} frames {reference[0].width}x{reference[0].height}, best of {args.repeat}")

        def one_thread():
            os.environ[ENV_VAR] = "1"
            try:
                return video_io.read_frames(path)
            finally:
                del os.environ[ENV_VAR]

        rows = [("pyav to_image (0.2.x)", lambda: pyav_frames(path)), ("read_frames", lambda: video_io.read_frames(path)),
                ("read_frames, 1 thread", one_thread)]
        base = None
        for name, run in rows:
            same = all(a.tobytes() == b.tobytes() for a, b in zip(run(), reference))
            seconds = best(run, args.repeat)
            base = base or seconds
            print(f"  {name:24s} {n / seconds:8.1f} frames/s  {base / seconds:5.2f}x  same bytes: {same}")


if __name__ == "__main__":
    main()
