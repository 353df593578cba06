"""Records/s and peak memory of building a large Osprey file (a benchmark, not a test).

Writes a fake Osprey-724K folder into ``--workdir``: ``osprey_conversation.json`` with ``--entries``
entries (default 100,000; each 1-4 regions on a 640x480 COCO image -- polygons of ~24 points,
compressed and uncompressed RLEs, boxes -- and a 4-turn conversation, ~4 KB as the real file),
the images as hard links to one JPEG. Then, each in a fresh process, it builds the source with
``load_source("osprey_conversation", ...)`` on the first ``n`` entries for every ``n`` of
``--sizes`` (default 10,000, 50,000 and all) and prints records/s and the peak resident memory
above the process's baseline after imports, and how much of it is the process's own (anonymous)
memory: that part is flat in the number of records (the JSON is streamed, records go to Arrow in
batches); the rest is pages of the built Arrow file that ``datasets`` maps and reads back.

Run: ``.venv/bin/python bench/osprey_build.py --workdir /tmp/osprey_bench [--entries 100000] [--num-proc 2]``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from bench._common import rss_kb  # noqa: E402

H, W, IMAGES = 480, 640, 200


def _pools(rng: np.random.Generator) -> dict:
    """Segmentations to pick from: polygons of 24 points, compressed RLEs of ~300 characters
    (ellipses, as real COCO masks) and the same as uncompressed RLEs."""
    from sa2va_hf import masks

    yy, xx = np.mgrid[:H, :W]
    polygons, rles, counts = [], [], []
    for _ in range(64):
        cx, cy, r = rng.uniform(80, W - 80), rng.uniform(80, H - 80), rng.uniform(20, 75)
        t = np.linspace(0, 2 * np.pi, 24, endpoint=False)
        xy = np.stack([cx + r * np.cos(t) * rng.uniform(0.7, 1.0, 24), cy + r * np.sin(t) * rng.uniform(0.7, 1.0, 24)])
        polygons.append([np.round(xy.T.reshape(-1), 2).tolist()])
        cy, cx, ry, rx = rng.uniform(50, 430), rng.uniform(50, 590), rng.uniform(10, 120), rng.uniform(10, 160)
        rle = masks.encode((((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 < 1).astype(np.uint8))
        rles.append(rle)
        counts.append({"size": [H, W], "counts": masks.rle_counts(rle["counts"]).tolist()})
    return {0: polygons, 1: rles, 2: counts}


def _entry(i: int, rng: np.random.Generator, pools: dict) -> dict:
    annotation = []
    for k in range(int(rng.integers(1, 5))):
        seg = pools[k % 3][int(rng.integers(64))]
        x, y = float(rng.uniform(0, W - 100)), float(rng.uniform(0, H - 100))
        annotation.append({"bbox": [x, y, 100.0, 80.0], "segmentation": seg, "category_id": int(rng.integers(1, 91))})
    conversations = []
    for turn in range(4):
        conversations.append({"from": "human", "value": f"<image>\nWhat is <region1> doing in picture {i}? " * 2})
        conversations.append(
            {"from": "gpt", "value": f"Answer {turn}: it is standing near <region{len(annotation)}>. " * 3}
        )
    return {
        "file_name": f"COCO_train2014_{i % IMAGES:012d}.jpg",
        "height": H,
        "width": W,
        "annotation": annotation,
        "conversations": conversations,
    }


def write_fixture(workdir: str, sizes: list[int]) -> dict[int, str]:
    """One data dir per size, ``workdir/n<size>``; the files share their first entries. Returns the JSON paths."""
    from PIL import Image

    images = os.path.join(workdir, "images", "coco", "train2014")
    os.makedirs(images, exist_ok=True)
    first = os.path.join(images, f"COCO_train2014_{0:012d}.jpg")
    Image.new("RGB", (W, H), (90, 120, 150)).save(first, quality=90)
    for k in range(1, IMAGES):
        os.link(first, os.path.join(images, f"COCO_train2014_{k:012d}.jpg"))
    rng = np.random.default_rng(0)
    pools = _pools(rng)
    paths, files = {}, {}
    for n in sizes:
        root = os.path.join(workdir, f"n{n}", "osprey-724k")
        os.makedirs(os.path.join(root, "Osprey-724K"))
        os.symlink(os.path.join(workdir, "images", "coco"), os.path.join(root, "coco"))
        paths[n] = os.path.join(root, "Osprey-724K", "osprey_conversation.json")
        files[n] = open(paths[n], "w")
        files[n].write("[")
    for i in range(max(sizes)):
        text = ("," if i else "") + json.dumps(_entry(i, rng, pools))
        for n, f in files.items():
            if i < n:
                f.write(text)
    for f in files.values():
        f.write("]")
        f.close()
    return paths


def _measure(data_dir: str, cache_dir: str, num_proc: int) -> None:
    """Build in this process; print {"seconds", "peak_mb", "peak_anon_mb", "n"} as JSON.

    ``peak_mb`` is the peak resident memory above the baseline; it includes the pages of the
    built Arrow file that ``datasets`` maps and reads back (file-backed, reclaimable by the OS).
    ``peak_anon_mb`` is the peak of anonymous memory alone (the process's own), sampled every 20 ms.
    """
    import threading

    import datasets

    import sa2va_hf

    datasets.disable_progress_bars()
    base, base_anon = rss_kb("VmRSS"), rss_kb("RssAnon")
    peak_anon = [base_anon]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.02):
            peak_anon[0] = max(peak_anon[0], rss_kb("RssAnon"))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    t = time.perf_counter()
    kwargs = {"num_proc": num_proc} if num_proc > 1 else {}
    ds = sa2va_hf.load_source("osprey_conversation", data_dir, split="train", cache_dir=cache_dir, **kwargs)
    seconds = time.perf_counter() - t
    done.set()
    sampler.join()
    peak_anon[0] = max(peak_anon[0], rss_kb("RssAnon"))
    print(json.dumps({
        "seconds": seconds, "peak_mb": (rss_kb("VmHWM") - base) / 1024, "peak_anon_mb": (peak_anon[0] - base_anon) / 1024,
        "n": len(ds),
    }))  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workdir", required=True)
    ap.add_argument("--entries", type=int, default=100_000)
    ap.add_argument("--sizes", type=int, nargs="*", default=[10_000, 50_000], help="also build the first n entries")
    ap.add_argument("--num-proc", type=int, default=1)
    ap.add_argument("--case", nargs=2, help=argparse.SUPPRESS)  # data_dir cache_dir: measure in this process
    args = ap.parse_args()
    if args.case:
        _measure(args.case[0], args.case[1], args.num_proc)
        return
    sizes = sorted({*(s for s in args.sizes if s < args.entries), args.entries})
    done = all(os.path.exists(os.path.join(args.workdir, f"n{n}")) for n in sizes)
    if not done and os.path.exists(os.path.join(args.workdir, "images")):
        sys.exit(f"{args.workdir} holds an earlier run with other sizes: give an empty --workdir")
    if not done:
        t = time.perf_counter()
        write_fixture(args.workdir, sizes)
        print(f"written in {time.perf_counter() - t:.0f} s")
    path = os.path.join(args.workdir, f"n{args.entries}", "osprey-724k", "Osprey-724K", "osprey_conversation.json")
    print(f"osprey_conversation.json: {os.path.getsize(path) / 1e6:.0f} MB for {args.entries} entries")
    print(f"{'entries':>8} {'num_proc':>8} {'time':>8} {'records/s':>10} {'peak RSS':>10} {'of it anonymous':>16}")
    for n in sizes:
        data = os.path.join(args.workdir, f"n{n}")
        cache = os.path.join(args.workdir, f"cache{n}_{args.num_proc}_{time.time_ns()}")
        out = subprocess.run(
            [sys.executable, __file__, "--workdir", args.workdir, "--num-proc", str(args.num_proc), "--case", data, cache],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        r = json.loads(out.stdout.strip().splitlines()[-1])
        print(f"{r['n']:>8} {args.num_proc:>8} {r['seconds']:>7.1f}s {r['n'] / r['seconds']:>10.0f} "
              f"{r['peak_mb']:>7.0f} MB {r['peak_anon_mb']:>13.0f} MB")  # fmt: skip


if __name__ == "__main__":
    main()
