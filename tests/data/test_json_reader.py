"""The streaming JSON array reader: same elements as json.load, one element in memory, shards that reassemble."""

import json

import pytest

from sa2va_hf.data.sources._json import (
    iter_json_array,
    iter_json_object,
    iter_object_shard,
    iter_shard,
    json_array_shards,
    json_object_shards,
    json_object_spans,
    read_json_span,
)
from sa2va_hf.errors import AnnotationError

ITEMS = [{"i": i, "t": "é€😀" * (i % 4), "nested": [{"a": [1, 2, {"b": "]["}]}] * (i % 3)} for i in range(57)]


@pytest.mark.parametrize("chunk_size", [1, 7, 64, 1 << 20])
@pytest.mark.parametrize("indent", [None, 2])
def test_iter_json_array_matches_json_load(tmp_path, chunk_size, indent):
    path = tmp_path / "a.json"
    path.write_text(json.dumps(ITEMS, indent=indent, ensure_ascii=False), encoding="utf-8")
    items = [item for _, item in iter_json_array(path, chunk_size=chunk_size)]
    assert items == ITEMS
    # every offset starts its element: reading from there gives the element again
    for off, item in list(iter_json_array(path, chunk_size=chunk_size))[::9]:
        assert next(iter_json_array(path, start=off, count=1, chunk_size=chunk_size))[1] == item


@pytest.mark.parametrize("max_shards", [1, 2, 5, 64, 100])
def test_shards_reassemble_the_array_in_order(tmp_path, max_shards):
    path = tmp_path / "a.json"
    path.write_text(json.dumps(ITEMS, ensure_ascii=False), encoding="utf-8")
    shards = json_array_shards(path, max_shards=max_shards)
    assert len(shards) == min(max_shards, len(ITEMS))
    got = [pair for s in shards for pair in iter_shard(s)]
    assert got == list(enumerate(ITEMS))


def test_empty_array_and_bom(tmp_path):
    p = tmp_path / "e.json"
    p.write_text(" [ ] ")
    assert list(iter_json_array(p)) == []
    assert json_array_shards(p) == []
    p.write_bytes(b"\xef\xbb\xbf" + json.dumps([{"a": 1}, {"b": 2}]).encode())
    offs = list(iter_json_array(p))
    assert [x for _, x in offs] == [{"a": 1}, {"b": 2}]
    assert next(iter_json_array(p, start=offs[1][0], count=1))[1] == {"b": 2}


@pytest.mark.parametrize("text", ['{"a": 1}', '[{"a": 1}, {"a": ', '[{"a": 1} {"b": 2}]', '[{"a": tru}]', "[1, 2"])
def test_malformed_arrays_name_the_file(tmp_path, text):
    p = tmp_path / "bad.json"
    p.write_text(text)
    with pytest.raises(AnnotationError, match="bad.json"):
        list(iter_json_array(p, chunk_size=3))


def test_stream_holds_one_element_at_a_time(tmp_path):
    """The read buffer never grows to the file: it stays near the largest element."""
    import sa2va_hf.data.sources._json as common

    big = [{"i": i, "pad": "x" * 1000} for i in range(2000)]  # ~2 MB
    p = tmp_path / "big.json"
    p.write_text(json.dumps(big))
    seen_max = 0
    orig = common._DECODER.raw_decode

    class Spy:
        def raw_decode(self, s, idx=0):
            nonlocal seen_max
            seen_max = max(seen_max, len(s))
            return orig(s, idx)

    common._DECODER, saved = Spy(), common._DECODER
    try:
        assert sum(1 for _ in iter_json_array(p, chunk_size=4096)) == 2000
    finally:
        common._DECODER = saved
    assert seen_max < 3 * 4096 + 2100


@pytest.mark.parametrize("reader, text", [("array", "[" + ",".join(["0"] * 300_000) + "]"),
                                          ("object", "{" + ",".join(f'"{i}":0' for i in range(100_000)) + "}")])  # fmt: skip
def test_work_is_linear_in_the_file_not_in_elements_times_file(tmp_path, monkeypatch, reader, text):
    """A 2 MB ``[0,0,...]`` took 14 s (quadratic: each byte offset was counted from the file's
    start). Counted, not timed: characters the reader encodes for offsets and copies on refills."""
    import sa2va_hf.data.sources._json as common

    path = tmp_path / "flat.json"
    path.write_text(text)
    work = 0
    byte_offset, fill = common._Buffer.byte_offset, common._Buffer.fill

    def counted_offset(self, i):
        nonlocal work
        work += max(0, i - self._mark_char)
        return byte_offset(self, i)

    def counted_fill(self, keep_from, min_chars=0):
        nonlocal work
        work += len(self.text) - keep_from
        return fill(self, keep_from, min_chars)

    monkeypatch.setattr(common._Buffer, "byte_offset", counted_offset)
    monkeypatch.setattr(common._Buffer, "fill", counted_fill)
    items = (
        iter_json_array(path, chunk_size=1 << 16) if reader == "array" else iter_json_object(path, chunk_size=1 << 16)
    )
    assert sum(1 for _ in items) == (300_000 if reader == "array" else 100_000)
    assert work <= 3 * len(text)


@pytest.mark.parametrize(
    "data", [b"[" + b"[" * 100_000 + b"]" * 100_000 + b"]", b'[{"a": "ok"}, {"b": "\xff\xfe"}]', b"\xff[1]"]
)
def test_json_nested_too_deep_or_not_utf8_names_the_file(tmp_path, data):
    """Neither a RecursionError nor a UnicodeDecodeError escapes: an AnnotationError naming the file."""
    from sa2va_hf.data.sources._json import load_json

    p = tmp_path / "deep.json"
    p.write_bytes(data)
    with pytest.raises(AnnotationError, match="deep.json"):
        list(iter_json_array(p, chunk_size=5))
    with pytest.raises(AnnotationError, match="deep.json"):
        load_json(p)


# ------------------------------------------------------------------ top-level objects

MEMBERS = {f"k{i}/é": {"i": i, "t": "€😀" * (i % 4), "l": [None, {"a": "}{"}] * (i % 3)} for i in range(41)}


@pytest.mark.parametrize("chunk_size", [1, 7, 64, 1 << 20])
@pytest.mark.parametrize("indent", [None, 2])
def test_iter_json_object_matches_json_load(tmp_path, chunk_size, indent):
    path = tmp_path / "o.json"
    path.write_text(json.dumps(MEMBERS, indent=indent, ensure_ascii=False), encoding="utf-8")
    members = list(iter_json_object(path, chunk_size=chunk_size))
    assert [(m.key, m.value) for m in members] == list(MEMBERS.items())
    raw = path.read_bytes()
    for m in members:  # each span holds exactly the value; each offset starts its member
        assert json.loads(raw[m.start : m.end]) == m.value
        assert raw[m.offset : m.offset + 1] == b'"'
    for m in members[::6]:
        assert next(iter_json_object(path, start=m.offset, count=1, chunk_size=chunk_size)).value == m.value


def test_spans_read_back_by_seeking(tmp_path):
    path = tmp_path / "o.json"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps(MEMBERS, ensure_ascii=False).encode())
    spans = json_object_spans(path)
    assert list(spans) == list(MEMBERS)
    with open(path, "rb") as f:
        for key in reversed(list(MEMBERS)):  # any order: each read seeks
            assert read_json_span(f, spans[key]) == MEMBERS[key]


@pytest.mark.parametrize("max_shards", [1, 3, 64])
def test_object_shards_reassemble_the_object_in_order(tmp_path, max_shards):
    path = tmp_path / "o.json"
    path.write_text(json.dumps(MEMBERS, ensure_ascii=False), encoding="utf-8")
    got = [(k, v) for s in json_object_shards(path, max_shards=max_shards) for _, k, v in iter_object_shard(s)]
    assert got == list(MEMBERS.items())


def test_empty_object(tmp_path):
    p = tmp_path / "e.json"
    p.write_text(" { } ")
    assert list(iter_json_object(p)) == [] and json_object_spans(p) == {} and json_object_shards(p) == []


@pytest.mark.parametrize(
    "text",
    ["[1]", '{"a": 1', '{"a" 1}', '{"a": 1,}', '{"a": 1 "b": 2}', "{1: 2}", '{"a": 1} {"b": 2}', '{"a": tru}'],
)
def test_malformed_objects_name_the_file(tmp_path, text):
    p = tmp_path / "bad.json"
    p.write_text(text)
    with pytest.raises(AnnotationError, match="bad.json"):
        list(iter_json_object(p, chunk_size=3))


def test_a_repeated_key_is_an_error_not_a_lost_value(tmp_path):
    p = tmp_path / "dup.json"
    p.write_text('{"7": [1], "8": [2], "7": [3]}')
    assert [m.key for m in iter_json_object(p)] == ["7", "8", "7"]
    for index in (json_object_spans, json_object_shards):
        with pytest.raises(AnnotationError, match=r"key '7' appears twice.*dup\.json"):
            index(p)


def test_object_stream_holds_one_value_at_a_time(tmp_path):
    import sa2va_hf.data.sources._json as common

    p = tmp_path / "big.json"
    p.write_text(json.dumps({str(i): ["x" * 1000] for i in range(2000)}))  # ~2 MB
    seen_max = 0
    orig = common._DECODER.raw_decode

    class Spy:
        def raw_decode(self, s, idx=0):
            nonlocal seen_max
            seen_max = max(seen_max, len(s))
            return orig(s, idx)

    common._DECODER, saved = Spy(), common._DECODER
    try:
        assert sum(1 for _ in iter_json_object(p, chunk_size=4096)) == 2000
    finally:
        common._DECODER = saved
    assert seen_max < 3 * 4096 + 2100


def test_content_after_an_object_names_the_object(tmp_path):
    p = tmp_path / "two.json"
    p.write_text('{"a": 1} {"b": 2}')
    with pytest.raises(AnnotationError, match=r"content after the end of the top-level JSON object at byte 9"):
        list(iter_json_object(p))


# ------------------------------------------------------------------ numbers across chunks, repeated keys

NUMBERS = [1.5, 2.25, 3e5, 4, -0.125, 1e-7, 12345678901234567890, 6.02e23, 0, -7]


@pytest.mark.parametrize("chunk_size", range(1, 16))
def test_numbers_cut_by_a_chunk_boundary_are_read_whole(tmp_path, chunk_size):
    """A chunk ending in '1.' or '1e' held a shorter valid number: the reader must read on."""
    path = tmp_path / "n.json"
    path.write_text(json.dumps(NUMBERS))
    assert [v for _, v in iter_json_array(path, chunk_size=chunk_size)] == NUMBERS
    obj = tmp_path / "o.json"
    obj.write_text(json.dumps({f"k{i}": v for i, v in enumerate(NUMBERS)}))
    assert [m.value for m in iter_json_object(obj, chunk_size=chunk_size)] == NUMBERS


@pytest.mark.parametrize(
    "text",
    [
        '[{"a": 1, "b": 2, "a": 3}]',  # in an element
        '[{"x": [{"k": 1, "k": 2}]}]',  # deeper
        '{"1000": {"caption": "c", "caption": "d"}}',  # in a member's value
    ],
)
def test_a_key_repeated_inside_an_element_is_an_error(tmp_path, text):
    """json would keep the last value silently (an entry's content under another entry's id)."""
    path = tmp_path / "dup.json"
    path.write_text(text)
    reader = iter_json_array if text.startswith("[") else iter_json_object
    with pytest.raises(AnnotationError, match=r"the key '(a|k|caption)' appears twice in one JSON object.*dup\.json"):
        list(reader(path))


def test_whole_file_reads_refuse_repeated_keys_too(tmp_path):
    from sa2va_hf.data.sources._json import load_json

    path = tmp_path / "instances.json"
    path.write_text('{"images": [], "images": [{"id": 1}]}')
    with pytest.raises(AnnotationError, match=r"instances\.json.*the key 'images' appears twice"):
        load_json(path)
    spans = tmp_path / "spans.json"
    spans.write_text('{"v": {"a": 1, "a": 2}}')
    with open(spans, "rb") as f:
        with pytest.raises(AnnotationError, match=r"the key 'a' appears twice"):
            read_json_span(f, (6, len(spans.read_text()) - 1), file=str(spans))
