"""Peak memory and time of reading a large ReVOS/MeViS-style ``mask_dict.json`` (a benchmark, not a test).

Writes a fake ReVOS folder into ``--workdir`` (``mask_dict.json`` of at least ``--size-mb`` MB: real
COCO RLEs of 720x1280 masks, some frames null; ``meta_expressions_train_.json``; the frames as hard
links to one JPEG per video), then measures, each in a fresh process, the peak resident memory above the
process's baseline after imports, and the wall time:

* ``json.load``: what upstream does (the whole dict in memory);
* ``index``: ``json_object_spans``, the one streaming pass the ``revos`` parser makes;
* ``index + read all``: the pass, then every anno id read back by seeking, video by video;
* ``load_source``: the whole ``revos`` build (frame headers, RLE checks, Arrow writing).

Run: ``.venv/bin/python bench/mask_dict.py --workdir /tmp/mask_dict_bench [--size-mb 210]``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from bench._common import rss_kb  # noqa: E402

H, W, FRAMES, ANNOS_PER_VIDEO = 720, 1280, 60, 5


def _rle_pool(n: int, seed: int = 0) -> list[dict]:
    """``n`` distinct real RLEs of random ellipses, counts as str (~300 characters, as real COCO / SA-V masks)."""
    from pycocotools import mask as mask_utils

    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:H, :W]
    pool = []
    for _ in range(n):
        cy, cx, ry, rx = rng.uniform(100, 620), rng.uniform(100, 1180), rng.uniform(10, 100), rng.uniform(10, 150)
        m = (((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 < 1).astype(np.uint8)
        rle = mask_utils.encode(np.asfortranarray(m))
        pool.append({"size": [H, W], "counts": rle["counts"].decode("ascii")})
    return pool


def write_fixture(root: str, size_mb: int) -> dict:
    from PIL import Image

    os.makedirs(root, exist_ok=True)
    pool = _rle_pool(64)
    rng = np.random.default_rng(1)
    mask_path = os.path.join(root, "mask_dict.json")
    videos, anno = {}, 0
    with open(mask_path, "w") as f:
        f.write("{")
        while f.tell() < size_mb * 1e6:
            vid = f"BENCH/all/video{len(videos):05d}"
            exps = {}
            for e in range(ANNOS_PER_VIDEO):
                per_frame = [None if rng.random() < 0.1 else pool[rng.integers(len(pool))] for _ in range(FRAMES)]
                f.write(("," if anno else "") + json.dumps(str(anno)) + ": " + json.dumps(per_frame))
                exps[str(e)] = {"exp": f"object {e} of {vid}", "obj_id": [e], "anno_id": [anno], "type_id": 0}
                anno += 1
            frames = [f"{i:05d}" for i in range(FRAMES)]
            videos[vid] = {"vid_id": len(videos), "height": H, "width": W, "frames": frames, "expressions": exps}
        f.write("}")
    with open(os.path.join(root, "meta_expressions_train_.json"), "w") as f:
        json.dump({"videos": videos}, f)
    one = os.path.join(root, "frame.jpg")
    Image.new("RGB", (W, H), (90, 120, 150)).save(one, quality=90)
    for vid, entry in videos.items():
        folder = os.path.join(root, vid)
        os.makedirs(folder, exist_ok=True)
        first, *rest = (os.path.join(folder, f"{name}.jpg") for name in entry["frames"])
        shutil.copyfile(one, first)
        for path in rest:  # hard links: a file has at most ~65000 of them, so one copy per video
            os.link(first, path)
    return {"mask_dict": mask_path, "videos": len(videos), "annos": anno, "bytes": os.path.getsize(mask_path)}


def _measure(case: str, data_dir: str, cache_dir: str) -> None:
    """Run one case in this process; print {"seconds", "peak_mb"} as JSON."""
    import datasets

    import sa2va_hf
    from sa2va_hf.data.sources._json import json_object_spans, read_json_span

    datasets.disable_progress_bars()
    mask_path = os.path.join(data_dir, "video_datas", "revos", "mask_dict.json")
    base = rss_kb("VmRSS")
    t = time.perf_counter()
    if case == "json.load":
        with open(mask_path, "rb") as f:
            d = json.load(f)
        n = len(d)
    elif case.startswith("index"):
        spans = json_object_spans(mask_path)
        n = len(spans)
        if case == "index + read all":
            with open(mask_path, "rb") as f:
                n = sum(len(read_json_span(f, span)) for span in spans.values())
    else:
        ds = sa2va_hf.load_source("revos", data_dir, split="train", cache_dir=cache_dir)
        n = len(ds)
    seconds = time.perf_counter() - t
    print(json.dumps({"seconds": seconds, "peak_mb": (rss_kb("VmHWM") - base) / 1024, "n": n}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workdir", required=True)
    ap.add_argument("--size-mb", type=int, default=210)
    ap.add_argument("--case", help=argparse.SUPPRESS)
    args = ap.parse_args()
    data_dir = os.path.join(args.workdir, "data")
    if args.case:
        _measure(args.case, data_dir, os.path.join(args.workdir, "cache"))
        return
    root = os.path.join(data_dir, "video_datas", "revos")
    if os.path.exists(os.path.join(root, "mask_dict.json")):
        sys.exit(f"{root} exists: give an empty --workdir")
    t = time.perf_counter()
    info = write_fixture(root, args.size_mb)
    print(
        f"mask_dict.json: {info['bytes'] / 1e6:.0f} MB, {info['annos']} anno ids, {info['videos']} videos x "
        f"{FRAMES} frames of {W}x{H} (written in {time.perf_counter() - t:.0f} s)"
    )
    print(f"{'case':<18} {'time':>8} {'peak RSS above baseline':>24}")
    for case in ("json.load", "index", "index + read all", "load_source"):
        out = subprocess.run(
            [sys.executable, __file__, "--workdir", args.workdir, "--case", case],
            capture_output=True,
            text=True,
            check=True,
        )
        r = json.loads(out.stdout.strip().splitlines()[-1])
        print(f"{case:<18} {r['seconds']:>7.1f}s {r['peak_mb']:>20.0f} MB")


if __name__ == "__main__":
    main()
