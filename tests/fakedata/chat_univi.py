"""Fake Chat-UniVi video QA: ``video_datas/chat_univi/video_chat.json`` + ``Activity_Videos/`` (videos encoded here).

Each video's frames encode their index in their brightness (``frame_signature_image``), so the
test can tell which frames a record decodes. The entries cover: two entries sharing one mp4 (one
multi-turn), an entry naming ``.mkv`` whose file is the ``.mp4`` (upstream's fallback), and a real
Matroska file (its header states no frame count, so the build counts by decoding).
"""

from __future__ import annotations

import json
import os

from ._common import frame_signature_image, write_mp4

H, W = 32, 48  # even: H.264 with yuv420p


def conversation(i: int, turns: int = 1) -> list[dict]:
    out = []
    for t in range(turns):
        question = f"What happens in part {t} of video {i}?"
        out.append({"from": "human", "value": ("<image>\n" if t == 0 else "") + question})
        out.append({"from": "gpt", "value": f"Answer {t} about video {i}."})
    return out


def write(data_dir: str, source: str = "chat_univi") -> dict:
    root = os.path.join(data_dir, "video_datas", "chat_univi")
    folder = os.path.join(root, "Activity_Videos")
    # file on disk -> (frames, container)
    videos = {"v_alpha.mp4": (6, "mp4"), "v_beta.mp4": (3, "mp4"), "v_gamma.mkv": (5, "matroska")}
    files = {}
    for name, (n, fmt) in videos.items():
        frames = [frame_signature_image(i, H, W) for i in range(n)]
        files[name] = write_mp4(os.path.join(folder, name), frames, container_format=fmt)
    # (entry's video field, file it resolves to, conversation turns)
    plan = [
        ("v_alpha.mp4", "v_alpha.mp4", 1),
        ("v_beta.mkv", "v_beta.mp4", 2),  # named .mkv, present as .mp4
        ("v_alpha.mp4", "v_alpha.mp4", 3),  # a second entry on the same video
        ("v_gamma.mkv", "v_gamma.mkv", 1),  # Matroska: no frame count in the header
    ]
    entries, expected = [], []
    for i, (field, on_disk, turns) in enumerate(plan):
        convs = conversation(i, turns)
        entries.append({"id": field.split(".")[0], "video": field, "conversations": convs})  # ids repeat
        expected.append(
            {
                "id": str(i),
                "frames": [],
                "video": files[on_disk],
                "frame_indices": list(range(videos[on_disk][0])),
                "height": H,
                "width": W,
                "regions": [],
                "texts": [],
                "caption": None,
                "conversations": convs,
            }
        )
    path = os.path.join(root, "video_chat.json")
    with open(path, "w") as f:
        json.dump(entries, f)
    return {"expected": {"train": expected}, "json": path, "entries": entries, "files": files, "folder": folder}
