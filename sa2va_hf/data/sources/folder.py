"""A plain folder of your own images, masks and texts -> canonical records.

Layout (``data_dir`` is the dataset's own folder)::

    my_data/
    ├── images/              street.jpg, kitchen.png, ...
    ├── masks/
    │   ├── street/          one PNG per object, named by the object: car.png, person_1.png (nonzero = object)
    │   └── kitchen.png      or one instance PNG per image: pixel value k is object "k"
    │                        (0 background, 255 void -- VOC's "ignore" -- never an object; palette PNGs by index)
    └── texts.json           {"street.jpg": {"car": "the red car", "person_1": ["a man", "the man crossing"]},
                              "kitchen.png": {"1": "the kettle", "2": "the mug"}}
        or texts.csv         image,object,text   (a header, then one row per text)

One record per image (``id`` = its file name, images in sorted order). Each object is a region
(``id`` = the object name; per-object PNGs in sorted order, instance values in increasing
order) with one text per sentence given for it. Strict, with the file and object named: a mask
whose size differs from its image, an empty mask, an object without text, a text whose object
has no mask, a text for an image that is not there, an image without masks (an instance PNG of
only 0 and 255 included), both mask layouts for one image, two images with one name but their
extension, two masks of one object (``mug.png``, ``mug.PNG``), a mask that is not a PNG inside (a JPEG
renamed), a PNG or folder in ``masks/`` that matches no image (other files there are listed in the
log, not read), a file in ``images/`` that is not an image.
A per-object PNG's object is its nonzero colour: alpha is not read (LA, RGBA).

The ``name`` option sets the ``source`` column (as for ``finetune``). ``mask_frame`` says where the
masks of an image with an EXIF orientation were drawn (``_images.own_mask_frame``): ``"auto"`` (default)
tells it from their size where it can (stored size: as stored; only the displayed size: moved onto the
stored pixels), and is an error where it cannot (square images; orientations 2-4).
"""

from __future__ import annotations

import csv
import logging
import os
from collections.abc import Iterator

import numpy as np
from PIL import Image

from ... import masks
from ...errors import AnnotationError, ImageLoadError, ShapeMismatchError, where
from ...image_io import IMAGE_FILE_ERRORS, image_file_size
from ..catalog import SourceSpec
from ..orientation import to_stored_frame
from ..schema import make_record, make_region, make_text, validate_record
from ._images import check_image, own_mask_frame
from ._json import chunks, load_json
from .finetune import OwnDataOptions, source_name

logger = logging.getLogger(__name__)

VERSION = "1.1.0"  # bump whenever the records change (1.1: EXIF orientation cleared)
VOID = 255
TEXT_FILES = ("texts.json", "texts.csv")


def input_files(spec: SourceSpec, data_dir: str) -> list[str]:
    """The texts file and every mask and image (their size/mtime key the cache: they are the annotation)."""
    files = [os.path.join(data_dir, name) for name in TEXT_FILES]
    for sub in ("images", "masks"):
        for root, _, names in os.walk(os.path.join(data_dir, sub)):
            files.extend(os.path.join(root, n) for n in names)
    return files


def _images(data_dir: str) -> list[str]:
    folder = os.path.join(data_dir, "images")
    if not os.path.isdir(folder):
        raise AnnotationError(f"folder source: {folder!r} not found (data_dir is the dataset folder)")
    known = Image.registered_extensions()
    names = sorted(n for n in os.listdir(folder) if not n.startswith("."))
    for name in names:
        if os.path.splitext(name)[1].lower() not in known or not os.path.isfile(os.path.join(folder, name)):
            raise ImageLoadError(f"{os.path.join(folder, name)!r} in images/ is not an image file")
    return names


def _texts(data_dir: str) -> tuple[dict[str, dict[str, list[str]]], str]:
    """{image file name: {object: [texts]}} and the file they came from."""
    json_path, csv_path = (os.path.join(data_dir, name) for name in TEXT_FILES)
    if os.path.isfile(json_path) and os.path.isfile(csv_path):
        raise AnnotationError(f"both {json_path!r} and {csv_path!r} exist: keep one")
    out: dict[str, dict[str, list[str]]] = {}
    if os.path.isfile(json_path):
        data = load_json(json_path)
        if not isinstance(data, dict):
            raise AnnotationError(f"texts.json must map image file names to {{object: text}}{where(json_path)}")
        for image, objects in data.items():
            if not isinstance(objects, dict):
                raise AnnotationError(
                    f"texts of {image!r} must be {{object: text or [texts]}}{where(json_path, image)}"
                )
            for obj, value in objects.items():
                sentences = [value] if isinstance(value, str) else value
                if not isinstance(sentences, list) or not sentences or not all(isinstance(t, str) for t in sentences):
                    raise AnnotationError(
                        f"object {obj!r}: a text or a non-empty list of texts, got {value!r:.60}{where(json_path, image)}"
                    )
                out.setdefault(image, {})[str(obj)] = list(sentences)
        return out, json_path
    if os.path.isfile(csv_path):
        try:
            with open(csv_path, newline="", encoding="utf-8-sig") as f:  # Excel's "CSV UTF-8" opens with a BOM
                reader = csv.DictReader(f)
                if reader.fieldnames is None or not {"image", "object", "text"} <= set(reader.fieldnames):
                    raise AnnotationError(f"texts.csv needs the columns image,object,text{where(csv_path)}")
                for line, row in enumerate(reader, start=2):
                    if not row["image"] or not row["object"] or row["text"] is None:
                        raise AnnotationError(f"line {line} lacks image, object or text{where(csv_path)}")
                    out.setdefault(row["image"], {}).setdefault(row["object"], []).append(row["text"])
        except (UnicodeDecodeError, csv.Error) as e:
            raise AnnotationError(f"texts.csv cannot be read: {e}{where(csv_path)}") from None
        return out, csv_path
    raise AnnotationError(f"folder source: no texts.json or texts.csv in {data_dir!r}")


def shards(spec: SourceSpec, data_dir: str, options: OwnDataOptions) -> dict[str, list[list[str]]]:
    images = _images(data_dir)
    texts, text_file = _texts(data_dir)
    stray = sorted(set(texts) - set(images))
    if stray:
        raise AnnotationError(f"texts for {stray[:5]}, which are not in images/{where(text_file)}")
    if not images:
        raise AnnotationError(f"folder source: images/ of {data_dir!r} holds no image")
    _check_mask_names(data_dir, images)
    return {"train": chunks(images)}


def _check_mask_names(data_dir: str, images: list[str]) -> None:
    """Masks are found by the image's name without extension: two images may not share one, and every
    entry of ``masks/`` must belong to an image (a stray one is a typo, not data to leave out)."""
    by_stem: dict[str, str] = {}
    for image in images:
        stem = os.path.splitext(image)[0]
        if stem in by_stem:
            raise AnnotationError(
                f"images {by_stem[stem]!r} and {image!r} would share the masks of {stem!r}: rename one{where(data_dir)}"
            )
        by_stem[stem] = image
    folder = os.path.join(data_dir, "masks")
    entries = sorted(n for n in os.listdir(folder) if not n.startswith(".")) if os.path.isdir(folder) else []
    other = []  # files that are no PNG (README.txt, Thumbs.db): not masks, listed in the log
    for name in entries:
        path = os.path.join(folder, name)
        is_dir, is_png = os.path.isdir(path), name.lower().endswith(".png")
        if not (is_dir or is_png):
            other.append(name)
            continue
        stem = name if is_dir else name[:-4]
        if is_png and not name.endswith(".png"):  # read as <image stem>.png: another case would go unread
            raise AnnotationError(f"the instance PNG {path!r} must be named {stem + '.png'!r}{where(data_dir)}")
        if stem not in by_stem:
            what = "a folder" if is_dir else "a PNG"
            raise AnnotationError(f"{path!r} is {what} in masks/ that matches no image in images/{where(data_dir)}")
    if other:
        logger.warning("folder source: %d file(s) in %s are no PNG and not read: %s", len(other), folder, other[:10])


def generate(
    spec: SourceSpec, data_dir: str, options: OwnDataOptions, split: str, shard_list: list[list[str]]
) -> Iterator[tuple[str, dict]]:
    texts, text_file = _texts(data_dir)
    source = source_name(spec, options)
    for shard in shard_list:
        for image in shard:
            yield image, _record(data_dir, image, texts.get(image, {}), text_file, source, options.mask_frame)


def _object_masks(data_dir: str, image: str) -> list[tuple[str, np.ndarray, str]]:
    """(object name, binary mask at its file's size, mask file) of every object of ``image``."""
    stem = os.path.splitext(image)[0]
    folder = os.path.join(data_dir, "masks", stem)
    instance = os.path.join(data_dir, "masks", stem + ".png")
    if os.path.isdir(folder) and os.path.isfile(instance):
        raise AnnotationError(f"{image!r} has both {folder!r} and {instance!r}: use one mask layout")
    if os.path.isdir(folder):
        return object_folder_masks(folder, image)
    if os.path.isfile(instance):
        return instance_masks(instance, image, f"a 0/{VOID} mask of one object goes in {folder!r}/<object>.png")
    raise AnnotationError(f"{image!r} has no masks: expected {folder!r}/ or {instance!r}")


def object_folder_masks(folder: str, image: str) -> list[tuple[str, np.ndarray, str]]:
    """A folder of per-object PNGs (``masks/<image>/``): (object name = file stem, mask, file), in name order."""
    out = []
    names = sorted(n for n in os.listdir(folder) if n.lower().endswith(".png"))
    stems = [os.path.splitext(n)[0] for n in names]
    twice = sorted({s for s in stems if stems.count(s) > 1})
    if twice:  # mug.png and mug.PNG: two masks of one object name (one region id twice)
        files = [n for n in names if os.path.splitext(n)[0] == twice[0]]
        raise AnnotationError(f"{files} in {folder!r} are masks of one object, {twice[0]!r}: keep one{where(None, image)}")
    for name in names:
        path = os.path.join(folder, name)
        out.append((os.path.splitext(name)[0], object_mask(read_png(path, image)), path))
    if not out:
        raise AnnotationError(f"{folder!r} holds no PNG mask for {image!r}")
    return out


def object_mask(arr: np.ndarray) -> np.ndarray:
    """A per-object PNG's pixels -> its object: the nonzero colour (alpha is not colour: LA is (h, w, 2),
    RGBA (h, w, 4))."""
    return arr[..., : 3 if arr.shape[-1] >= 3 else 1].any(axis=-1) if arr.ndim == 3 else arr != 0


def instance_masks(path: str, image: str, one_object_hint: str = "") -> list[tuple[str, np.ndarray, str]]:
    """An instance PNG: (object name = its pixel value, mask, file) per value, 0 (background) and 255 (void)
    being no object; palette PNGs by index."""
    arr = read_png(path, image)
    if arr.ndim != 2:
        raise AnnotationError(
            f"an instance PNG must have one channel (L, I or palette P), got shape {arr.shape}{where(path)}"
        )
    values = [int(v) for v in np.unique(arr) if v not in (0, VOID)]
    if not values:
        raise AnnotationError(
            f"the instance PNG of {image!r} holds no object, only 0 (background) and {VOID} (void){where(path)}"
            + (f"; {one_object_hint}" if one_object_hint else "")
        )
    return [(str(v), arr == v, path) for v in values]


def read_png(path: str, image: str) -> np.ndarray:
    image_file_size(path, context=where(None, image))  # the header first: the pixel limit, before decoding
    try:
        with Image.open(path) as im:
            kind = im.format
            if kind == "PNG":
                im.load()
                arr = np.asarray(im)  # P: palette indices, not colours
    except IMAGE_FILE_ERRORS as e:
        raise ImageLoadError(f"mask {path!r} cannot be read: {e}{where(None, image)}") from None
    if kind != "PNG":  # a JPEG renamed .png: its compression artefacts would become object pixels
        raise ImageLoadError(f"mask {path!r} is a {kind} file, not a PNG{where(None, image)}")
    return arr


def _record(
    data_dir: str, image: str, texts: dict[str, list[str]], text_file: str, source: str, mask_frame: str
) -> dict:
    path = os.path.join(data_dir, "images", image)
    h, w = check_image(path, None, None, record=image)
    objects = _object_masks(data_dir, image)
    (mh, mw), turn = own_mask_frame(
        path, h, w, mask_frame, lambda hh, ww: all(m.shape == (hh, ww) for _, m, _ in objects), record=image
    )
    for _, mask, mask_file in objects:
        if mask.shape != (mh, mw):
            shown = "" if turn == 1 else " as displayed"
            raise ShapeMismatchError(
                f"mask {mask_file!r} is {mask.shape[0]}x{mask.shape[1]} but {image!r}{shown} is {mh}x{mw} (h x w)"
            )
    names = [name for name, _, _ in objects]
    without_mask = sorted(set(texts) - set(names))
    if without_mask:
        raise AnnotationError(
            f"texts for object(s) {without_mask} of {image!r}, which have no mask{where(text_file, image)}"
        )
    regions, out_texts = [], []
    for k, (name, mask, mask_file) in enumerate(objects):
        if not mask.any():
            raise AnnotationError(f"object {name!r} of {image!r} has an empty mask{where(mask_file, image)}")
        if name not in texts:
            raise AnnotationError(f"object {name!r} of {image!r} has a mask but no text{where(text_file, image)}")
        regions.append(make_region(name, [masks.encode(to_stored_frame(mask, turn))]))
        out_texts.extend(make_text(t, [k]) for t in texts[name])
    record = make_record(id=image, source=source, frames=[path], height=h, width=w, regions=regions, texts=out_texts)
    return validate_record(record, file=text_file)


SOURCES = (
    SourceSpec(
        "folder",
        "folder",
        description="Your own images with one PNG per object or an instance PNG per image, and texts.",
        options=OwnDataOptions,
        homepage="https://github.com/bytedance/Sa2VA",
        license="yours",
        citation="Yuan et al., Sa2VA: Marrying SAM2 with LLaVA for Dense Grounded Understanding of Images and "
        "Videos, arXiv:2501.04001",
    ),
)
