"""Fake RefCOCO / RefCOCO+ / RefCOCOg: COCO ``instances.json`` + a REFER ``refs(*).p`` pickle."""

from __future__ import annotations

import io
import json
import os
import pickle
import pickletools
import struct

from ._common import polygon_mask, record, rect_poly, region, text, tri_poly, write_image

FOLDERS = {
    "refcoco": ("refcoco", "refs(unc).p"),
    "refcoco_plus": ("refcoco+", "refs(unc).p"),
    "refcocog": ("refcocog", "refs(umd).p"),
}
SPLITS = {
    "refcoco": ["train", "val", "testA", "testB"],
    "refcoco_plus": ["train", "val", "testA", "testB"],
    "refcocog": ["train", "val", "test"],
}
CATEGORIES = [
    {"id": 1, "name": "person", "supercategory": "person"},
    {"id": 18, "name": "dog", "supercategory": "animal"},
]


class _Py2Pickler(pickle._Pickler):
    """Protocol 2 as Python 2's cPickle wrote REFER's pickles: ``str`` as (SHORT_)BINSTRING, not BINUNICODE."""

    dispatch = dict(pickle._Pickler.dispatch)

    def save_py2_str(self, obj: str) -> None:
        raw = obj.encode("ascii")  # a Python 2 ``str`` is bytes; REFER's text is ASCII
        if len(raw) < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([len(raw)]) + raw)
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", len(raw)) + raw)
        self.memoize(obj)

    dispatch[str] = save_py2_str


def py2_pickle(obj) -> bytes:
    buf = io.BytesIO()
    _Py2Pickler(buf, protocol=2).dump(obj)
    data = buf.getvalue()
    ops = {op.name for op, _, _ in pickletools.genops(data)}
    assert "SHORT_BINSTRING" in ops and not ops & {"BINUNICODE", "SHORT_BINUNICODE"}, ops
    return data


def write(data_dir: str, source: str = "refcoco") -> dict:
    folder, refs_name = FOLDERS[source]
    root = os.path.join(data_dir, "ref_seg", folder)
    os.makedirs(root, exist_ok=True)
    splits = SPLITS[source]
    # 5 images; image 4 has refs in two splits; sizes differ per image
    sizes = {101: (40, 56), 102: (48, 32), 103: (36, 36), 104: (44, 60), 105: (30, 50)}
    images, annotations, paths = [], [], {}
    ann_id = 9000
    anns_of = {}
    for _k, (img_id, (h, w)) in enumerate(sizes.items()):
        fn = f"COCO_train2014_{img_id:012d}.jpg"
        paths[img_id] = write_image(os.path.join(root, "coco2014", "train2014", fn), h, w, seed=img_id)
        images.append({"id": img_id, "file_name": fn, "height": h, "width": w, "license": 1})
        anns_of[img_id] = []
        for j in range(3):  # 3 annotations per image; the third is never referred to
            ann_id += 1
            if j == 0:  # two parts that overlap: must merge to a binary union
                seg = [rect_poly(2, 2, 20, 15), rect_poly(10, 8, 25, 25)]
            elif j == 1:
                seg = [tri_poly(w - 20, h - 18, 15)]
            else:
                seg = [rect_poly(0, 0, 5, 5)]
            annotations.append(
                {
                    "id": ann_id,
                    "image_id": img_id,
                    "category_id": [1, 18][j % 2],
                    "bbox": [2.0, 2.0, 23.0, 23.0 + j],
                    "area": 100.0,
                    "iscrowd": 0,
                    "segmentation": seg,
                }
            )
            anns_of[img_id].append(annotations[-1])
    refs = []
    sent_id = 0

    def add_ref(img_id, ann, split, raws):
        nonlocal sent_id
        sents = []
        for raw in raws:
            sents.append(
                {"raw": raw, "sent": raw.lower().strip(".").strip(), "sent_id": sent_id, "tokens": raw.lower().split()}
            )
            sent_id += 1
        refs.append(
            {
                "ref_id": len(refs),
                "ann_id": ann["id"],
                "image_id": img_id,
                "category_id": ann["category_id"],
                "split": split,
                "file_name": f"COCO_train2014_{img_id:012d}_{ann['id']}.jpg",
                "sent_ids": [s["sent_id"] for s in sents],
                "sentences": sents,
            }
        )

    plan = [(101, "train"), (102, "train"), (103, splits[1]), (104, splits[2]), (105, splits[-1])]
    for img_id, split in plan:
        a0, a1, _ = anns_of[img_id]
        add_ref(img_id, a1, split, [f"The Dog on the right #{img_id}.", f"brown dog {img_id}"])
        add_ref(img_id, a0, split, [f"man in red  {img_id} "])
    # image 101: a second ref on the same annotation a1 (both refs' sentences are kept)
    add_ref(101, anns_of[101][1], "train", ["the same dog again"])
    # image 104 also has a ref in train
    add_ref(104, anns_of[104][0], "train", ["person at left in the train split"])
    with open(os.path.join(root, refs_name), "wb") as f:
        f.write(py2_pickle(refs))
    with open(os.path.join(root, "instances.json"), "w") as f:
        json.dump({"info": {}, "images": images, "annotations": annotations, "categories": CATEGORIES}, f)

    # expected records per split: refs of that split only, regions in first-mention order
    cats = {c["id"]: c["name"] for c in CATEGORIES}
    ann_by_id = {a["id"]: a for a in annotations}
    img_by_id = {i["id"]: i for i in images}
    expected = {s: [] for s in splits}
    for split in splits:
        order, per = [], {}
        for ref in refs:
            if ref["split"] != split:
                continue
            if ref["image_id"] not in per:
                order.append(ref["image_id"])
                per[ref["image_id"]] = ([], [])
            ann_ids, sents = per[ref["image_id"]]
            if ref["ann_id"] not in ann_ids:
                ann_ids.append(ref["ann_id"])
            sents += [(s["raw"], ann_ids.index(ref["ann_id"])) for s in ref["sentences"]]
        for img_id in order:
            h, w = img_by_id[img_id]["height"], img_by_id[img_id]["width"]
            ann_ids, sents = per[img_id]
            regs = [
                region(
                    a,
                    polygon_mask(ann_by_id[a]["segmentation"], h, w),
                    ann_by_id[a]["bbox"],
                    cats[ann_by_id[a]["category_id"]],
                )
                for a in ann_ids
            ]
            expected[split].append(record(img_id, paths[img_id], h, w, regs, [text(t, [r]) for t, r in sents]))
    return {
        "expected": expected,
        "root": root,
        "refs": os.path.join(root, refs_name),
        "instances": os.path.join(root, "instances.json"),
        "image_paths": paths,
    }
