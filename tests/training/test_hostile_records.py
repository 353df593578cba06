"""Records entering the transform from anywhere (an export edited by hand, Ray, a dict made in a notebook):
a record that is not canonical is a named ``Sa2VAError``, never an ``IndexError`` from deep inside, nor an
allocation the size of its claimed height."""

from __future__ import annotations

import copy

import datasets
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sa2va_hf.data.schema import features
from sa2va_hf.errors import Sa2VAError
from sa2va_hf.training import Sa2VATrainingTransform, lazy_frames

# Fixed examples, no example database in the checkout, and no per-example deadline (no timing asserts).
PROPERTY = settings(
    max_examples=150, deadline=None, database=None, derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)  # fmt: skip


@pytest.fixture(scope="module")
def refcoco_record(built):
    return built("refcoco")[0]


@pytest.fixture(scope="module")
def transform(processors):
    return Sa2VATrainingTransform(processors("qwen"), "v2")


def _edited(record, edit):
    out = copy.deepcopy(record)
    edit(out)
    return out


def _set(path, value):
    def edit(record):
        target = record
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value

    return edit


CASES = {
    "region id past the regions": (_set(("texts", 0, "region_ids"), [9]), r"refers to region 9, but there are"),
    "negative region id": (_set(("texts", 0, "region_ids"), [-1]), r"refers to region -1"),
    "a height of 100000": (
        lambda r: (
            [r.update(height=100000, width=100000)]
            + [rle.update(size=[100000, 100000]) for region in r["regions"] for rle in region["masks"]]
        ),
        r"100000x100000 \(h x w\) = 10000000000 pixels, over the 16777215 a mask can have",
    ),
    "an RLE of another size": (_set(("regions", 0, "masks", 0, "size"), [7, 7]), r"has an RLE of size \[7, 7\]"),
    "a missing column": (lambda r: r.pop("texts"), r"lacks the canonical column\(s\) \['texts'\]"),
    "regions not a list": (_set(("regions",), "abc"), r"regions must be a list, got str"),
    "a region without masks": (lambda r: r["regions"][0].pop("masks"), r"regions\[0\] must be a dict with"),
    "a mask that is a string": (_set(("regions", 0, "masks", 0), "RLE"), r"regions\[0\] masks must be a list of RLE"),
    "an RLE size of strings": (_set(("regions", 0, "masks", 0, "size"), ["1", "2"]), r"masks must be a list of RLE"),
    "region_ids a string": (_set(("texts", 0, "region_ids"), "0"), r"texts\[0\] region_ids must be a list"),
    "a text that is not a string": (_set(("texts", 0, "text"), 5), r"text must be a string, got int"),
    "a mask entry per frame missing": (_set(("regions", 0, "masks"), []), r"region 0 has 0 mask entries for 1"),
    "a conversation turn without value": (
        _set(("conversations",), [{"from": "human"}]),
        r"conversations\[0\] must be a dict with \['from', 'value'\]",
    ),
    "a lone surrogate": (_set(("texts", 0, "text"), "a \ud800 b"), r"text is not valid Unicode"),
    "a video that is a list": (_set(("video",), [1]), r"video must be \{'path', 'bytes'\} or null, got list"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_bad_record_is_a_named_error_at_every_entry(transform, refcoco_record, case):
    edit, match = CASES[case]
    record = _edited(refcoco_record, edit)
    for call in (transform, transform.drop_reason, transform.plan, lambda r: transform.render(r, PLAN)):
        with pytest.raises(Sa2VAError, match=match + r".*record '" + refcoco_record["id"]):
            call(record)


PLAN = {"text_ids": [0] * 5, "question_ids": [0] * 5, "answer_ids": [0] * 5, "frame_ids": [0]}


def test_a_record_read_back_from_an_edited_export_is_refused(transform, refcoco_record, built):
    """Through Arrow, as ``load_dataset`` / Ray give it back (ints are int32, lists are lists)."""
    bad = _edited(refcoco_record, _set(("texts", 0, "region_ids"), [3]))
    bad["frames"] = lazy_frames(built("refcoco"))[0]["frames"]  # as stored: a decoded image may hold no path
    row = datasets.Dataset.from_list([bad], features=features())[0]
    with pytest.raises(Sa2VAError, match=r"refers to region 3, but there are 2 \(record .101.\)"):
        transform(row)


# ------------------------------------------------------------------ property: any mutation, a named error or a sample

_junk = st.one_of(
    st.none(), st.integers(-3, 10**6), st.floats(allow_nan=True), st.text(max_size=5), st.binary(max_size=5),
    st.lists(st.integers(-2, 5), max_size=3), st.dictionaries(st.sampled_from(["size", "counts", "x"]), st.integers()),
)  # fmt: skip
_paths = st.sampled_from(
    [("height",), ("width",), ("texts",), ("regions",), ("conversations",), ("caption",), ("frame_indices",),
     ("video",), ("texts", 0), ("texts", 0, "region_ids"), ("texts", 0, "start"), ("texts", 0, "text"),
     ("regions", 0), ("regions", 0, "masks"), ("regions", 0, "masks", 0), ("regions", 0, "masks", 0, "size"),
     ("regions", 0, "masks", 0, "counts"), ("regions", 0, "id")]
)  # fmt: skip


@PROPERTY
@given(path=_paths, value=_junk)
def test_any_mutated_record_is_refused_by_name_or_builds(transform, refcoco_record, path, value):
    record = _edited(refcoco_record, _set(path, value))
    try:
        if transform.drop_reason(record) is None:
            transform.render(record, transform.plan(record))
    except Sa2VAError as e:
        assert refcoco_record["id"] in str(e) or "record" in str(e)


@pytest.mark.parametrize("segmentation", [[[0, 0, 2, 0, 2, 2]], "abc", 5, {"size": [4, 4]}])
def test_referring_metrics_take_rles_and_name_what_is_not_one(segmentation):
    """A polygon or a string where an RLE goes was a bare AttributeError / KeyError."""
    import numpy as np

    from sa2va_hf import masks
    from sa2va_hf.errors import MaskFormatError
    from sa2va_hf.training.evaluation import referring_metrics

    rle = masks.encode(np.eye(4, dtype=np.uint8))
    for results, targets in (([segmentation], [rle]), ([rle], [segmentation])):
        with pytest.raises(MaskFormatError, match=r"an RLE must be a dict .*record 'r, expression 0'"):
            referring_metrics(
                [{"id": "r", "text_index": 0, "segmentation": results[0]}],
                [{"id": "r", "text_index": 0, "segmentation": targets[0]}],
            )
