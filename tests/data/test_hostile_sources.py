"""Broken and hostile native files: every case ends in a named error, never a silent partial or wrong build."""

from __future__ import annotations

import io
import json
import os
import pickle
import tarfile

import pytest

from sa2va_hf import load_source
from sa2va_hf.data.sources._json import iter_json_array, load_json
from sa2va_hf.errors import AnnotationError

from ..fakedata import describe_anything as fake_dam
from ..fakedata import gcg as fake_gcg
from ..fakedata import osprey as fake_osprey
from ..fakedata import refcoco as fake_refcoco


def _load(tmp_path, source, **kw):
    return load_source(source, tmp_path / "data", cache_dir=str(tmp_path / "cache"), **kw)


# ------------------------------------------------------------------ JSON arrays


@pytest.mark.parametrize("tail", ["[{}]", " garbage", ", {}]"])
def test_content_after_the_array_is_an_error_not_ignored(tmp_path, tail):
    path = tmp_path / "a.json"
    path.write_text("[{}, {}]" + tail)
    with pytest.raises(
        AnnotationError, match=r"content after the end of the top-level JSON array at byte \d+.*a\.json"
    ):
        list(iter_json_array(path))


def test_whitespace_after_the_array_is_fine(tmp_path):
    path = tmp_path / "a.json"
    path.write_text("[1, 2]\n \t\r\n")
    assert [x for _, x in iter_json_array(path, chunk_size=1)] == [1, 2]


@pytest.mark.parametrize("source", ["osprey_conversation", "gcg_grandf"])
def test_a_second_array_after_the_first_fails_the_build(tmp_path, source):
    writer = fake_osprey.write if source.startswith("osprey") else fake_gcg.write
    info = writer(str(tmp_path / "data"), source)
    with open(info["json"]) as f:
        entries = json.load(f)
    with open(info["json"], "w") as f:  # [A][B, C]: json.load refuses it; a stream must too
        f.write(json.dumps(entries[:1]) + json.dumps(entries[1:]))
    with pytest.raises(AnnotationError, match=r"content after the end of the top-level JSON array"):
        _load(tmp_path, source)


def test_an_integer_over_the_digit_limit_names_the_file(tmp_path):
    path = tmp_path / "a.json"
    path.write_text("[1, " + "9" * 5000 + "]")
    with pytest.raises(AnnotationError, match=r"invalid JSON value.*a\.json"):
        list(iter_json_array(path))
    path.write_text('{"a": ' + "9" * 5000 + "}")
    with pytest.raises(AnnotationError, match=r"a\.json.*is not valid JSON"):
        load_json(path)


def test_an_empty_array_is_a_source_without_records(tmp_path):
    info = fake_osprey.write(str(tmp_path / "data"), "osprey_part_level")
    with open(info["json"], "w") as f:
        f.write("[ ]")
    with pytest.raises(
        AnnotationError, match=r"osprey_part_level: no records in split\(s\) \['train'\].*osprey_part_level\.json"
    ):
        _load(tmp_path, "osprey_part_level")


# ------------------------------------------------------------------ values that do not fit their column


def _edit_osprey(tmp_path, source, edit):
    info = fake_osprey.write(str(tmp_path / "data"), source)
    entries = info["entries"]
    edit(entries)
    with open(info["json"], "w") as f:
        json.dump(entries, f)  # ensure_ascii: a lone surrogate is written as the escape \ud800


def test_a_lone_surrogate_in_a_text_names_file_and_record(tmp_path):
    _edit_osprey(tmp_path, "osprey_conversation", lambda e: e[4]["conversations"][1].update(value="broken \ud800 text"))
    with pytest.raises(
        AnnotationError, match=r"turn 1 'value' is not valid Unicode.*osprey_conversation\.json.*record '4'"
    ):
        _load(tmp_path, "osprey_conversation")


@pytest.mark.parametrize("given, missing", [("height", "width"), ("width", "height")])
def test_height_without_width_is_an_error(tmp_path, given, missing):
    _edit_osprey(tmp_path, "osprey_short_form", lambda e: e[0].pop(missing))
    with pytest.raises(AnnotationError, match=rf"gives '{given}' but no '{missing}'.*record '0'"):
        _load(tmp_path, "osprey_short_form")


@pytest.mark.parametrize("value", [1e39, 10**400, float("nan")])
def test_a_bbox_outside_float32_is_an_error(tmp_path, value):
    def edit(entries):
        entries[0]["annotation"][0]["bbox"] = [0, 0, value, 1]

    info = fake_osprey.write(str(tmp_path / "data"), "osprey_conversation")
    edit(info["entries"])
    text = json.dumps(info["entries"]).replace("Infinity", "1e999")
    with open(info["json"], "w") as f:
        f.write(text)
    with pytest.raises(AnnotationError, match=r"bbox must hold finite float32 numbers.*record '0, annotation 0'"):
        _load(tmp_path, "osprey_conversation")


# ------------------------------------------------------------------ RefCOCO instances.json


def _edit_instances(tmp_path, edit, source="refcoco"):
    info = fake_refcoco.write(str(tmp_path / "data"), source)
    with open(info["instances"]) as f:
        inst = json.load(f)
    edit(inst)
    with open(info["instances"], "w") as f:
        json.dump(inst, f)


@pytest.mark.parametrize(
    "edit, match",
    [
        (lambda inst: inst["images"].append(dict(inst["images"][0])), r"image id 101 appears twice in 'images'"),
        (
            lambda inst: inst["annotations"].append({**inst["annotations"][0], "segmentation": [[0, 0, 9, 0, 0, 9]]}),
            r"annotation id 9001 appears twice in 'annotations'",
        ),
        (lambda inst: inst["categories"].pop(), r"category_id 18 is not in 'categories'.*record 'image 101, ann"),
        (
            lambda inst: inst["categories"].append({"id": 1, "name": "human"}),
            r"category id 1 appears twice in 'categories'",
        ),
        (lambda inst: inst["categories"].append(7), r"expected a JSON object, got int.*record 'categories\[2\]'"),
        (lambda inst: inst["categories"][0].update(name=["person"]), r"'name' must be str, got list.*category 1"),
    ],
)
def test_refcoco_duplicates_and_dangling_categories_are_errors(tmp_path, edit, match):
    _edit_instances(tmp_path, edit)
    with pytest.raises(AnnotationError, match=match) as e:
        _load(tmp_path, "refcoco")
    assert "instances.json" in str(e.value)


# ------------------------------------------------------------------ duplicate ids


def test_gcg_refcocog_key_given_twice_is_an_error(tmp_path):
    info = fake_gcg.write(str(tmp_path / "data"), "gcg_refcocog")
    with open(info["json"]) as f:
        entries = json.load(f)
    entries.append({"1001": entries[0]["1000"]})  # a second record under the key 1001
    with open(info["json"], "w") as f:
        json.dump(entries, f)
    with pytest.raises(
        AnnotationError, match=r"gcg_refcocog: id '1001' is given to 2 records.*RefCOCOg_GCG_train\.json"
    ):
        _load(tmp_path, "gcg_refcocog")


# ------------------------------------------------------------------ describe-anything tars


def _tar_bytes(members: list[tuple[str, bytes]]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        for name, data in members:
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            tf.addfile(ti, io.BytesIO(data))
    return buf.getvalue()


def _dam(tmp_path):
    info = fake_dam.write(str(tmp_path / "data"), subsets=("PACO",), images_per_tar=3, tars=2)
    return info["tars"]


def _member_offsets(data: bytes) -> list[int]:
    with tarfile.open(fileobj=io.BytesIO(data)) as tf:
        return [m.offset for m in tf.getmembers()]


def test_dam_tar_cut_inside_a_member_header_is_an_error(tmp_path):
    tar = _dam(tmp_path)[0]
    data = open(tar, "rb").read()
    cut = _member_offsets(data)[3] + 100  # inside the 4th header: tarfile would stop there, silently
    open(tar, "wb").write(data[:cut])
    with pytest.raises(AnnotationError, match=r"corrupt tar.*00000000\.tar"):
        _load(tmp_path, "describe_anything")


def test_dam_tar_with_a_damaged_header_is_an_error(tmp_path):
    tar = _dam(tmp_path)[0]
    data = bytearray(open(tar, "rb").read())
    data[_member_offsets(bytes(data))[2] + 10] ^= 0x55  # one byte of the 3rd header's name: bad checksum
    open(tar, "wb").write(bytes(data))
    with pytest.raises(
        AnnotationError, match=r"corrupt tar: no valid member header at byte \d+, yet the archive goes on"
    ):
        _load(tmp_path, "describe_anything")


def test_dam_tar_without_its_end_marker_is_an_error(tmp_path, caplog):
    tar = _dam(tmp_path)[1]
    whole = len(load_source("describe_anything", tmp_path / "data", split="train", cache_dir=str(tmp_path / "c0")))
    data = open(tar, "rb").read()
    with tarfile.open(tar) as tf:
        last = tf.getmembers()[-1]
    cut = last.offset_data + -(-last.size // 512) * 512  # at a member boundary
    open(tar, "wb").write(data[:cut])
    with pytest.raises(AnnotationError, match=r"without its end-of-archive marker.*00000001\.tar"):
        _load(tmp_path, "describe_anything")
    # one zero block: a complete archive whose writer skipped the second (GNU tar reads it, warning)
    open(tar, "wb").write(data[:cut] + b"\0" * 512)
    with caplog.at_level("WARNING"):
        assert len(_load(tmp_path, "describe_anything")["train"]) == whole
    assert "00000001.tar: a lone zero block ends the archive" in caplog.text


@pytest.mark.parametrize("damage", ["flipped byte", "garbage after the stream"])
def test_dam_damaged_gzip_tar_is_an_error_naming_it(tmp_path, damage):
    import gzip

    tar = _dam(tmp_path)[0]
    data = bytearray(gzip.compress(open(tar, "rb").read()))
    if damage == "flipped byte":
        data[len(data) // 2] ^= 0xFF
    else:
        data += b"not gzip at all"
    open(tar, "wb").write(bytes(data))
    with pytest.raises(AnnotationError, match=r"corrupt.*tar.*00000000\.tar"):
        _load(tmp_path, "describe_anything")


def _pair(key, seed=0):
    from ..fakedata._common import image_bytes
    from .test_describe_anything import _dam_entry

    return [(f"{key}.jpg", image_bytes(20, 30, seed=seed)), (f"{key}.pickle", pickle.dumps([_dam_entry(key, seed)]))]


def _write_dam_tars(tmp_path, *tars):
    folder = tmp_path / "data" / "describe-anything-dataset" / "PACO" / "images"
    folder.mkdir(parents=True, exist_ok=True)
    for k, members in enumerate(tars):
        (folder / f"{k:08d}.tar").write_bytes(_tar_bytes(members))


def test_dam_two_jpg_members_for_one_sample_is_an_error(tmp_path):
    a = _pair("000000000001", 1)
    _write_dam_tars(tmp_path, [a[0], ("000000000001.jpg", a[0][1]), a[1]])
    with pytest.raises(AnnotationError, match=r"sample '000000000001' has two \.jpg members"):
        _load(tmp_path, "describe_anything")


def test_dam_key_in_two_tars_is_an_error(tmp_path):
    _write_dam_tars(tmp_path, _pair("000000000001", 1), _pair("000000000002", 2) + _pair("000000000001", 3))
    with pytest.raises(AnnotationError, match=r"'000000000001' is in two tars: .*00000000\.tar.*00000001\.tar"):
        _load(tmp_path, "describe_anything")


def test_dam_key_twice_apart_in_one_tar_is_an_error(tmp_path):
    a = _pair("000000000001", 1)
    _write_dam_tars(tmp_path, [a[0], *_pair("000000000002", 2), a[1]])
    with pytest.raises(AnnotationError, match=r"sample '000000000001' appears twice in the tar, apart"):
        _load(tmp_path, "describe_anything")


def test_dam_link_member_is_refused(tmp_path):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        for name, data in _pair("000000000001", 1):
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            tf.addfile(ti, io.BytesIO(data))
        link = tarfile.TarInfo("000000000002.jpg")
        link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
        tf.addfile(link)
    folder = tmp_path / "data" / "describe-anything-dataset" / "PACO" / "images"
    folder.mkdir(parents=True)
    (folder / "00000000.tar").write_bytes(buf.getvalue())
    with pytest.raises(AnnotationError, match=r"'000000000002\.jpg' is not a regular file; refused"):
        _load(tmp_path, "describe_anything")


def test_dam_member_claiming_gigabytes_is_refused_before_reading(tmp_path):
    """A small gzip tar whose pickle header claims 3 GiB: refused from the header, nothing read."""
    import gzip

    header = tarfile.TarInfo("000000000001.pickle")
    header.size = 3 << 30
    jpg = _pair("000000000001")[0]
    folder = tmp_path / "data" / "describe-anything-dataset" / "PACO" / "images"
    folder.mkdir(parents=True)
    body = _tar_bytes([jpg])[: -2 * 512 * 10][: 512 + -(-len(jpg[1]) // 512) * 512]
    (folder / "00000000.tar").write_bytes(gzip.compress(body + header.tobuf() + b"\0" * 4096))
    with pytest.raises(AnnotationError, match=r"claims 3221225472 bytes, over max_member_bytes=268435456"):
        _load(tmp_path, "describe_anything")
    small = tmp_path / "small"
    os.makedirs(small / "data")
    os.rename(tmp_path / "data" / "describe-anything-dataset", small / "data" / "describe-anything-dataset")
    with pytest.raises(AnnotationError, match=r"over max_member_bytes=100"):
        _load(small, "describe_anything", max_member_bytes=100)


def test_dam_empty_tar_is_an_error(tmp_path):
    _write_dam_tars(tmp_path, [])
    with pytest.raises(AnnotationError, match=r"the tar holds no sample.*00000000\.tar"):
        _load(tmp_path, "describe_anything")


# ------------------------------------------------------------------ crashers through the builders

BUILD_CHILD = """
import json, resource, sys
resource.setrlimit(resource.RLIMIT_AS, (6 << 30, 6 << 30))
sys.path.insert(0, {root!r})
import numpy as np
from sa2va_hf import Sa2VAImageProcessor, load_source
from sa2va_hf.errors import MaskFormatError
from tests.fakedata import gcg, osprey, refcoco

BAD = [[0, 0, 2147483648, 0, 0, 10]]  # pycocotools cast it to int and malloc'ed >= 8 GiB: SIGSEGV
tmp = {tmp!r}

def osprey_case(d):
    info = osprey.write(d, "osprey_conversation")
    info["entries"][0]["annotation"][0]["segmentation"] = BAD
    json.dump(info["entries"], open(info["json"], "w"))
    return "osprey_conversation"

def refcoco_case(d):
    info = refcoco.write(d, "refcoco")
    inst = json.load(open(info["instances"]))
    inst["annotations"][0]["segmentation"] = BAD
    json.dump(inst, open(info["instances"], "w"))
    return "refcoco"

def gcg_case(d):
    info = gcg.write(d, "gcg_refcocog")
    entries = json.load(open(info["json"]))
    entries[0]["1000"]["refs"][0]["segmentation"] = BAD
    json.dump(entries, open(info["json"], "w"))
    return "gcg_refcocog"

for case in (osprey_case, refcoco_case, gcg_case):
    for num_proc in (1, 2):
        d = f"{{tmp}}/{{case.__name__}}{{num_proc}}"
        name = case(d + "/data")
        try:
            load_source(name, d + "/data", cache_dir=d + "/cache", num_proc=num_proc)
            print(name, num_proc, "ACCEPTED")
        except MaskFormatError as e:
            print(name, num_proc, "refused:", e)
try:
    Sa2VAImageProcessor()(np.zeros((20, 30, 3), np.uint8), visual_prompts=[BAD])
    print("prompt ACCEPTED")
except MaskFormatError as e:
    print("prompt refused:", e)
"""


def test_a_huge_polygon_coordinate_is_a_named_error_in_every_builder_and_the_processor(tmp_path):
    """The crash case of each polygon-reading parser and of a processor prompt, num_proc 1 and 2 (with 2
    the build died with a bare RuntimeError), in a child: a regression fails this test, not pytest."""
    import subprocess
    import sys

    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    script = BUILD_CHILD.format(root=root, tmp=str(tmp_path))
    env = {**os.environ, "HF_DATASETS_OFFLINE": "1", "HF_HUB_OFFLINE": "1"}
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300, env=env)
    assert result.returncode == 0, f"child died (rc {result.returncode}): {result.stderr[-2000:]}"
    lines = [line for line in result.stdout.splitlines() if "refused:" in line or "ACCEPTED" in line]
    assert len(lines) == 7 and all("refused:" in line and "beyond" in line for line in lines), result.stdout
    for name, file in (("osprey_conversation", "osprey_conversation.json"), ("refcoco", "instances.json"),
                       ("gcg_refcocog", "RefCOCOg_GCG_train.json")):  # fmt: skip
        assert all(file in line for line in lines if line.startswith(name)), result.stdout


def test_a_build_refuses_the_images_the_processor_would_refuse(tmp_path, monkeypatch):
    """One pixel limit (PIL's MAX_IMAGE_PIXELS, as the processor decodes with): the build checked
    only PIL's own error, at twice the limit, and accepted images the processor then refused."""
    from PIL import Image

    from sa2va_hf.errors import ImageLoadError
    from sa2va_hf.image_io import open_image

    info = fake_osprey.write(str(tmp_path / "data"), "osprey_conversation")
    h, w = info["entries"][0]["height"], info["entries"][0]["width"]
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", int(h * w * 0.75))  # between PIL's warning and its error
    image = os.path.join(os.path.dirname(os.path.dirname(info["json"])), "coco", "train2017")
    with pytest.raises(ImageLoadError, match="over the limit"):
        open_image(os.path.join(image, os.listdir(image)[0]))
    with pytest.raises(ImageLoadError, match=r"over the limit.*osprey_conversation\.json.*record '0'"):
        _load(tmp_path, "osprey_conversation")
