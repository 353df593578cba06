"""Every source builds from its fake native files, and bad input fails loudly."""

import json
import os
import pickle
import shutil
import subprocess
import sys
import zipfile

import datasets
import numpy as np
import pytest

import sa2va_hf
from sa2va_hf import load_source
from sa2va_hf.errors import (
    AnnotationError,
    ImageLoadError,
    Sa2VAError,
    ShapeMismatchError,
    UnsafePathError,
    UnsafePickleError,
)
from sa2va_hf.loading import get_builder

from .fakedata import describe_anything as fake_dam
from .fakedata import gcg as fake_gcg
from .fakedata import osprey as fake_osprey
from .fakedata import refcoco as fake_refcoco
from .fakedata.check import check_against, raw_frames

datasets.disable_progress_bars()

WRITERS = {
    **{
        s: fake_osprey.write
        for s in (
            "osprey_conversation",
            "osprey_detail_description",
            "osprey_short_form",
            "osprey_part_level",
            "osprey_lvis_positive_negative",
        )
    },
    **{s: fake_refcoco.write for s in ("refcoco", "refcoco_plus", "refcocog")},
    **{s: fake_gcg.write for s in ("gcg_refcocog", "gcg_grandf", "gcg_openpsg", "gcg_flickr")},
    "describe_anything": lambda d, s: fake_dam.write(d),
}
SPLITS = {
    "refcoco": ["train", "val", "testA", "testB"],
    "refcoco_plus": ["train", "val", "testA", "testB"],
    "refcocog": ["train", "val", "test"],
}


def build(tmp_path, source, **kw):
    data = tmp_path / "data"
    info = WRITERS[source](str(data), source)
    return info, load_source(source, data, cache_dir=str(tmp_path / "cache"), **kw)


def test_every_source_is_registered():
    assert sorted(sa2va_hf.list_sources()) == sorted(WRITERS)


@pytest.mark.parametrize("source", sorted(WRITERS))
def test_source_builds_from_native_files(tmp_path, source):
    info, dd = build(tmp_path, source)
    assert isinstance(dd, datasets.DatasetDict)
    assert list(dd) == SPLITS.get(source, ["train"])
    for split, expected in info["expected"].items():
        assert len(expected) > 0
        check_against(dd[split], expected, source)


def test_refcoco_split_argument_and_split_membership(tmp_path):
    info, _ = build(tmp_path, "refcocog")
    ds = load_source("refcocog", tmp_path / "data", split="val", cache_dir=str(tmp_path / "cache"))
    assert isinstance(ds, datasets.Dataset)
    check_against(ds, info["expected"]["val"], "refcocog")
    # image 104 has refs in train and test: one record per split, each with its own refs only
    train = load_source("refcocog", tmp_path / "data", split="train", cache_dir=str(tmp_path / "cache"))
    test = load_source("refcocog", tmp_path / "data", split="test", cache_dir=str(tmp_path / "cache"))
    t104 = train.filter(lambda r: r["id"] == "104")[0]["texts"]
    assert [t["text"] for t in t104] == ["person at left in the train split"]
    assert "person at left in the train split" not in [
        t["text"] for t in test.filter(lambda r: r["id"] == "104")[0]["texts"]
    ]


def test_refcoco_refs_sharing_an_annotation_share_a_region(tmp_path):
    _, dd = build(tmp_path, "refcoco")
    rec = dd["train"].filter(lambda r: r["id"] == "101")[0]
    ids = [r["id"] for r in rec["regions"]]
    assert len(ids) == len(set(ids)) == 2
    texts = {t["text"]: t["region_ids"] for t in rec["texts"]}
    assert texts["the same dog again"] == texts["The Dog on the right #101."] == [0]
    assert texts["man in red  101 "] == [1]  # raw sentence kept verbatim
    assert [r["label"] for r in rec["regions"]] == ["dog", "person"]


def test_osprey_image_search_order(tmp_path):
    info, ds = build(tmp_path, "osprey_conversation")
    paths = [f[0]["path"] for f in raw_frames(ds["train"])]
    root = info["root"]
    assert paths[0] == os.path.join(root, "coco", "train2014", "COCO_train2014_000000000001.jpg")  # not train2017
    assert paths[1] == os.path.join(root, "coco", "val2017", "000000000002.jpg")
    assert paths[3] == os.path.join(root, "raw_only.jpg")


def _tables(ds):
    return raw_frames(ds), ds.remove_columns("frames").to_list()


@pytest.mark.parametrize(
    "source", ["osprey_detail_description", "refcoco", "gcg_grandf", "gcg_flickr", "describe_anything"]
)
def test_num_proc_2_gives_the_same_dataset(tmp_path, source):
    info, one = build(tmp_path / "a", source)
    two = load_source(source, tmp_path / "a" / "data", cache_dir=str(tmp_path / "b"), num_proc=2)
    for split in one:
        assert _tables(one[split]) == _tables(two[split])
    biggest = max(two, key=lambda s: len(two[s]))
    assert len(two[biggest].cache_files) == 2  # really written by two jobs


# ------------------------------------------------------------------ gcg specifics


def test_gcg_flickr_filters_are_counted_and_can_be_switched_off(tmp_path, caplog):
    data = tmp_path / "data"
    info = fake_gcg.write(str(data), "gcg_flickr")
    b = get_builder("gcg_flickr", data, cache_dir=str(tmp_path / "c1"))
    with caplog.at_level("WARNING"):
        b.download_and_prepare()
    rep = b.filter_report
    assert rep["images in file"] == info["n_images"] == 5 and rep["images kept"] == 3
    assert rep["images dropped: caption under 3 words"] == 1
    assert rep["images dropped: shorter side under 32 px"] == 1
    assert (
        rep["annotations dropped: flagged ignore"] + rep["annotations dropped: empty or outside box"]
        == info["dropped_anns"]
    )
    assert "upstream filters applied" in caplog.text
    ds = load_source("gcg_flickr", data, split="train", cache_dir=str(tmp_path / "c2"), upstream_filters=False)
    assert sorted(ds["id"]) == ["1", "2", "3", "4", "5"]
    assert [len(r) for r in ds["regions"]] == [6, 6, 6, 6, 6]


def test_gcg_spans_point_into_the_caption(tmp_path):
    _, dd = build(tmp_path, "gcg_grandf")
    for rec in dd["train"]:
        for t in rec["texts"]:
            assert rec["caption"][t["start"] : t["end"]] == t["text"]
            assert rec["regions"][t["region_ids"][0]]["label"] == t["text"]
    # the quoted caption of record 2 is stored stripped, as upstream uses it
    assert not dd["train"][2]["caption"].startswith('"')


# ------------------------------------------------------------------ errors


def _write_json(path, data):
    with open(path, "w") as f:
        json.dump(data, f)


def test_malicious_refer_pickle_is_refused(tmp_path):
    info = fake_refcoco.write(str(tmp_path / "data"), "refcoco")

    class Evil:
        def __reduce__(self):
            return (os.system, ("echo pwned",))

    with open(info["refs"], "wb") as f:
        pickle.dump([Evil()], f, protocol=2)
    with pytest.raises(UnsafePickleError, match=r"refs\(unc\)\.p"):
        load_source("refcoco", tmp_path / "data", cache_dir=str(tmp_path / "cache"))


@pytest.mark.parametrize("num_proc", [None, 2])
def test_file_name_climbing_out_is_refused(tmp_path, num_proc):
    info = fake_osprey.write(str(tmp_path / "data"), "osprey_short_form")
    entries = info["entries"]
    entries[3]["file_name"] = "../../../etc/passwd"
    _write_json(info["json"], entries)
    with pytest.raises(UnsafePathError, match=r"osprey_short_form\.json.*record '3'"):
        load_source("osprey_short_form", tmp_path / "data", cache_dir=str(tmp_path / "cache"), num_proc=num_proc)


def test_refcoco_file_name_climbing_out_is_refused(tmp_path):
    info = fake_refcoco.write(str(tmp_path / "data"), "refcoco")
    inst = json.load(open(info["instances"]))
    inst["images"][0]["file_name"] = "/etc/passwd"
    _write_json(info["instances"], inst)
    with pytest.raises(UnsafePathError, match=r"instances\.json.*record '101'"):
        load_source("refcoco", tmp_path / "data", cache_dir=str(tmp_path / "cache"))


@pytest.mark.parametrize(
    "edit, match",
    [
        (lambda inst: inst.update(categories=5), r"'categories' must be list, got int.*instances\.json"),
        (
            lambda inst: inst["annotations"][0].update(category_id=[1]),
            r"'category_id' must be int, got list.*instances\.json.*record 'image \d+, ann \d+'",
        ),
    ],
)
def test_refcoco_malformed_categories_name_the_file(tmp_path, edit, match):
    info = fake_refcoco.write(str(tmp_path / "data"), "refcoco")
    inst = json.load(open(info["instances"]))
    edit(inst)
    _write_json(info["instances"], inst)
    with pytest.raises(AnnotationError, match=match):
        load_source("refcoco", tmp_path / "data", cache_dir=str(tmp_path / "cache"))


def test_missing_image_names_file_and_record(tmp_path):
    info = fake_refcoco.write(str(tmp_path / "data"), "refcocog")
    os.remove(info["image_paths"][103])
    with pytest.raises(ImageLoadError, match=r"does not exist.*instances\.json.*record '103'"):
        load_source("refcocog", tmp_path / "data", cache_dir=str(tmp_path / "cache"))


def test_osprey_image_found_nowhere_names_record(tmp_path):
    info = fake_osprey.write(str(tmp_path / "data"), "osprey_part_level")
    entries = info["entries"]
    entries[2]["file_name"] = "nowhere.jpg"
    _write_json(info["json"], entries)
    with pytest.raises(ImageLoadError, match=r"'nowhere\.jpg' not found.*record '2'"):
        load_source("osprey_part_level", tmp_path / "data", cache_dir=str(tmp_path / "cache"))


def test_corrupt_image_names_file_and_record(tmp_path):
    info = fake_refcoco.write(str(tmp_path / "data"), "refcoco")
    with open(info["image_paths"][102], "wb") as f:
        f.write(b"this is not a jpeg")
    with pytest.raises(ImageLoadError, match=r"cannot be read.*record '102'"):
        load_source("refcoco", tmp_path / "data", cache_dir=str(tmp_path / "cache"))


def test_rle_size_disagreeing_with_record(tmp_path):
    info = fake_osprey.write(str(tmp_path / "data"), "osprey_conversation")
    entries = info["entries"]
    entries[2]["annotation"][2]["segmentation"]["size"] = [41, 52]
    _write_json(info["json"], entries)
    with pytest.raises(ShapeMismatchError, match=r"osprey_conversation\.json.*record '2, annotation 2'"):
        load_source("osprey_conversation", tmp_path / "data", cache_dir=str(tmp_path / "cache"))


def test_annotation_size_disagreeing_with_image(tmp_path):
    info = fake_osprey.write(str(tmp_path / "data"), "osprey_conversation")
    entries = info["entries"]
    entries[0]["height"] = 44
    _write_json(info["json"], entries)
    with pytest.raises(ShapeMismatchError, match=r"44x52.*40x52.*record '0'"):
        load_source("osprey_conversation", tmp_path / "data", cache_dir=str(tmp_path / "cache"))


def test_more_descriptions_than_regions(tmp_path):
    info = fake_osprey.write(str(tmp_path / "data"), "osprey_detail_description")
    entries = info["entries"]
    entries[0]["description"].append("<region2>: nothing there")
    _write_json(info["json"], entries)
    with pytest.raises(AnnotationError, match="2 descriptions for 1 regions.*record '0'"):
        load_source("osprey_detail_description", tmp_path / "data", cache_dir=str(tmp_path / "cache"))


def test_unknown_refer_split_is_an_error(tmp_path):
    info = fake_refcoco.write(str(tmp_path / "data"), "refcocog")
    with open(info["refs"], "rb") as f:
        refs = pickle.load(f)
    refs[0]["split"] = "testA"  # not a umd split
    with open(info["refs"], "wb") as f:
        pickle.dump(refs, f)
    with pytest.raises(AnnotationError, match="'testA' is not one of refcocog's native splits"):
        load_source("refcocog", tmp_path / "data", cache_dir=str(tmp_path / "cache"))


def test_dam_unsafe_pickle_and_size_mismatch(tmp_path):
    import io
    import tarfile

    from .fakedata._common import compressed_rle, image_bytes

    root = tmp_path / "data" / "describe-anything-dataset" / "PACO" / "images"
    root.mkdir(parents=True)

    def tar(entries_pickle):
        with tarfile.open(root / "00000000.tar", "w") as tf:
            for name, data in [("000000000001.jpg", image_bytes(20, 30)), ("000000000001.pickle", entries_pickle)]:
                ti = tarfile.TarInfo(name)
                ti.size = len(data)
                tf.addfile(ti, io.BytesIO(data))

    class Evil:
        def __reduce__(self):
            return (os.system, ("echo pwned",))

    tar(pickle.dumps([Evil()]))
    with pytest.raises(UnsafePickleError, match=r"00000000\.tar:000000000001\.pickle"):
        load_source("describe_anything", tmp_path / "data", cache_dir=str(tmp_path / "c1"))
    bad = [
        {
            "img_id": "000000000001",
            "ann_id": 5,
            "image": "x.jpg",
            "caption": "c",
            "mask_rle": compressed_rle(np.ones((21, 30), np.uint8)),
        }
    ]
    tar(pickle.dumps(bad))
    with pytest.raises(ShapeMismatchError, match=r"00000000\.tar.*PACO/000000000001/5"):
        load_source("describe_anything", tmp_path / "data", cache_dir=str(tmp_path / "c2"))


def test_errors_are_value_errors_and_unknown_source(tmp_path):
    with pytest.raises(Sa2VAError, match="unknown source 'nope'"):
        load_source("nope", tmp_path)
    with pytest.raises(ValueError, match="osprey_conversation annotation file not found"):
        load_source("osprey_conversation", tmp_path, cache_dir=str(tmp_path / "cache"))


# ------------------------------------------------------------------ caching, packaging


def test_cache_is_reused_and_invalidated_when_the_annotation_changes(tmp_path, monkeypatch):
    info, ds = build(tmp_path, "osprey_conversation")
    calls = []
    import sa2va_hf.sources.osprey as osprey_mod

    orig = osprey_mod.generate
    monkeypatch.setattr(osprey_mod, "generate", lambda *a, **k: (calls.append(1), (yield from orig(*a, **k)))[1])
    again = load_source("osprey_conversation", tmp_path / "data", split="train", cache_dir=str(tmp_path / "cache"))
    assert calls == [] and again["id"] == ds["train"]["id"]
    entries = info["entries"]
    entries[0]["conversations"][1]["value"] = "changed"
    _write_json(info["json"], entries)
    changed = load_source("osprey_conversation", tmp_path / "data", split="train", cache_dir=str(tmp_path / "cache"))
    assert calls and changed[0]["conversations"][1]["value"] == "changed"


def test_builder_version_keys_the_cache(tmp_path):
    fake_osprey.write(str(tmp_path / "data"), "osprey_conversation")
    b = get_builder("osprey_conversation", tmp_path / "data", cache_dir=str(tmp_path / "cache"))
    assert str(b.config.version) in b.cache_dir and str(b.VERSION) in b.cache_dir


def test_loading_scripts_reexport_the_packaged_builders():
    import importlib.util

    from sa2va_hf import builders

    root = os.path.join(os.path.dirname(os.path.dirname(__file__)), "loading_scripts")
    for family, cls in [
        ("osprey", builders.OspreyBuilder),
        ("refcoco", builders.RefCOCOBuilder),
        ("gcg", builders.GCGBuilder),
        ("describe_anything", builders.DescribeAnythingBuilder),
    ]:
        spec = importlib.util.spec_from_file_location(f"ls_{family}", os.path.join(root, f"{family}.py"))
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        assert getattr(mod, cls.__name__) is cls


def test_load_source_works_from_a_built_wheel(tmp_path):
    """Build the wheel, unpack it, and build a source from another directory with only the wheel on the path."""
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    # Build from a copy: setuptools writes build/ and *.egg-info next to the sources it builds.
    src = tmp_path / "src"
    shutil.copytree(os.path.join(repo, "sa2va_hf"), src / "sa2va_hf", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(os.path.join(repo, name), src / name)
    wheels = tmp_path / "wheels"
    r = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(wheels), str(src)],
        capture_output=True,
        text=True,
    )
    if r.returncode != 0:
        pytest.skip(f"cannot build a wheel here: {r.stderr[-500:]}")
    (wheel,) = wheels.glob("sa2va_hf-*.whl")
    site = tmp_path / "site"
    with zipfile.ZipFile(wheel) as z:
        names = z.namelist()
        z.extractall(site)
    assert "sa2va_hf/builders/refcoco.py" in names and "sa2va_hf/sources/refcoco.py" in names
    fake_refcoco.write(str(tmp_path / "data"), "refcoco")
    code = (
        "import sys, sa2va_hf, datasets; datasets.disable_progress_bars();"
        f"assert sa2va_hf.__file__.startswith({str(site)!r}), sa2va_hf.__file__;"
        f"ds = sa2va_hf.load_source('refcoco', {str(tmp_path / 'data')!r}, split='val', cache_dir={str(tmp_path / 'cache')!r});"
        "print(len(ds), ds[0]['id'])"
    )
    env = {**os.environ, "PYTHONPATH": str(site)}
    out = subprocess.run([sys.executable, "-c", code], cwd=str(tmp_path), env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["1", "103"]


def test_gcg_flickr_duplicate_image_id_is_an_error_and_orphan_annotations_are_counted(tmp_path, caplog):
    data = tmp_path / "data"
    info = fake_gcg.write(str(data), "gcg_flickr")
    coco = json.load(open(info["json"]))
    coco["annotations"].append({**coco["annotations"][0], "id": 99999, "image_id": 777})  # no such image
    _write_json(info["json"], coco)
    b = get_builder("gcg_flickr", data, cache_dir=str(tmp_path / "c1"))
    with caplog.at_level("WARNING"):
        b.download_and_prepare()
    assert b.filter_report["annotations without an image (image_id not in images)"] == 1
    assert "1 annotations refer to an image_id not in 'images'" in caplog.text
    coco["images"].append(dict(coco["images"][0]))  # image id 1 twice: two records with one id before
    _write_json(info["json"], coco)
    with pytest.raises(AnnotationError, match=r"image id 1 is not unique.*flickr_mergedGT_GCG_train\.json"):
        load_source("gcg_flickr", data, cache_dir=str(tmp_path / "c2"))


def _dam_tar(tmp_path, members):
    import io
    import tarfile

    root = tmp_path / "data" / "describe-anything-dataset" / "PACO" / "images"
    root.mkdir(parents=True, exist_ok=True)
    with tarfile.open(root / "00000000.tar", "w") as tf:
        for name, payload in members:
            ti = tarfile.TarInfo(name)
            ti.size = len(payload)
            tf.addfile(ti, io.BytesIO(payload))
    return tmp_path / "data"


def _dam_entry(key, ann_id, h=20, w=30):
    from .fakedata._common import compressed_rle

    m = np.zeros((h, w), np.uint8)
    m[2:9, 3:12] = 1
    return {
        "img_id": key,
        "ann_id": ann_id,
        "image": f"{key}.jpg",
        "caption": f"c{ann_id}",
        "mask_rle": compressed_rle(m),
    }


@pytest.mark.parametrize("missing", ["jpg", "pickle"])
def test_dam_sample_missing_a_member_names_tar_and_key(tmp_path, missing):
    from .fakedata._common import image_bytes

    members = {
        "jpg": ("000000000007.jpg", image_bytes(20, 30)),
        "pickle": ("000000000007.pickle", pickle.dumps([_dam_entry("000000000007", 1)])),
    }
    del members[missing]
    # a complete sample after the broken one: the error is about 000000000007, not silently skipped
    ok = [
        ("000000000008.jpg", image_bytes(20, 30)),
        ("000000000008.pickle", pickle.dumps([_dam_entry("000000000008", 2)])),
    ]
    data = _dam_tar(tmp_path, list(members.values()) + ok)
    with pytest.raises(AnnotationError, match=rf"'000000000007' has no \.{missing} member.*00000000\.tar"):
        load_source("describe_anything", data, cache_dir=str(tmp_path / "c"))


def test_dam_members_pair_by_key_in_any_order_and_unused_members_are_not_read(tmp_path, monkeypatch):
    import tarfile

    from .fakedata._common import image_bytes

    jpg7, jpg8 = image_bytes(20, 30, seed=7), image_bytes(20, 30, seed=8)
    data = _dam_tar(
        tmp_path,
        [
            ("000000000007.pickle", pickle.dumps([_dam_entry("000000000007", 1), _dam_entry("000000000007", 3)])),
            ("000000000007.json", b"{}" * 1000),
            ("000000000007.jpg", jpg7),
            ("000000000008.jpg", jpg8),
            ("000000000008.pickle", pickle.dumps([_dam_entry("000000000008", 2)], protocol=2)),
        ],
    )
    read = []
    orig = tarfile.TarFile.extractfile
    monkeypatch.setattr(tarfile.TarFile, "extractfile", lambda self, m: (read.append(m.name), orig(self, m))[1])
    ds = load_source("describe_anything", data, split="train", cache_dir=str(tmp_path / "c"))
    assert ds["id"] == ["PACO/000000000007/1", "PACO/000000000007/3", "PACO/000000000008/2"]
    assert [f[0]["bytes"] for f in raw_frames(ds)] == [jpg7, jpg7, jpg8]
    assert "000000000007.json" not in read and "000000000007.jpg" in read


def test_dam_repeated_ann_id_in_one_pickle_is_an_error(tmp_path):
    from .fakedata._common import image_bytes

    entries = [_dam_entry("000000000007", 4), _dam_entry("000000000007", 4)]
    data = _dam_tar(
        tmp_path, [("000000000007.jpg", image_bytes(20, 30)), ("000000000007.pickle", pickle.dumps(entries))]
    )
    with pytest.raises(AnnotationError, match=r"ann_id 4 appears twice.*PACO/000000000007/4"):
        load_source("describe_anything", data, cache_dir=str(tmp_path / "c"))


def test_refcoco_native_split_without_refs_is_left_out_with_a_warning(tmp_path, caplog):
    info = fake_refcoco.write(str(tmp_path / "data"), "refcoco")
    with open(info["refs"], "rb") as f:
        refs = [r for r in pickle.load(f) if r["split"] != "testB"]
    with open(info["refs"], "wb") as f:
        pickle.dump(refs, f, protocol=2)
    with caplog.at_level("WARNING"):
        dd = load_source("refcoco", tmp_path / "data", cache_dir=str(tmp_path / "cache"))
    assert list(dd) == ["train", "val", "testA"]
    check_against(dd["val"], info["expected"]["val"], "refcoco")
    assert "native split 'testB'" in caplog.text


def test_gcg_refcocog_overlapping_and_repeated_sentences_keep_their_native_spans(tmp_path):
    data = tmp_path / "data"
    info = fake_gcg.write(str(data), "gcg_refcocog")
    entries = json.load(open(info["json"]))
    inner = entries[0]["1000"]
    seg = inner["refs"][0]["segmentation"]
    inner["caption"] = '"A brown dog on the sofa is next to THE SOFA cushion."'
    inner["refs"] = [
        {"sentence": "the sofa", "bbox": None, "segmentation": seg},
        {"sentence": "a brown dog on the sofa", "bbox": None, "segmentation": seg},  # overlaps the first
    ]
    _write_json(info["json"], entries)
    rec = load_source("gcg_refcocog", data, split="train", cache_dir=str(tmp_path / "c"))[0]
    cap = rec["caption"]
    assert cap == "A brown dog on the sofa is next to THE SOFA cushion."
    # first case-insensitive occurrence, untrimmed; trimming overlaps is the transform's job
    assert [(t["text"], t["start"], t["end"]) for t in rec["texts"]] == [
        ("the sofa", 15, 23),
        ("a brown dog on the sofa", 0, 23),
    ]
    assert [t["region_ids"] for t in rec["texts"]] == [[0], [1]]


def test_gcg_flickr_filter_report_survives_a_cache_hit(tmp_path):
    data = tmp_path / "data"
    fake_gcg.write(str(data), "gcg_flickr")
    first = get_builder("gcg_flickr", data, cache_dir=str(tmp_path / "c"))
    first.download_and_prepare()
    again = get_builder("gcg_flickr", data, cache_dir=str(tmp_path / "c"))
    again.download_and_prepare()  # served from the cache: _split_generators does not run
    assert again.filter_report == first.filter_report and again.filter_report["images kept"] == 3
