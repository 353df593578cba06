import numpy as np
import pytest
from datasets import Features, Image, Value

from sa2va_hf import masks
from sa2va_hf.data.schema import COLUMNS, FEATURES, make_record, make_region, make_text, region_mask, validate_record
from sa2va_hf.errors import AnnotationError, ShapeMismatchError


def test_features_are_the_spec_columns_and_types():
    assert COLUMNS == (
        "id",
        "source",
        "frames",
        "video",
        "frame_indices",
        "height",
        "width",
        "regions",
        "texts",
        "caption",
        "conversations",
    )
    # written with [feature] lists, which datasets 3.x and >= 4 both read as lists of that feature
    rle = {"size": [Value("int32")], "counts": Value("string")}
    expected = Features(
        {
            "id": Value("string"),
            "source": Value("string"),
            "frames": [Image()],
            "video": {"bytes": Value("binary"), "path": Value("string")},
            "frame_indices": [Value("int32")],
            "height": Value("int32"),
            "width": Value("int32"),
            "regions": [{"id": Value("string"), "masks": [rle], "bbox": [Value("float32")], "label": Value("string")}],
            "texts": [
                {
                    "text": Value("string"),
                    "region_ids": [Value("int32")],
                    "start": Value("int32"),
                    "end": Value("int32"),
                }
            ],
            "caption": Value("string"),
            "conversations": [{"from": Value("string"), "value": Value("string")}],
        }
    )
    assert FEATURES == expected
    assert str(FEATURES.arrow_schema.field("regions").type) == (
        "list<item: struct<id: string, masks: list<item: struct<size: list<item: int32>, counts: string>>, "
        "bbox: list<item: float>, label: string>>"
    )


def _rec(**kw):
    m = np.zeros((4, 5), np.uint8)
    m[1:3, 2:4] = 1
    base = dict(
        id=7,
        source="s",
        frames=["/x.jpg"],
        height=4,
        width=5,
        regions=[make_region("a", [masks.encode(m)], [1, 2, 3, 4], "dog")],
        texts=[make_text("dog", [0], 0, 3)],
        caption="dog here",
    )
    base.update(kw)
    return make_record(**base), m


def test_record_roundtrip_through_features():
    rec, m = _rec()
    validate_record(rec)
    enc = FEATURES.encode_example(rec)
    assert enc["frames"] == [{"path": "/x.jpg", "bytes": None}]
    np.testing.assert_array_equal(region_mask(rec, 0), m)
    assert rec["regions"][0]["bbox"] == [1.0, 2.0, 3.0, 4.0]


def test_validate_rejects_dangling_region_ids():
    rec, _ = _rec(texts=[make_text("dog", [1])])
    with pytest.raises(AnnotationError, match="refers to region 1.*record '7'"):
        validate_record(rec, file="f.json")


def test_validate_rejects_rle_of_another_size():
    rec, _ = _rec(height=5)
    with pytest.raises(ShapeMismatchError, match=r"\[4, 5\].*\[5, 5\].*record '7'"):
        validate_record(rec)


def test_validate_rejects_span_outside_caption_and_mask_count():
    rec, _ = _rec(texts=[make_text("dog", [0], 2, 30)])
    with pytest.raises(AnnotationError, match="span"):
        validate_record(rec)
    rec, _ = _rec(frames=["/a.jpg", "/b.jpg"])
    with pytest.raises(AnnotationError, match="2 frames"):
        validate_record(rec)


def test_a_text_only_record_has_no_frame_and_size_zero():
    rec = make_record(id="t", source="s", height=0, width=0, conversations=[{"from": "human", "value": "hi"}])
    assert validate_record(rec)["frames"] == []
    with pytest.raises(ShapeMismatchError, match="height must be a positive int32 \\(0 for a record without frames\\)"):
        validate_record({**rec, "height": 4, "width": 5})
    region = make_region("o", [])
    with pytest.raises(AnnotationError, match="a record with regions or a video needs at least one frame"):
        validate_record({**rec, "regions": [region]})
    with pytest.raises(ShapeMismatchError, match="width must be a positive int32"):
        validate_record(_rec(width=0)[0])


def test_a_video_record_counts_its_frame_indices():
    m = np.zeros((4, 5), np.uint8)
    m[0, 0] = 1
    rle = masks.encode(m)
    region = make_region("o", [rle, None, rle])
    rec = make_record(id="v", source="s", video="/v.mp4", frame_indices=[0, 4, 8], height=4, width=5, regions=[region])
    assert validate_record(rec)["video"] == {"bytes": None, "path": "/v.mp4"}
    enc = FEATURES.encode_example(rec)
    assert enc["frames"] == [] and enc["frame_indices"] == [0, 4, 8]
    with pytest.raises(AnnotationError, match="region 0 has 3 mask entries for 2 frames"):
        validate_record({**rec, "frame_indices": [0, 4]})
    with pytest.raises(AnnotationError, match="frame_indices must increase"):
        validate_record({**rec, "frame_indices": [0, 8, 4]})
    with pytest.raises(AnnotationError, match="frames or a video, not both"):
        validate_record({**rec, "frames": [{"path": "/x.jpg", "bytes": None}]})
    with pytest.raises(AnnotationError, match="frame_indices are given without a video"):
        validate_record({**rec, "video": None, "frames": [{"path": "/x.jpg", "bytes": None}] * 3})
    with pytest.raises(AnnotationError, match="at least one frame"):
        validate_record({**rec, "frame_indices": [], "regions": []})
