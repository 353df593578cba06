"""Fake nvidia/describe-anything-dataset: WebDataset tars of ``<key>.jpg`` + ``<key>.pickle``."""

from __future__ import annotations

import io
import os
import pickle
import tarfile

from ._common import blob, compressed_rle, image_bytes, record, region, text


def _add(tf: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tf.addfile(info, io.BytesIO(data))


def write(
    data_dir: str,
    source: str = "describe_anything",
    subsets=("COCOStuff", "LVIS"),
    images_per_tar: int = 2,
    tars: int = 2,
) -> dict:
    root = os.path.join(data_dir, "describe-anything-dataset")
    expected, tar_paths = [], []
    n = 0
    for subset in subsets:
        folder = os.path.join(root, subset, "images")
        os.makedirs(folder, exist_ok=True)
        for t in range(tars):
            tar_path = os.path.join(folder, f"{t:08d}.tar")
            tar_paths.append(tar_path)
            with tarfile.open(tar_path, "w") as tf:
                for _ in range(images_per_tar):
                    n += 1
                    key = f"{n:012d}"
                    h, w = 30 + n, 40
                    jpg = image_bytes(h, w, seed=n)
                    entries = []
                    for r in range(1 + n % 3):
                        m = blob(h, w, seed=100 * n + r)
                        ann_id = 1000 * n + r
                        caption = f"A detailed description of region {r} of image {key} in {subset}."
                        entries.append(
                            {
                                "img_id": key,
                                "ann_id": ann_id,
                                "image": f"{key}.jpg",
                                "mask_rle": compressed_rle(m),
                                "caption": caption,
                            }
                        )
                        expected.append(
                            record(
                                f"{subset}/{key}/{ann_id}",
                                jpg,
                                h,
                                w,
                                [region(ann_id, m)],
                                [text(caption, [0])],
                                caption,
                            )
                        )
                    _add(tf, f"{key}.jpg", jpg)
                    _add(tf, f"{key}.pickle", pickle.dumps(entries, protocol=4))
    return {"expected": {"train": expected}, "root": root, "tars": tar_paths}
