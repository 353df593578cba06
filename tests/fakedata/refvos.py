"""Fake ReVOS / MeViS / Ref-YouTube-VOS: ``meta_expressions`` JSON + ``mask_dict`` (JSON or pickle) + JPEG frames.

Frames are listed out of order in the JSON (the parser sorts them), expression ids run past 10
(string order differs from numeric order), and per-frame mask lists hold nulls.
"""

from __future__ import annotations

import json
import os
import pickle

import numpy as np
from pycocotools import mask as mask_utils

from ._common import blob, compressed_rle, text, write_image

ROOTS = {"revos": "revos", "mevis": "mevis", "ref_youtube_vos": "rvos"}


def video_record(vid, frames, h, w, regions=(), texts=()) -> dict:
    """An expected record of a frame-folder video (``check_against``'s multi-frame form)."""
    return {
        "id": vid,
        "frames": list(frames),
        "height": h,
        "width": w,
        "regions": list(regions),
        "texts": list(texts),
        "caption": None,
        "conversations": [],
    }


def video_region(id, masks) -> dict:
    return {"id": str(id), "masks": list(masks), "bbox": None, "label": None}


def _frames(folder: str, vid: str, names: list[str], h: int, w: int, seed: int) -> list[str]:
    """Write ``folder/vid/<name>.jpg``; return the paths in sorted-name order (what the record holds)."""
    return [
        write_image(os.path.join(folder, vid, f"{n}.jpg"), h, w, seed=seed + k) for k, n in enumerate(sorted(names))
    ]


def _mask_list(pattern: str, h: int, w: int, seed: int) -> list[np.ndarray | None]:
    """One mask per frame: ``pattern`` has 'm' (a mask) or '.' (null) per frame."""
    return [blob(h, w, seed * 100 + k) if c == "m" else None for k, c in enumerate(pattern)]


def _rles(mask_list: list, encoder=compressed_rle) -> list:
    return [None if m is None else encoder(m) for m in mask_list]


def _dump(path: str, data) -> str:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        json.dump(data, f)
    return path


def write(data_dir: str, source: str) -> dict:
    root = os.path.join(data_dir, "video_datas", ROOTS[source])
    return {"revos": _revos, "mevis": _mevis, "ref_youtube_vos": _ref_ytvos}[source](root)


def _anno_id_video(folder, vid, names, h, w, exps, annos, seed, with_size=False):
    """One video of the anno-id format. ``exps``: exp id -> (text, [anno ids]); ``annos``: anno id -> pattern.

    Returns (json entry, mask_dict part, expected record)."""
    frames = _frames(folder, vid, names, h, w, seed)
    masks = {a: _mask_list(p, h, w, a) for a, p in annos.items()}
    entry = {
        "vid_id": seed,
        "frames": names,
        "expressions": {e: {"exp": t, "obj_id": [0] * len(ids), "anno_id": ids} for e, (t, ids) in exps.items()},
    }
    if with_size:
        entry.update(height=h, width=w)
    regions, index, texts = [], {}, []
    for e in sorted(exps):  # upstream: exp ids sorted as strings
        t, ids = exps[e]
        for a in ids:
            if a not in index:
                index[a] = len(regions)
                regions.append(video_region(a, masks[a]))
        texts.append(text(t, [index[a] for a in ids]))
    part = {str(a): _rles(m) for a, m in masks.items()}
    return entry, part, video_record(vid, frames, h, w, regions, texts)


def _revos(root):
    # video keys hold slashes; the JSON lists frames out of order; expression "1" names two objects;
    # anno 21 has no mask in any frame; "10" sorts before "2"
    v1 = _anno_id_video(
        root,
        "UVO/all/-fbscFfkh4M",
        ["00010", "00000", "00005"],
        24,
        32,
        {
            "0": ("the man in red.", [11]),
            "1": ("Which two things move?", [11, 12]),
            "10": ("a dog", [13]),
            "2": ("the ball", [12]),
        },
        {11: "m.m", 12: ".mm", 13: "mmm"},
        seed=1,
        with_size=True,
    )
    v2 = _anno_id_video(
        root, "MOSE/abc123", ["00001", "00000"], 16, 20, {"0": ("nothing there", [21])}, {21: ".."}, seed=2
    )
    v3 = _anno_id_video(root, "TAO/val/xyz", ["0003", "0001"], 20, 24, {"0": ("a car", [31])}, {31: "m."}, seed=3)
    mask_dict = {"999": [None]}  # a key no expression names
    for _, part, _ in (v3, v1, v2):
        mask_dict.update(part)
    exp_train = _dump(
        os.path.join(root, "meta_expressions_train_.json"),
        {"videos": {"UVO/all/-fbscFfkh4M": v1[0], "MOSE/abc123": v2[0]}},
    )
    exp_valid = _dump(os.path.join(root, "meta_expressions_valid_.json"), {"videos": {"TAO/val/xyz": v3[0]}})
    masks = _dump(os.path.join(root, "mask_dict.json"), mask_dict)
    return {
        "expected": {"train": [v1[2], v2[2]], "valid": [v3[2]]},
        "expressions": {"train": exp_train, "valid": exp_valid},
        "mask_dict": masks,
        "mask_dicts": mask_dict,
    }


def _mevis(root):
    out = {"expected": {}, "expressions": {}}
    # train: two videos; one expression covers two objects; valid_u: masks; valid: no mask_dict
    t1 = _anno_id_video(
        os.path.join(root, "train", "JPEGImages"),
        "0ab4afe7fb46",
        ["00002", "00000", "00001"],
        18,
        26,
        {"0": ("cat jumping to the left", [5]), "1": ("two cats fighting", [5, 6]), "11": ("cat lying still", [6])},
        {5: "mm.", 6: "m.m"},
        seed=4,
    )
    t2 = _anno_id_video(
        os.path.join(root, "train", "JPEGImages"),
        "1cde93a0b1f2",
        ["00000"],
        14,
        22,
        {"0": ("bird flying away", [7])},
        {7: "m"},
        seed=5,
    )
    u1 = _anno_id_video(
        os.path.join(root, "valid_u", "JPEGImages"),
        "77aa00bb11cc",
        ["00000", "00001"],
        16,
        16,
        {"0": ("the fish", [1])},
        {1: "mm"},
        seed=6,
    )
    out["expressions"]["train"] = _dump(
        os.path.join(root, "train", "meta_expressions.json"), {"videos": {"0ab4afe7fb46": t1[0], "1cde93a0b1f2": t2[0]}}
    )
    out["mask_dict"] = _dump(os.path.join(root, "train", "mask_dict.json"), {**t2[1], **t1[1]})
    out["expressions"]["valid_u"] = _dump(
        os.path.join(root, "valid_u", "meta_expressions.json"), {"videos": {"77aa00bb11cc": u1[0]}}
    )
    _dump(os.path.join(root, "valid_u", "mask_dict.json"), u1[1])
    # valid: no mask_dict, expressions only
    names = ["00001", "00000"]
    frames = _frames(os.path.join(root, "valid", "JPEGImages"), "ff00ee11dd22", names, 12, 18, seed=7)
    exps = {"0": {"exp": "moving left"}, "1": {"exp": "the slowest one"}}
    out["expressions"]["valid"] = _dump(
        os.path.join(root, "valid", "meta_expressions.json"),
        {"videos": {"ff00ee11dd22": {"vid_id": 1, "frames": names, "expressions": exps}}},
    )
    valid = video_record("ff00ee11dd22", frames, 12, 18, [], [text("moving left", []), text("the slowest one", [])])
    out["expected"] = {"train": [t1[2], t2[2]], "valid_u": [u1[2]], "valid": [valid]}
    return out


# Ref-YouTube-VOS train: mask_dict.pkl keys, worked out by hand from upstream's rule (videos in JSON
# order, expression ids sorted as strings, one running counter). The JSON lists "b4cd3f1a2e" first
# although it sorts after "0a1b2c3d4e", and writes its 12 expression ids in numeric order.
YTVOS_KEYS = {
    ("b4cd3f1a2e", "0"): "0",
    ("b4cd3f1a2e", "1"): "1",
    ("b4cd3f1a2e", "10"): "2",
    ("b4cd3f1a2e", "11"): "3",
    ("b4cd3f1a2e", "2"): "4",
    ("b4cd3f1a2e", "3"): "5",
    ("b4cd3f1a2e", "4"): "6",
    ("b4cd3f1a2e", "5"): "7",
    ("b4cd3f1a2e", "6"): "8",
    ("b4cd3f1a2e", "7"): "9",
    ("b4cd3f1a2e", "8"): "10",
    ("b4cd3f1a2e", "9"): "11",
    ("0a1b2c3d4e", "0"): "12",
    ("0a1b2c3d4e", "1"): "13",
}


def key_mask(key: str, frame: int, h: int, w: int) -> np.ndarray | None:
    """The mask stored under pkl ``key`` in ``frame``: a bar as wide as key + 1; null in frame 1 of odd keys."""
    if int(key) % 2 and frame == 1:
        return None
    m = np.zeros((h, w), np.uint8)
    m[frame : frame + 3, : int(key) + 1] = 1
    return m


def bytes_rle(m: np.ndarray) -> dict:
    """``pycocotools.mask.encode`` as VISA's builder leaves it: ``counts`` bytes."""
    return mask_utils.encode(np.asfortranarray(m.astype(np.uint8)))


def _ref_ytvos(root):
    h, w = 20, 28
    videos = {"b4cd3f1a2e": ["00010", "00000", "00005"], "0a1b2c3d4e": ["00005", "00000", "00010"]}
    meta, pkl, expected = {}, {}, []
    for seed, (vid, names) in enumerate(videos.items()):
        frames = _frames(os.path.join(root, "train", "JPEGImages"), vid, names, h, w, seed=10 + seed)
        exp_ids = sorted({e for v, e in YTVOS_KEYS if v == vid}, key=int)  # numeric order in the file
        meta[vid] = {
            "expressions": {e: {"exp": f"{vid} expression {e}", "obj_id": str(1 + int(e) % 3)} for e in exp_ids},
            "frames": names,
        }
        regions, texts = [], []
        for e in sorted(exp_ids):  # string order: the order of the records' texts
            key = YTVOS_KEYS[(vid, e)]
            per_frame = [key_mask(key, f, h, w) for f in range(len(names))]
            pkl[key] = [None if m is None else bytes_rle(m) for m in per_frame]
            texts.append(text(f"{vid} expression {e}", [len(regions)]))
            regions.append(video_region(key, per_frame))
        expected.append(video_record(vid, frames, h, w, regions, texts))
    exp_train = _dump(os.path.join(root, "meta_expressions", "train", "meta_expressions.json"), {"videos": meta})
    pkl_path = os.path.join(root, "mask_dict.pkl")
    with open(pkl_path, "wb") as f:
        pickle.dump(dict(sorted(pkl.items(), key=lambda kv: int(kv[0]))), f, protocol=4)
    # valid: no obj_id, no masks; frames start late and have a gap (as the real file has)
    names = ["00015", "00020", "00030"]
    frames = _frames(os.path.join(root, "valid", "JPEGImages"), "003234408d", names, 12, 16, seed=20)
    exps = {str(i): {"exp": f"valid expression {i}"} for i in range(11)}
    exp_valid = _dump(
        os.path.join(root, "meta_expressions", "valid", "meta_expressions.json"),
        {"videos": {"003234408d": {"expressions": exps, "frames": names}}},
    )
    valid = video_record("003234408d", frames, 12, 16, [], [text(exps[e]["exp"], []) for e in sorted(exps)])
    return {
        "expected": {"train": expected, "valid": [valid]},
        "expressions": {"train": exp_train, "valid": exp_valid},
        "mask_dict": pkl_path,
        "pkl": pkl,
    }
