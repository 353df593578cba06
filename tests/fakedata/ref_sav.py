"""Fake Ref-SAV: the Ref-SAV JSON + SA-V ``sav_XXXXXX.mp4`` (encoded here) and ``_manual.json`` masklets.

Each mp4 frame encodes its own index in its brightness (``frame_signature_image``), so the test
can tell which frames a record decodes. One video sits in v1's folder layout
(``sam_v_full/sav_000/sav_train/sav_000/``), the other in v2's (``sam_v_full/sav_train/sav_000/``).
"""

from __future__ import annotations

import json
import os

import numpy as np

from ._common import blob, compressed_rle, frame_signature_image, text, write_mp4

H, W = 32, 48  # even: H.264 with yuv420p


def masklet(n_annotated: int, n_objects: int, seed: int, empty=()) -> list[list[np.ndarray]]:
    """frames x objects binary masks; ``(frame, object)`` pairs in ``empty`` are invisible (an empty mask)."""
    return [
        [
            np.zeros((H, W), np.uint8) if (f, o) in empty else blob(H, W, seed * 1000 + f * 10 + o)
            for o in range(n_objects)
        ]
        for f in range(n_annotated)
    ]


def manual_json(video_id: str, n_frames: int, masks: list[list[np.ndarray]]) -> dict:
    """An SA-V ``_manual.json`` (the fields the real one has; only masklet / masklet_num are read)."""
    n_objects = len(masks[0])
    return {
        "video_id": video_id,
        "video_duration": n_frames / 24,
        "video_frame_count": float(n_frames),
        "video_height": float(H),
        "video_width": float(W),
        "video_resolution": float(H * W),
        "video_environment": "Indoor",
        "video_split": "train",
        "masklet": [[compressed_rle(m) for m in frame] for frame in masks],
        "masklet_id": list(range(n_objects)),
        "masklet_size_bucket": ["medium"] * n_objects,
        "masklet_first_appeared_frame": [0.0] * n_objects,
        "masklet_frame_count": [len(masks)] * n_objects,
        "masklet_type": ["manual"] * n_objects,
        "masklet_stability_score": [None] * n_objects,
        "masklet_num": n_objects,
    }


def _dump(path: str, data) -> str:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        json.dump(data, f)
    return path


def write_video(sav_root: str, video_id: str, n_frames: int, masks, layout: str) -> tuple[str, str, str]:
    """Write the mp4 + manual JSON in ``layout`` ("v1" or "v2"); return (json-relative path stem, mp4, manual)."""
    folder = video_id[:7]
    rel = f"{folder}/sav_train/{folder}/{video_id}"  # what the Ref-SAV JSON says (v1's layout)
    on_disk = rel if layout == "v1" else f"sav_train/{folder}/{video_id}"
    mp4 = write_mp4(os.path.join(sav_root, on_disk + ".mp4"), [frame_signature_image(i, H, W) for i in range(n_frames)])
    manual = _dump(os.path.join(sav_root, on_disk + "_manual.json"), manual_json(video_id, n_frames, masks))
    return rel, mp4, manual


def write(data_dir: str, source: str = "ref_sav", json_name: str = "Ref-SAV.json") -> dict:
    root = os.path.join(data_dir, "video_datas")
    sav_root = os.path.join(root, "sam_v_full")
    # video -> (frames, objects in the masklet, object keys in the Ref-SAV JSON (its order), layout, empty masks)
    plan = {
        "sav_000002": (10, 3, ["2", "0"], "v1", {(1, 2)}),  # 10 frames -> masklet of 3 (frames 0, 4, 8)
        "sav_000001": (9, 2, ["1"], "v2", set()),  # 9 frames -> 3 (0, 4, 8): as few frames as the masklet needs
    }
    ref, expected, files = {}, [], {}
    for seed, (vid, (n_frames, n_objects, keys, layout, empty)) in enumerate(plan.items()):
        masks = masklet((n_frames + 3) // 4, n_objects, seed, empty)
        rel, mp4, manual = write_video(sav_root, vid, n_frames, masks, layout)
        files[vid] = {"mp4": mp4, "manual": manual}
        objects = {
            k: {
                "video_id": vid,
                "obj_id": int(k),
                "formated": f"The object {k} of {vid}, described at length.",
                "final_caption": f"The object {k} of {vid}, described at length.",
                "video_path": rel + ".mp4",
                "anno_path": rel + "_manual.json",
            }
            for k in keys
        }
        ref[vid] = {"video_id": vid, "video_path": rel + ".mp4", "anno_path": rel + "_manual.json", "objects": objects}
        regions = [{"id": k, "masks": [frame[int(k)] for frame in masks], "bbox": None, "label": None} for k in keys]
        texts = [text(objects[k]["formated"], [i]) for i, k in enumerate(keys)]
        expected.append(
            {
                "id": vid,
                "frames": [],
                "video": mp4,
                "frame_indices": list(range(0, 4 * len(masks), 4)),
                "height": H,
                "width": W,
                "regions": regions,
                "texts": texts,
                "caption": None,
                "conversations": [],
            }
        )
    json_path = _dump(os.path.join(root, json_name), ref)
    return {"expected": {"train": expected}, "json": json_path, "ref": ref, "files": files, "sav_root": sav_root}
