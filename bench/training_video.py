"""Throughput of video training samples (a measurement, not a test): records of the three video families
-> ``Sa2VATrainingTransform`` -> ``DataLoader(num_workers=2)`` -> ``Sa2VACollator``, in samples per second,
beside the frame decoding alone and the processor's pixel work for the same frames.

Records (``--size``, 1280x720 by default):

* ``revos`` -- a folder of ``--jpeg-frames`` JPEG frames per video, 4 expressions (one naming two objects),
  an RLE per object and frame;
* ``ref_sav`` -- an H.264 mp4 of ``4 (n - 1) + 1`` frames for a masklet of ``--annotated`` entries (every 4th
  frame annotated), 3 objects;
* ``chat_univi`` -- an H.264 mp4 of ``--chat-frames`` frames (ActivityNet videos run minutes: 3000 frames
  is 100 s at 30 fps), one question. Its 5 frames spread over the whole video, so most of it is decoded
  (from the IDR frame before each planned frame, one every 250 here): this family's cost is decoding.

Rows are read as ``datasets`` gives them (every stored frame decoded) and through ``lazy_frames`` (only
the planned ones).

Run: ``.venv/bin/python bench/training_video.py [--videos 8] [--size 1280x720] [--chat-frames 900]``.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from functools import partial

import numpy as np
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import datasets  # noqa: E402

from bench._common import best  # noqa: E402
from bench.training import through_loader  # noqa: E402 (one loader timing for both benchmarks)
from sa2va_hf import Sa2VAImageProcessor, Sa2VAProcessor, masks  # noqa: E402
from sa2va_hf.data.schema import features, make_record, make_region, make_text, record_frames  # noqa: E402
from sa2va_hf.training import Sa2VATrainingTransform, lazy_frames  # noqa: E402
from tests.fakedata._common import write_mp4  # noqa: E402
from tests.tokenizer_utils import make_tokenizer  # noqa: E402


def smooth(w: int, h: int, seed: int) -> np.ndarray:
    """A photo-like frame (smooth, so it codes like a real one)."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (h // 32 + 1, w // 32 + 1, 3), dtype=np.uint8)
    return np.asarray(Image.fromarray(small).resize((w, h), Image.BILINEAR))


def moving(base: np.ndarray, k: int) -> np.ndarray:
    return np.roll(base, 4 * k, axis=1)


def box(h: int, w: int, k: int) -> dict:
    m = np.zeros((h, w), np.uint8)
    y, x = (37 * k) % (h // 2), (53 * k) % (w // 2)
    m[y : y + h // 3, x : x + w // 4] = 1
    return masks.encode(m)


def revos(folder: str, i: int, w: int, h: int, n: int) -> dict:
    base = smooth(w, h, i)
    frames = []
    for k in range(n):
        path = os.path.join(folder, f"revos{i}", f"{k:05d}.jpg")
        os.makedirs(os.path.dirname(path), exist_ok=True)
        Image.fromarray(moving(base, k)).save(path, quality=90)
        frames.append(path)
    regions = [make_region(a, [box(h, w, i + a + k) if (k + a) % 5 else None for k in range(n)]) for a in range(3)]
    texts = [make_text("the man in red.", [0]), make_text("Which two things move?", [0, 1]),
             make_text("a dog", [2]), make_text("the ball on the left", [1])]  # fmt: skip
    return make_record(id=f"v{i}", source="revos", frames=frames, height=h, width=w, regions=regions, texts=texts)


def ref_sav(folder: str, i: int, w: int, h: int, annotated: int) -> dict:
    base = smooth(w, h, 100 + i)
    n = 4 * (annotated - 1) + 1
    path = write_mp4(os.path.join(folder, f"sav{i}.mp4"), [moving(base, k) for k in range(n)])
    regions = [make_region(o, [box(h, w, i + o + f) for f in range(annotated)]) for o in range(3)]
    texts = [make_text(f"A small object number {o} moving slowly to the left of the frame.", [o]) for o in range(3)]
    return make_record(id=f"s{i}", source="ref_sav", video=path, frame_indices=range(0, n, 4), height=h, width=w,
                       regions=regions, texts=texts)  # fmt: skip


def chat_univi(folder: str, i: int, w: int, h: int, n: int) -> dict:
    base = smooth(w, h, 200 + i)
    path = write_mp4(os.path.join(folder, f"chat{i}.mp4"), [moving(base, k) for k in range(n)])
    conv = [{"from": "human", "value": "<video>\nWhat happens in this video?"},
            {"from": "gpt", "value": "A person walks a dog along the beach, then throws a ball."}]  # fmt: skip
    return make_record(id=str(i), source="chat_univi", video=path, frame_indices=range(n), height=h, width=w,
                       conversations=conv)  # fmt: skip


def loaded(frames: list) -> list:
    """Frames with their pixels decoded (a JPEG frame opens lazily)."""
    for frame in frames:
        frame.load()
    return frames


def rate(n: int, seconds: float) -> str:
    if not n or not seconds:
        return "   n/a (give more --videos)"
    return f"{n / seconds:6.2f} samples/s ({1000 * seconds / n:7.1f} ms each)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, default=8, help="records per family")
    parser.add_argument("--size", default="1280x720")
    parser.add_argument("--jpeg-frames", type=int, default=30)
    parser.add_argument("--annotated", type=int, default=30)
    parser.add_argument("--chat-frames", type=int, default=900)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=2)
    parser.add_argument("--recipe", default="v2")
    parser.add_argument("--repeat", type=int, default=2, help="runs per record; the best counts")
    args = parser.parse_args()
    w, h = (int(v) for v in args.size.split("x"))
    datasets.disable_progress_bars()
    folder = tempfile.mkdtemp(prefix="sa2va-bench-video-")
    made = {
        "revos": [revos(folder, i, w, h, args.jpeg_frames) for i in range(args.videos)],
        "ref_sav": [ref_sav(folder, i, w, h, args.annotated) for i in range(args.videos)],
        "chat_univi": [chat_univi(folder, i, w, h, args.chat_frames) for i in range(args.videos)],
    }
    processor = Sa2VAProcessor(Sa2VAImageProcessor(), make_tokenizer("qwen"), template="qwen")
    t = Sa2VATrainingTransform(processor, args.recipe)
    print(f"{args.videos} videos per family ({args.size}, recipe {args.recipe}, {os.cpu_count()} CPUs), "
          f"best of {args.repeat} per record")  # fmt: skip
    for family, rows in made.items():
        ds = datasets.Dataset.from_list(rows, features=features())
        lazy = lazy_frames(ds)
        n = len(ds)
        t(lazy[0])  # warm up
        read = read_lazy = decode = pixels = single = 0.0
        for i in range(n):
            read += best(partial(ds.__getitem__, i), args.repeat)  # datasets decodes every stored frame of the row
            read_lazy += best(partial(lazy.__getitem__, i), args.repeat)
            r = lazy[i]
            spec = t.spec(r, t.plan(r))
            decode += best(lambda r=r, spec=spec: loaded(record_frames(r, spec.frames)), args.repeat)
            frames = loaded(record_frames(r, spec.frames))
            gt = None if spec.mask_groups is None else [  # (n_obj, F, H, W), as the processor takes them
                np.asarray(t._masks(r, spec)).reshape(len(spec.mask_groups), len(spec.frames), r["height"], r["width"])]
            pixels += best(lambda f=frames, gt=gt, spec=spec: processor.process_media(
                videos=[f], masks=gt, mode="training", **spec.image_options), args.repeat)  # fmt: skip
            single += best(lambda r=r: t(r), args.repeat)
        print(f"{family}")
        print(f"  reading a row (datasets decodes stored frames)  {rate(n, read)}")
        print(f"  reading a row, lazy_frames                      {rate(n, read_lazy)}")
        print(f"  decoding the sample's frames                    {rate(n, decode)}")
        print(f"  processor on those frames (+ masks)             {rate(n, pixels)}")
        print(f"  transform on a lazy row, one process            {rate(n, single)}")
        for name, data in (("rows as read", ds), ("lazy_frames", lazy)):
            steady, seen, _ = through_loader(data, t, args.workers, args.batch_size)
            print(f"  DataLoader(num_workers={args.workers}) + collator, {name:12s} {rate(seen, steady)}")


if __name__ == "__main__":
    main()
