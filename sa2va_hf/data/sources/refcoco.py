"""RefCOCO / RefCOCO+ / RefCOCOg (lichengunc/refer format) -> canonical records.

Files (under ``data_dir/ref_seg/<folder>/``): ``instances.json`` (COCO dict: images,
annotations with polygon segmentations, categories) and ``refs(unc).p`` / ``refs(umd).p``
(a pickle, read with the restricted unpickler). Images: ``coco2014/train2014/<file_name>``.

One record per image and native split: every annotation referred to by a ref of that split
is a region (``id`` = COCO ``ann_id``, ``label`` = category name, ``bbox`` = COCO box), in the
order the refs first mention it; every sentence of those refs is a text (its ``raw`` form,
untouched) whose ``region_ids`` point at its region. Upstream Sa2VA keeps only the last ref of
an annotation that several refs share and lower-cases / strips the sentence at training
time; both are left to the transform, nothing is dropped here.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator

from ... import masks
from ...errors import AnnotationError, where
from ..catalog import SourceSpec
from ..safety import load_pickle, safe_join
from ..schema import make_record, make_region, make_text, validate_record
from ._fields import as_int, bbox_or_none, get
from ._images import check_image
from ._json import chunks, load_json, require_file

logger = logging.getLogger(__name__)

VERSION = "1.2.0"  # bump whenever the records change (1.1: video, frame_indices columns; 1.2: EXIF orientation cleared)
IMAGE_FOLDER = "coco2014/train2014"


def paths(data_dir: str, spec: SourceSpec) -> dict:
    root = os.path.join(os.fspath(data_dir), "ref_seg", spec.params["folder"])
    return {
        "root": root,
        "instances": os.path.join(root, "instances.json"),
        "refs": os.path.join(root, spec.params["refs"]),
    }


def input_files(spec: SourceSpec, data_dir: str) -> list[str]:
    p = paths(data_dir, spec)
    return [p["instances"], p["refs"]]


def _load_refs(refs_path: str) -> list:
    refs = load_pickle(require_file(refs_path, "REFER pickle"))
    if not isinstance(refs, list):
        raise AnnotationError(f"a REFER pickle must hold a list of refs, got {type(refs).__name__}{where(refs_path)}")
    return refs


def _ref_fields(ref: object, refs_path: str, k: int) -> tuple[int, int, int, str, list]:
    rec = f"ref #{k}"
    ref_id = get(ref, "ref_id", int, file=refs_path, record=rec)
    rec = f"ref_id {ref_id}"
    ann_id = get(ref, "ann_id", int, file=refs_path, record=rec)
    image_id = get(ref, "image_id", int, file=refs_path, record=rec)
    split = get(ref, "split", str, file=refs_path, record=rec)
    sentences = get(ref, "sentences", list, file=refs_path, record=rec)
    raws = [get(s, "raw", str, file=refs_path, record=rec) for s in sentences]
    return ref_id, ann_id, image_id, split, raws


def split_image_ids(spec: SourceSpec, data_dir: str) -> dict[str, list[int]]:
    """Native split -> image ids in first-mention order. Unknown split names are an error."""
    p = paths(data_dir, spec)
    expected = spec.splits
    out: dict[str, list[int]] = {s: [] for s in expected}
    seen: dict[str, set] = {s: set() for s in expected}
    for k, ref in enumerate(_load_refs(p["refs"])):
        ref_id, _, image_id, split, _ = _ref_fields(ref, p["refs"], k)
        if split not in out:
            raise AnnotationError(
                f"ref split {split!r} is not one of {spec.name}'s native splits {list(expected)}{where(p['refs'], f'ref_id {ref_id}')}"
            )
        if image_id not in seen[split]:
            seen[split].add(image_id)
            out[split].append(image_id)
    return out


def shards(spec: SourceSpec, data_dir: str, options) -> dict[str, list[list[int]]]:
    """Native split -> shards (contiguous lists of image ids).

    A native split that no ref belongs to is left out, with a warning: ``datasets`` cannot hold
    an empty split, and would fail on it when loading every split.
    """
    out = {}
    for split, ids in split_image_ids(spec, data_dir).items():
        if not ids:
            logger.warning(
                "%s: no ref of %r is in the native split %r; that split is left out",
                spec.name,
                paths(data_dir, spec)["refs"],
                split,
            )
            continue
        out[split] = chunks(ids)
    return out


def generate(
    spec: SourceSpec, data_dir: str, options, split: str, image_id_shards: list[list[int]]
) -> Iterator[tuple[str, dict]]:
    p = paths(data_dir, spec)
    wanted = {i for shard in image_id_shards for i in shard}
    if not wanted:
        return
    refs = _load_refs(p["refs"])
    instances = load_json(require_file(p["instances"], "COCO instances file"))
    inst = p["instances"]
    if not isinstance(instances, dict):
        raise AnnotationError(f"instances.json must be a COCO dict{where(inst)}")
    images = {}
    for img in get(instances, "images", list, file=inst, record=None):
        img_id = get(img, "id", int, file=inst, record="images[]")
        if img_id in images:
            raise AnnotationError(f"image id {img_id} appears twice in 'images'{where(inst, str(img_id))}")
        images[img_id] = img if img_id in wanted else None
    categories = _categories(instances, inst)

    # per image: ann ids (first mention order) and (sentence, ann_id) pairs, refs of this split only
    per_image: dict[int, tuple[list[int], list[tuple[str, int]]]] = {}
    needed_anns: set[int] = set()
    for k, ref in enumerate(refs):
        ref_id, ann_id, image_id, ref_split, raws = _ref_fields(ref, p["refs"], k)
        if ref_split != split or image_id not in wanted:
            continue
        ann_ids, sents = per_image.setdefault(image_id, ([], []))
        if ann_id not in ann_ids:
            ann_ids.append(ann_id)
        needed_anns.add(ann_id)
        sents.extend((raw, ann_id) for raw in raws)
    del refs
    anns = {}
    for ann in get(instances, "annotations", list, file=inst, record=None):
        ann_id = get(ann, "id", int, file=inst, record="annotations[]")
        if ann_id in anns:
            raise AnnotationError(f"annotation id {ann_id} appears twice in 'annotations'{where(inst)}")
        anns[ann_id] = ann if ann_id in needed_anns else None
    del instances

    for shard in image_id_shards:
        for image_id in shard:
            yield str(image_id), _record(spec.name, p, image_id, per_image[image_id], images, anns, categories)


def _categories(instances: dict, inst: str) -> dict[int, str]:
    """Category id -> name; ids must be unique and names strings (a label is never silently wrong)."""
    out: dict[int, str] = {}
    for k, cat in enumerate(get(instances, "categories", list, file=inst, record=None, optional=True) or []):
        cat_id = get(cat, "id", int, file=inst, record=f"categories[{k}]")
        if cat_id in out:
            raise AnnotationError(f"category id {cat_id} appears twice in 'categories'{where(inst)}")
        out[cat_id] = get(cat, "name", str, file=inst, record=f"category {cat_id}")
    return out


def _record(source, p, image_id, refs_of_image, images, anns, categories) -> dict:
    inst = p["instances"]
    rec_id = str(image_id)
    if images.get(image_id) is None:
        raise AnnotationError(
            f"image_id {image_id} referred to by {p['refs']!r} is not in instances.json{where(inst, rec_id)}"
        )
    img = images[image_id]
    file_name = get(img, "file_name", str, file=inst, record=rec_id)
    h = as_int(get(img, "height", (int, float, str), file=inst, record=rec_id), "height", file=inst, record=rec_id)
    w = as_int(get(img, "width", (int, float, str), file=inst, record=rec_id), "width", file=inst, record=rec_id)
    path = safe_join(p["root"], IMAGE_FOLDER, file_name, file=inst, record=rec_id)
    check_image(path, h, w, file=inst, record=rec_id)
    ann_ids, sents = refs_of_image
    regions = []
    index = {}
    for ann_id in ann_ids:
        if anns.get(ann_id) is None:
            raise AnnotationError(
                f"ann_id {ann_id} referred to by {p['refs']!r} is not in instances.json{where(inst, rec_id)}"
            )
        ann = anns[ann_id]
        ctx = f"image {image_id}, ann {ann_id}"
        if as_int(ann.get("image_id"), "image_id", file=inst, record=ctx) != image_id:
            raise AnnotationError(
                f"ann {ann_id} belongs to image {ann.get('image_id')}, its ref says {image_id}{where(inst, rec_id)}"
            )
        seg = get(ann, "segmentation", (list, dict), file=inst, record=ctx)
        rle = masks.to_rle(seg, h, w, file=inst, record=ctx)
        category_id = get(ann, "category_id", int, file=inst, record=ctx, optional=True)
        if category_id is not None and category_id not in categories:
            raise AnnotationError(f"category_id {category_id} is not in 'categories'{where(inst, ctx)}")
        label = categories.get(category_id)
        index[ann_id] = len(regions)
        regions.append(make_region(ann_id, [rle], bbox_or_none(ann.get("bbox"), file=inst, record=ctx), label))
    texts = [make_text(raw, [index[ann_id]]) for raw, ann_id in sents]
    record = make_record(id=rec_id, source=source, frames=[path], height=h, width=w, regions=regions, texts=texts)
    return validate_record(record, file=inst)


_REFER = {
    "homepage": "https://github.com/lichengunc/refer",
    "license": "see homepage; COCO images: COCO terms of use",
}

SOURCES = (
    SourceSpec(
        "refcoco",
        "refcoco",
        splits=("train", "val", "testA", "testB"),
        description="RefCOCO (UNC splits) referring expressions on COCO train2014.",
        params={"folder": "refcoco", "refs": "refs(unc).p"},
        **_REFER,
        citation="Yu et al., Modeling Context in Referring Expressions, ECCV 2016, arXiv:1608.00272",
    ),
    SourceSpec(
        "refcoco_plus",
        "refcoco",
        splits=("train", "val", "testA", "testB"),
        description="RefCOCO+ (UNC splits) referring expressions, no location words.",
        params={"folder": "refcoco+", "refs": "refs(unc).p"},
        **_REFER,
        citation="Yu et al., Modeling Context in Referring Expressions, ECCV 2016, arXiv:1608.00272",
    ),
    SourceSpec(
        "refcocog",
        "refcoco",
        splits=("train", "val", "test"),
        description="RefCOCOg (UMD splits) longer referring expressions.",
        params={"folder": "refcocog", "refs": "refs(umd).p"},
        **_REFER,
        citation="Nagaraja et al., Modeling Context Between Objects for Referring Expression Understanding, "
        "ECCV 2016, arXiv:1608.00525",
    ),
)
