"""Every way a video file enters sa2va-hf, run on one file and reduced to what came out: the frames' mean grey
levels, or the error. Tests run it in-process, or in a child with a deadline for files that could hang
(``tests/child.py:run_module``), or to measure a process's memory:

    python -m tests.video_entry_points VIDEO DATA_DIR CACHE_DIR [ENTRY ...]

prints ``ENTRY frames [grey, ...]`` or ``ENTRY error <class>: <message>`` per entry point, then
``peak_rss_growth_mib <n>``: how far the process's peak memory rose while they ran. ``DATA_DIR`` holds the
fake ``chat_univi`` and ``ref_sav`` sources, whose first video is ``VIDEO``'s name in each one's folder
(see :func:`point_sources_at`).
"""

from __future__ import annotations

import json
import os
import sys

import numpy as np

ENTRY_POINTS = ("read_frames", "bytes", "probe", "processor", "chat_univi", "ref_sav")


def source_folders(data_dir: str) -> dict[str, str]:
    """The folder each fake video source names its videos in."""
    videos = os.path.join(data_dir, "video_datas")
    return {
        "chat_univi": os.path.join(videos, "chat_univi", "Activity_Videos"),
        "ref_sav": os.path.join(videos, "sam_v_full"),
    }


def point_sources_at(name: str, data_dir: str) -> None:
    """Make the first video of the fake ``chat_univi`` and ``ref_sav`` sources in ``data_dir`` be the file ``name``
    in each one's folder (:func:`source_folders`)."""
    videos = os.path.join(data_dir, "video_datas")
    for path, first in ((os.path.join(videos, "chat_univi", "video_chat.json"), lambda d: d[0]),
                        (os.path.join(videos, "Ref-SAV.json"), lambda d: d[next(iter(d))])):  # fmt: skip
        with open(path) as f:
            data = json.load(f)
        first(data)["video" if isinstance(data, list) else "video_path"] = name
        with open(path, "w") as f:
            json.dump(data, f)


def greys(frames) -> list[int]:
    return [int(round(float(np.asarray(f, dtype=np.float32).mean()))) for f in frames]


def run(entry: str, video: str, data_dir: str | None = None, cache_dir: str | None = None):
    """("frames", [grey, ...]) or ("error", exception) of one entry point on ``video``."""
    from sa2va_hf import load_source, video_io
    from sa2va_hf.video_processing_sa2va import Sa2VAVideoProcessor

    try:
        if entry == "read_frames":
            return "frames", greys(video_io.read_frames(video))
        if entry == "bytes":
            with open(video, "rb") as f:
                return "frames", greys(video_io.read_frames({"bytes": f.read(), "path": "clip.mp4"}))
        if entry == "probe":
            video_io.probe(video)
            return "frames", greys(video_io.read_frames(video, [0]))
        if entry == "processor":
            out = Sa2VAVideoProcessor()({"video": video}, return_grounding=False)
            tiles = np.asarray(out["pixel_values"])  # normalized: the grey of a tile's centre, back in 0..255
            std, mean = np.array([0.229, 0.224, 0.225]), np.array([0.485, 0.456, 0.406])
            return "frames", [int(round(float(((t[:, 224, 224] * std + mean) * 255).mean()))) for t in tiles]
        if entry in ("chat_univi", "ref_sav"):
            ds = load_source(entry, data_dir, split="train", cache_dir=cache_dir)
            return "frames", [g for r in ds for g in greys(video_io.read_record_frames(r))]
    except Exception as e:  # noqa: BLE001 -- the outcome is the exception, whatever it is
        return "error", e
    raise SystemExit(f"unknown entry point {entry!r}; known: {ENTRY_POINTS}")


def peak_rss_kib() -> int:
    """This process's peak resident memory since it started (``VmHWM``; ``getrusage``'s ``ru_maxrss`` keeps the
    peak of the process that forked it, e.g. pytest's)."""
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmHWM:"))


def main(argv: list[str]) -> None:
    video, data_dir, cache_dir, *entries = argv
    import av  # noqa: F401 -- everything the entry points import, imported before the baseline is taken

    import sa2va_hf.video_processing_sa2va  # noqa: F401
    from sa2va_hf import load_source  # noqa: F401

    before = peak_rss_kib()
    for entry in entries or ENTRY_POINTS:
        kind, value = run(entry, video, data_dir, cache_dir)
        print(entry, kind, f"{type(value).__name__}: {value}" if kind == "error" else value, flush=True)
    print("peak_rss_growth_mib", (peak_rss_kib() - before) // 1024, flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
