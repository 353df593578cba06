"""A tagged image gives the sample of the same image with its tag stripped, in every source family that
reads images, through every read path: the row as ``datasets`` decodes it, the row after ``lazy_frames``,
the record's frame paths, the processor given a path / the decoded image / the stored bytes, and the
export read back by plain ``datasets.load_dataset``.

Each family's fake native files are written twice: as they are, and with every image tagged with one EXIF
orientation (JPEG: a segment inserted, the pixel data untouched; PNG: saved again losslessly), for each of
the 7 orientations that turn or mirror; the fake images are non-square, the own-data ones include a square
one below. Upstream reads ``Image.open(path).convert("RGB")``, the stored pixels: both builds must give those.
"""

from __future__ import annotations

import os

import datasets
import numpy as np
import pytest

from sa2va_hf import Sa2VAImageProcessor, load_source
from sa2va_hf.export import export_sources
from sa2va_hf.training import Sa2VATrainingTransform, lazy_frames

from ..fakedata import _common, describe_anything, finetune, folder, gcg, llava, osprey, refcoco, refvos
from ..fakedata.exif import stored_pixels, tag_file, tag_jpeg

WRITERS = {  # one source per family that reads images, and each JPEG-frame video source
    "osprey_conversation": osprey,
    "refcoco": refcoco,
    "gcg_grandf": gcg,
    "llava_665k": llava,
    "describe_anything": describe_anything,
    "revos": refvos,
    "mevis": refvos,
    "ref_youtube_vos": refvos,
    "finetune": finetune,
    "folder": folder,
}
OWN_DATA = {"finetune", "folder"}
TURNING = range(2, 9)
SAMPLE_KEYS = ("input_ids", "labels", "pixel_values", "g_pixel_values", "masks", "prompt_masks")


def write(module, data_dir: str, source: str, orientation: int | None, monkeypatch) -> None:
    """The family's fake files, every image tagged with ``orientation`` (None: untagged)."""
    if orientation is not None:
        real_file, real_bytes = _common.write_image, _common.image_bytes

        def tagged_file(path, *args, **kwargs):
            out = real_file(path, *args, **kwargs)
            tag_file(out, orientation)
            return out

        if hasattr(module, "write_image"):
            monkeypatch.setattr(module, "write_image", tagged_file)
        if hasattr(module, "image_bytes"):
            monkeypatch.setattr(module, "image_bytes", lambda *a, **k: tag_jpeg(real_bytes(*a, **k), orientation))
    module.write(data_dir, source)
    monkeypatch.undo()


@pytest.fixture(scope="module")
def untagged(tmp_path_factory):
    root = tmp_path_factory.mktemp("untagged")
    cache = {}

    def get(source: str) -> datasets.Dataset:
        if source not in cache:
            data = os.path.join(root, source)
            with pytest.MonkeyPatch.context() as mp:
                write(WRITERS[source], data, source, None, mp)
            cache[source] = load_source(source, data, split="train", cache_dir=os.path.join(root, "cache"))
        return cache[source]

    get.root = lambda source: os.path.join(root, source)
    return get


def _raw(ds):
    return ds.cast_column("frames", [datasets.Image(decode=False)])["frames"]


def _same_sample(a: dict, b: dict, what: str) -> None:
    assert a.keys() == b.keys(), what
    for key in SAMPLE_KEYS:
        if key in a:
            x, y = a[key], b[key]
            if isinstance(x, list):
                assert len(x) == len(y) and all(np.array_equal(np.asarray(p), np.asarray(q)) for p, q in zip(x, y)), (
                    what,
                    key,
                )
            else:
                assert np.array_equal(np.asarray(x), np.asarray(y)), (what, key)


@pytest.mark.parametrize("orientation", TURNING)
@pytest.mark.parametrize("source", WRITERS)
def test_a_tagged_image_gives_the_sample_of_the_stored_pixels(
    source, orientation, untagged, processors, tmp_path, monkeypatch
):
    data = str(tmp_path / "data")
    write(WRITERS[source], data, source, orientation, monkeypatch)
    options = {"mask_frame": "stored"} if source in OWN_DATA else {}  # own data: see test_own_data_orientation
    tagged = load_source(source, data, split="train", cache_dir=str(tmp_path / "cache"), **options)
    plain = untagged(source)

    # the records: the same annotations; every tagged image stored as its cleared bytes, with its file name
    assert tagged.remove_columns("frames").to_list() == plain.remove_columns("frames").to_list()
    raw_tagged, raw_plain = _raw(tagged), _raw(plain)
    for frames_t, frames_p in zip(raw_tagged, raw_plain):
        for t, p in zip(frames_t, frames_p):
            assert t["bytes"] is not None and t["path"] == os.path.basename(p["path"])
            stored = stored_pixels(p["bytes"] if p["bytes"] is not None else p["path"])
            assert np.array_equal(stored_pixels(t["bytes"]), stored)
    # the rows as datasets decodes them: the stored pixels (upstream's), tagged or not
    for row_t, row_p in zip(tagged, plain):
        for im_t, im_p in zip(row_t["frames"], row_p["frames"]):
            assert np.array_equal(np.asarray(im_t.convert("RGB")), np.asarray(im_p.convert("RGB")))

    # the training sample, from every read path, equals the untagged record's
    transform = Sa2VATrainingTransform(processors("qwen"), "v1", seed=0)
    k = next(i for i, r in enumerate(plain) if r["frames"] and transform.drop_reason(r) is None)
    want = transform(plain[k])
    lazy = lazy_frames(tagged)[k]
    plain_frames = _raw(plain)[k]
    paths = (
        None
        if plain_frames[0]["bytes"] is not None
        else [f["path"].replace(untagged.root(source), data) for f in plain_frames]
    )
    reads = {"decoded row": tagged[k], "lazy row": lazy}
    if paths:  # the tagged files themselves, by path (describe_anything's live only in their tar)
        reads["tagged files"] = {**lazy, "frames": [{"path": p, "bytes": None} for p in paths]}
    for what, record in reads.items():
        _same_sample(transform(record), want, f"{source}, orientation {orientation}: {what}")

    # the processor given the tagged file's path, the decoded image, the stored bytes
    image_processor = Sa2VAImageProcessor()
    expected = image_processor(plain[k]["frames"][0])["pixel_values"]
    inputs = {"decoded row": tagged[k]["frames"][0], "stored bytes": _pil(lazy["frames"][0]["bytes"])}
    if paths:
        inputs["path"] = paths[0]
    for what, image in inputs.items():
        assert np.array_equal(image_processor(image)["pixel_values"], expected), (source, orientation, what)


def _pil(data: bytes):
    import io

    from PIL import Image

    return Image.open(io.BytesIO(data))


@pytest.mark.parametrize("orientation", [3, 6])
def test_an_export_read_by_plain_datasets_gives_the_stored_pixels(orientation, tmp_path, monkeypatch):
    """Plain ``datasets.load_dataset`` of the Parquet (decoding applies EXIF orientation) gives the stored pixels."""
    data = str(tmp_path / "data")
    write(refcoco, data, "refcoco", orientation, monkeypatch)
    export_sources(["refcoco"], data, str(tmp_path / "out"), cache_dir=str(tmp_path / "cache"), progress=False)
    built = load_source("refcoco", data, split="train", cache_dir=str(tmp_path / "cache"))
    back = datasets.load_dataset(str(tmp_path / "out"), "refcoco", split="train", cache_dir=str(tmp_path / "hf"))
    files = {name: os.path.join(root, name) for root, _, names in os.walk(data) for name in names}
    assert len(back) == len(built)
    for row, raw in zip(back, _raw(built)):
        assert np.array_equal(np.asarray(row["frames"][0].convert("RGB")), stored_pixels(files[raw[0]["path"]]))
