"""Native Sa2VA v1 data for ``bench/upstream.py``, written from real photos, frames and an mp4 the user
points at (nothing of them is committed): each source in its own native layout (``/work/shared/FORMATS.md``),
the one folder both sides read -- the product through ``load_source``, upstream through its v1 classes.

* images: COCO-sized (640x480) crops of the photos, a different crop per record;
* RefCOCO (``ref_seg/refcoco``): ``instances.json`` + ``refs(unc).p``, 3 referred objects per image, polygons;
* Osprey (``osprey-724k``): ``osprey_conversation.json``, 3 polygon regions, two rounds of conversation;
* GranD-f GCG (``glamm_data``): ``GranDf_HA_GCG_train.json``, 3 grounded phrases, compressed RLE;
* ReVOS (``video_datas/revos``): folders of the frames as JPEGs (``--frame-size``, a shifted copy per
  video), ``meta_expressions_train_.json`` (4 expressions over 3 objects) + ``mask_dict.json``;
* Ref-SAV (``video_datas/sam_v_full`` + ``sam_v_final_v3.json``): the mp4 (hard-linked per video) and its
  SA-V ``_manual.json`` masklet, every 4th frame annotated, 3 objects;
* Chat-UniVi (``video_datas/chat_univi``): ``video_chat.json`` + the mp4 per entry under ``Activity_Videos``.

Masks are star-shaped polygons (24 vertices, a tenth to a third of the image), moving over a video;
RLEs are pycocotools' encoding of them.
"""

from __future__ import annotations

import json
import os
import pickle
import shutil

import numpy as np
from PIL import Image
from pycocotools import mask as mask_utils

IMAGE_SIZE = (640, 480)  # COCO's most common size (w, h)


def polygon(rng: np.random.Generator, w: int, h: int, centre=None, radius=None, k: int = 24) -> list[float]:
    """A star-shaped polygon of ``k`` vertices (flat x, y list) inside the image."""
    cx, cy = centre if centre is not None else (rng.uniform(0.25, 0.75) * w, rng.uniform(0.25, 0.75) * h)
    r = radius if radius is not None else rng.uniform(0.18, 0.33) * min(w, h)
    angles = np.sort(rng.uniform(0, 2 * np.pi, k))
    radii = r * rng.uniform(0.6, 1.0, k)
    xs = np.clip(cx + radii * np.cos(angles), 0, w - 1)
    ys = np.clip(cy + radii * np.sin(angles), 0, h - 1)
    return [round(float(v), 2) for xy in zip(xs, ys) for v in xy]


def rle(poly: list[float], h: int, w: int) -> dict:
    """The compressed RLE of a polygon, ``counts`` as a JSON string."""
    r = mask_utils.merge(mask_utils.frPyObjects([poly], h, w))
    return {"size": [h, w], "counts": r["counts"].decode("ascii")}


def empty_rle(h: int, w: int) -> dict:
    r = mask_utils.encode(np.asfortranarray(np.zeros((h, w), np.uint8)))
    return {"size": [h, w], "counts": r["counts"].decode("ascii")}


def crops(photos: list[str], n: int, seed: int = 0):
    """``n`` 640x480 RGB images: 4:3 crops of the photos at varying place and scale."""
    rng = np.random.default_rng(seed)
    opened = [Image.open(p).convert("RGB") for p in photos]
    w_out, h_out = IMAGE_SIZE
    for i in range(n):
        im = opened[i % len(opened)]
        cw = min(im.width, im.height * 4 // 3)
        scale = rng.uniform(0.55, 1.0)
        cw = max(w_out // 2, int(cw * scale))
        ch = cw * 3 // 4
        x0 = int(rng.integers(0, im.width - cw + 1))
        y0 = int(rng.integers(0, im.height - ch + 1))
        yield im.crop((x0, y0, x0 + cw, y0 + ch)).resize(IMAGE_SIZE, Image.BICUBIC)


def save_jpeg(image: Image.Image, path: str) -> str:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    image.save(path, quality=90)
    return path


def write_refcoco(root: str, photos: list[str], n: int) -> None:
    folder = os.path.join(root, "ref_seg", "refcoco")
    w, h = IMAGE_SIZE
    rng = np.random.default_rng(1)
    images, annotations, refs = [], [], []
    for i, image in enumerate(crops(photos, n, seed=1)):
        img_id = 1000 + i
        name = f"COCO_train2014_{img_id:012d}.jpg"
        save_jpeg(image, os.path.join(folder, "coco2014", "train2014", name))
        images.append({"id": img_id, "file_name": name, "height": h, "width": w})
        for j in range(3):
            ann_id = 10 * img_id + j
            annotations.append({"id": ann_id, "image_id": img_id, "category_id": 1 + j, "iscrowd": 0, "area": 1.0,
                                "bbox": [0.0, 0.0, 1.0, 1.0], "segmentation": [polygon(rng, w, h)]})  # fmt: skip
            sentences = [{"raw": f"The thing number {j} on the left.", "sent": f"the thing number {j} on the left",
                          "sent_id": 2 * ann_id, "tokens": []},
                         {"raw": f"object {j} next to the wall", "sent": f"object {j} next to the wall",
                          "sent_id": 2 * ann_id + 1, "tokens": []}]  # fmt: skip
            refs.append({"ref_id": len(refs), "ann_id": ann_id, "image_id": img_id, "category_id": 1 + j,
                         "split": "train", "file_name": name, "sent_ids": [s["sent_id"] for s in sentences],
                         "sentences": sentences})  # fmt: skip
    categories = [{"id": k, "name": f"thing{k}", "supercategory": "thing"} for k in (1, 2, 3)]
    with open(os.path.join(folder, "instances.json"), "w") as f:
        json.dump({"images": images, "annotations": annotations, "categories": categories}, f)
    with open(os.path.join(folder, "refs(unc).p"), "wb") as f:
        pickle.dump(refs, f, protocol=2)


def write_osprey(root: str, photos: list[str], n: int) -> None:
    folder = os.path.join(root, "osprey-724k")
    w, h = IMAGE_SIZE
    rng = np.random.default_rng(2)
    entries = []
    for i, image in enumerate(crops(photos, n, seed=2)):
        name = f"COCO_train2014_{2000 + i:012d}.jpg"
        save_jpeg(image, os.path.join(folder, "coco", "train2014", name))
        anns = [{"bbox": [0.0, 0.0, 1.0, 1.0], "segmentation": [polygon(rng, w, h)]} for _ in range(3)]
        conv = [{"from": "human", "value": "<image>\nWhat is <region1> doing next to <region2>?"},
                {"from": "gpt", "value": "It stands next to <region2>, looking at the camera."},
                {"from": "human", "value": "And what about <region3>?"},
                {"from": "gpt", "value": "It waits on the left side of the picture."}]  # fmt: skip
        entries.append({"file_name": name, "height": h, "width": w, "annotation": anns, "conversations": conv})
    os.makedirs(os.path.join(folder, "Osprey-724K"), exist_ok=True)
    with open(os.path.join(folder, "Osprey-724K", "osprey_conversation.json"), "w") as f:
        json.dump(entries, f)


def write_gcg_grandf(root: str, photos: list[str], n: int) -> None:
    folder = os.path.join(root, "glamm_data")
    w, h = IMAGE_SIZE
    rng = np.random.default_rng(3)
    caption = "A man in a blue jacket walks a dog along the beach near a small wooden boat."
    phrases = ["A man in a blue jacket", "a dog", "a small wooden boat"]
    entries = []
    for i, image in enumerate(crops(photos, n, seed=3)):
        name = f"sa_{30000 + i}.jpg"
        save_jpeg(image, os.path.join(folder, "images", "grandf", "train", name))
        groundings = {}
        for k, phrase in enumerate(phrases):
            start = caption.index(phrase)
            masks = [rle(polygon(rng, w, h), h, w) for _ in range(1 + (k == 0))]  # the first phrase: two masks
            groundings[phrase] = {"token_positives": [start, start + len(phrase)], "rle_masks": masks}
        entries.append({"file_name": name, "height": h, "width": w, "image_id": name[:-4], "caption": caption,
                        "groundings": groundings})  # fmt: skip
    os.makedirs(os.path.join(folder, "annotations"), exist_ok=True)
    with open(os.path.join(folder, "annotations", "GranDf_HA_GCG_train.json"), "w") as f:
        json.dump(entries, f)


def video_frames(frames_dir: str, size: tuple[int, int]) -> list[Image.Image]:
    names = sorted(f for f in os.listdir(frames_dir) if f.lower().endswith((".jpg", ".jpeg", ".png")))
    if not names:
        raise SystemExit(f"no JPEG/PNG frames in {frames_dir}")
    return [Image.open(os.path.join(frames_dir, f)).convert("RGB").resize(size, Image.BICUBIC) for f in names]


def moving_polygons(rng: np.random.Generator, w: int, h: int, n_frames: int) -> list[list[float]]:
    """One object's outline per frame: a polygon drifting across the frame."""
    start = np.array([rng.uniform(0.3, 0.7) * w, rng.uniform(0.3, 0.7) * h])
    step = rng.uniform(-0.01, 0.01, 2) * np.array([w, h])
    radius = rng.uniform(0.12, 0.25) * min(w, h)
    return [polygon(rng, w, h, centre=start + f * step, radius=radius) for f in range(n_frames)]


def write_revos(root: str, frames_dir: str, n: int, size: tuple[int, int]) -> None:
    folder = os.path.join(root, "video_datas", "revos")
    base = video_frames(frames_dir, size)
    w, h = size
    rng = np.random.default_rng(4)
    videos, mask_dict = {}, {}
    names = [f"{k:05d}" for k in range(len(base))]
    for i in range(n):
        key = f"UVO/all/video{i:03d}"
        shift = 24 * i
        for name, frame in zip(names, base):
            shifted = Image.fromarray(np.roll(np.asarray(frame), shift, axis=1))
            save_jpeg(shifted, os.path.join(folder, key, name + ".jpg"))
        anno = [100 * i + a for a in range(3)]
        for a in anno:
            outlines = moving_polygons(rng, w, h, len(base))
            mask_dict[str(a)] = [None if (f + a) % 7 == 0 else rle(p, h, w) for f, p in enumerate(outlines)]
        exps = {"0": ("the man in red.", [anno[0]]), "1": ("Which two things move?", [anno[0], anno[1]]),
                "2": ("a dog", [anno[2]]), "3": ("the ball on the left", [anno[1]])}  # fmt: skip
        videos[key] = {"vid_id": i, "height": h, "width": w, "frames": names,
                       "expressions": {e: {"exp": t, "obj_id": [0] * len(ids), "anno_id": ids, "type_id": 0}
                                       for e, (t, ids) in exps.items()}}  # fmt: skip
    with open(os.path.join(folder, "meta_expressions_train_.json"), "w") as f:
        json.dump({"videos": videos}, f)
    with open(os.path.join(folder, "mask_dict.json"), "w") as f:
        json.dump(mask_dict, f)


def mp4_info(path: str) -> tuple[int, int, int]:
    """(frames, width, height) of an mp4, counted by decoding (PyAV)."""
    import av

    with av.open(path) as container:
        stream = container.streams.video[0]
        n = sum(1 for _ in container.decode(stream))
        return n, stream.width, stream.height


def copies(video: str, paths: list[str]) -> None:
    """The mp4 at every path: one copy inside the data folder, hard links to it (copies where links fail)."""
    for k, path in enumerate(paths):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        if os.path.exists(path):
            os.remove(path)
        if k == 0:
            shutil.copyfile(video, path)
            continue
        try:
            os.link(paths[0], path)
        except OSError:
            shutil.copyfile(video, path)


def write_ref_sav(root: str, video: str, n: int) -> None:
    folder = os.path.join(root, "video_datas")
    n_frames, w, h = mp4_info(video)
    annotated = (n_frames + 3) // 4  # SA-V annotates every 4th frame
    rng = np.random.default_rng(5)
    expressions = {}
    rels = [f"sav_000/sav_train/sav_000/sav_{i:06d}" for i in range(n)]
    copies(video, [os.path.join(folder, "sam_v_full", rel + ".mp4") for rel in rels])
    for i, rel in enumerate(rels):
        vid = f"sav_{i:06d}"
        outlines = [moving_polygons(rng, w, h, annotated) for _ in range(3)]
        masklet = [[rle(outlines[o][f], h, w) if (f + o) % 9 else empty_rle(h, w) for o in range(3)]
                   for f in range(annotated)]  # fmt: skip
        manual = {"video_id": vid, "video_frame_count": float(n_frames), "video_height": float(h),
                  "video_width": float(w), "video_split": "train", "masklet": masklet, "masklet_id": [0, 1, 2],
                  "masklet_num": 3, "masklet_type": ["manual"] * 3}  # fmt: skip
        with open(os.path.join(folder, "sam_v_full", rel + "_manual.json"), "w") as f:
            json.dump(manual, f)
        objects = {
            str(o): {"video_id": vid, "obj_id": o, "video_path": rel + ".mp4", "anno_path": rel + "_manual.json",
                     "formated": f"A person number {o} who walks slowly from the left of the room to the table.",
                     "final_caption": f"A person number {o} who walks slowly to the table."}
            for o in range(3)
        }  # fmt: skip
        expressions[vid] = {"video_id": vid, "video_path": rel + ".mp4", "anno_path": rel + "_manual.json",
                            "objects": objects}  # fmt: skip
    with open(os.path.join(folder, "sam_v_final_v3.json"), "w") as f:
        json.dump(expressions, f)


def write_chat_univi(root: str, video: str, n: int) -> None:
    folder = os.path.join(root, "video_datas", "chat_univi")
    copies(video, [os.path.join(folder, "Activity_Videos", f"v_{i:04d}.mp4") for i in range(n)])
    entries = []
    for i in range(n):
        conv = [{"from": "human", "value": "<image>\nWhat happens in this video?"},
                {"from": "gpt", "value": "A person pours coffee into a cup, then stirs it slowly."}]  # fmt: skip
        entries.append({"id": f"v_{i:04d}", "video": f"v_{i:04d}.mp4", "conversations": conv})
    with open(os.path.join(folder, "video_chat.json"), "w") as f:
        json.dump(entries, f)


def write_tokenizer(root: str) -> str:
    """The tests' small byte-level BPE (phi3 flavour, as v1's InternVL2.5-4B), as ``tokenizer.json`` plus a
    config both transformers lines read: both sides load the same file."""
    from tests.tokenizer_utils import make_tokenizer

    folder = os.path.join(root, "tokenizer")
    os.makedirs(folder, exist_ok=True)
    tok = make_tokenizer("phi3")
    tok.backend_tokenizer.save(os.path.join(folder, "tokenizer.json"))
    config = {"tokenizer_class": "PreTrainedTokenizerFast", "bos_token": "<s>", "eos_token": "</s>",
              "unk_token": "<unk>", "clean_up_tokenization_spaces": False, "model_max_length": 1000000}  # fmt: skip
    with open(os.path.join(folder, "tokenizer_config.json"), "w") as f:
        json.dump(config, f)
    return folder


WRITERS = {
    "refcoco": lambda root, a: write_refcoco(root, a.images, a.records),
    "osprey": lambda root, a: write_osprey(root, a.images, a.records),
    "gcg_grandf": lambda root, a: write_gcg_grandf(root, a.images, a.records),
    "revos": lambda root, a: write_revos(root, a.frames, a.videos, a.frame_size),
    "ref_sav": lambda root, a: write_ref_sav(root, a.video, a.videos),
    "chat_univi": lambda root, a: write_chat_univi(root, a.video, a.videos),
}


def write(root: str, sources: list[str], args) -> None:
    """Write every source of ``sources`` (and the tokenizer) under ``root``."""
    os.makedirs(root, exist_ok=True)
    write_tokenizer(root)
    for source in sources:
        WRITERS[source](root, args)
