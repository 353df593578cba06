"""The mask module: polygons, uncompressed and compressed RLE in; binary masks and str-RLE out."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageDraw
from pycocotools import mask as mask_utils

from sa2va_hf import MaskFormatError, ShapeMismatchError, masks


def random_mask(h, w, seed=0):
    rng = np.random.default_rng(seed)
    m = np.zeros((h, w), dtype=np.uint8)
    for _ in range(4):
        y, x = rng.integers(0, h), rng.integers(0, w)
        m[y : y + rng.integers(1, h + 1), x : x + rng.integers(1, w + 1)] = 1
    return m


def raster_polygon(points, h, w):
    """Independent rasterization, only used to check 'merge' semantics loosely."""
    im = Image.new("L", (w, h))
    ImageDraw.Draw(im).polygon(points, fill=1)
    return np.asarray(im)


class TestEncodeDecode:
    @pytest.mark.parametrize("h,w,seed", [(1, 1, 0), (7, 13, 1), (480, 640, 2), (3, 2000, 3), (2000, 3, 4)])
    def test_round_trip_and_str_counts(self, h, w, seed):
        m = random_mask(h, w, seed)
        rle = masks.encode(m)
        assert isinstance(rle["counts"], str) and rle["counts"].isascii()
        assert rle["size"] == [h, w]
        assert np.array_equal(masks.decode(rle), m)
        assert masks.decode(rle).dtype == np.uint8

    def test_encode_accepts_any_layout_and_dtype(self):
        m = random_mask(30, 40)
        expected = masks.encode(m)
        assert masks.encode(np.ascontiguousarray(m.astype(bool))) == expected
        assert masks.encode(m.astype(np.float32) * 255) == expected
        assert masks.encode(np.asfortranarray(m)) == expected
        assert masks.encode(m.T.copy().T) == expected

    def test_encode_matches_pycocotools_bytes(self):
        m = random_mask(50, 60, 5)
        assert masks.encode(m)["counts"] == mask_utils.encode(np.asfortranarray(m))["counts"].decode("ascii")

    def test_encode_rejects_non_2d(self):
        with pytest.raises(ShapeMismatchError, match=r"\(2, 3, 4\)"):
            masks.encode(np.zeros((2, 3, 4)))

    def test_bytes_counts_from_pickles(self):
        m = random_mask(20, 30, 6)
        raw = mask_utils.encode(np.asfortranarray(m))  # counts are bytes, as in mask_dict.pkl
        assert isinstance(raw["counts"], bytes)
        assert np.array_equal(masks.decode(raw), m)
        assert masks.to_rle(raw) == masks.encode(m)

    def test_uncompressed_rle(self):
        m = random_mask(25, 35, 7)
        flat = m.flatten(order="F")
        change = np.flatnonzero(np.diff(flat)) + 1
        bounds = np.concatenate(([0], change, [flat.size]))
        runs = np.diff(bounds).tolist()
        if flat[0] == 1:
            runs = [0] + runs
        unc = {"size": [25, 35], "counts": runs}
        assert np.array_equal(masks.decode(unc), m)
        assert masks.to_rle(unc) == masks.encode(m)

    def test_rle_counts_parser_matches_pycocotools(self):
        for seed in range(20):
            m = random_mask(64, 48, seed)
            rle = masks.encode(m)
            runs = masks.rle_counts(rle["counts"])
            assert int(runs.sum()) == 64 * 48
            # Re-encode the parsed runs as uncompressed RLE: pycocotools must give the same string.
            again = mask_utils.frPyObjects({"size": [64, 48], "counts": runs.tolist()}, 64, 48)
            assert again["counts"].decode("ascii") == rle["counts"]

    def test_area_and_bbox_without_decoding(self):
        m = np.zeros((40, 50), np.uint8)
        m[5:15, 10:30] = 1
        rle = masks.encode(m)
        assert masks.rle_area(rle) == 200
        assert masks.rle_bbox(rle) == [10.0, 5.0, 20.0, 10.0]


class TestPolygons:
    def test_parts_are_merged_into_one_binary_mask(self):
        h, w = 100, 120
        a = [10.0, 10.0, 60.0, 10.0, 60.0, 60.0, 10.0, 60.0]
        b = [40.0, 40.0, 100.0, 40.0, 100.0, 90.0, 40.0, 90.0]  # overlaps a
        merged = masks.decode([a, b], h, w)
        only_a = masks.decode([a], h, w)
        only_b = masks.decode([b], h, w)
        assert merged.max() == 1  # upstream sums overlaps into 2; we keep it binary
        assert np.array_equal(merged, only_a | only_b)
        # pycocotools rasterization agrees closely with a plain polygon fill
        assert np.mean(only_a != raster_polygon(a, h, w)) < 0.05

    def test_polygon_to_rle_equals_pycocotools_merge(self):
        poly = [[5.5, 3.0, 40.0, 8.0, 22.0, 30.0], [50.0, 50.0, 70.0, 52.0, 60.0, 75.0, 49.0, 70.0]]
        expected = mask_utils.merge(mask_utils.frPyObjects(poly, 80, 90))
        assert masks.to_rle(poly, 80, 90)["counts"] == expected["counts"].decode("ascii")

    @pytest.mark.parametrize(
        "bad,message",
        [
            ([[1.0, 2.0, 3.0, 4.0]], "4 numbers"),
            ([[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]], "7 numbers"),
            ([], "empty polygon"),
            ([1.0, 2.0, 3.0, 4.0, 5.0, 6.0], "list of"),
            ([[1.0, "a", 3.0, 4.0, 5.0, 6.0]], "non-number"),
            ([[1.0, float("nan"), 3.0, 4.0, 5.0, 6.0]], "non-finite"),
        ],
    )
    def test_degenerate_polygons_are_refused(self, bad, message):
        with pytest.raises(MaskFormatError, match=message):
            masks.decode(bad, 10, 10, file="osprey.json", record=17)

    def test_error_names_file_and_record(self):
        with pytest.raises(MaskFormatError, match=r"file 'anno\.json', record 'img_3'"):
            masks.to_rle([[0.0, 0.0, 1.0, 1.0]], 10, 10, file="anno.json", record="img_3")

    def test_polygon_needs_image_size(self):
        with pytest.raises(MaskFormatError, match="height and width"):
            masks.decode([[0.0, 0.0, 5.0, 0.0, 5.0, 5.0]])


class TestBadRLE:
    def test_size_disagreeing_with_record(self):
        rle = masks.encode(np.zeros((10, 20), np.uint8))
        with pytest.raises(ShapeMismatchError, match=r"\[10, 20\].*\[20, 10\].*record 5"):
            masks.to_rle(rle, 20, 10, record=5)

    @pytest.mark.parametrize(
        "rle,message",
        [
            ({"size": [4, 4], "counts": "zz"}, "alphabet"),
            ({"size": [4, 4], "counts": "0"}, "cover 0 pixels"),
            ({"size": [4, 4], "counts": "`"}, "middle of a number"),
            ({"size": [4, 4], "counts": [3, 20]}, "cover 23 pixels"),
            ({"size": [4, 4], "counts": [3, -1, 14]}, "negative"),
            ({"size": [4], "counts": "0"}, "size"),
            ({"size": [4, 4], "counts": 12}, "counts"),
            ({"counts": "0"}, "needs 'size'"),
            ({"size": [2, 2], "counts": "ÿ"}, "corrupt"),
        ],
    )
    def test_corrupt_rle_never_reaches_pycocotools(self, rle, message):
        with pytest.raises(MaskFormatError, match=message):
            masks.decode(rle)

    def test_not_a_segmentation(self):
        with pytest.raises(MaskFormatError, match="polygon list or an RLE"):
            masks.decode("a string", 3, 3)

    def test_errors_are_value_errors(self):
        with pytest.raises(ValueError):
            masks.decode({"size": [1, 1], "counts": "zz"})


def test_decode_many_stacks_and_handles_empty():
    a = random_mask(12, 9, 1)
    b = random_mask(12, 9, 2)
    out = masks.decode_many([masks.encode(a), masks.encode(b)], 12, 9)
    assert out.shape == (2, 12, 9) and out.flags.c_contiguous
    assert np.array_equal(out[0], a) and np.array_equal(out[1], b)
    assert masks.decode_many([], 12, 9).shape == (0, 12, 9)


class TestMaskUnions:
    """``MaskUnions`` writes the OR of ``decode`` of its parts, whatever the layout of the runs."""

    @staticmethod
    def parts(h, w, seed):
        """Masks of every kind of run layout: boxes (runs inside a column), tall shapes whose runs cross columns,
        full and empty masks, one pixel; as compressed RLE, uncompressed RLE and polygons."""
        rng = np.random.default_rng(seed)
        out = [masks.encode(random_mask(h, w, seed)), masks.encode(np.ones((h, w), np.uint8)),
               masks.encode(np.zeros((h, w), np.uint8))]  # fmt: skip
        one = np.zeros((h, w), np.uint8)
        one[rng.integers(0, h), rng.integers(0, w)] = 1
        out.append(masks.encode(one))
        tall = np.zeros((h, w), np.uint8)
        tall[:, rng.integers(0, w) :] = 1  # whole columns: one run across them
        out.append({"size": [h, w], "counts": mask_utils.encode(np.asfortranarray(tall))["counts"]})  # bytes
        runs = masks.rle_counts(masks.encode(random_mask(h, w, seed + 1))["counts"])
        out.append({"size": [h, w], "counts": [int(r) for r in runs]})  # uncompressed
        out.append([[0.5, 0.5, w - 0.5, 0.2 * h, 0.3 * w, h - 0.5]])  # a polygon
        return out

    @pytest.mark.parametrize("h,w", [(1, 1), (1, 9), (9, 1), (7, 13), (48, 64), (3, 200), (200, 3)])
    def test_every_union_equals_the_or_of_decode(self, h, w):
        parts = self.parts(h, w, h * 31 + w)
        decoded = [masks.decode(p, h, w) for p in parts]
        unions = masks.MaskUnions(h, w)
        rng = np.random.default_rng(h + w)
        groups = [[k] for k in range(len(parts))] + [[]] + [
            list(rng.choice(len(parts), size=rng.integers(2, 4), replace=False)) for _ in range(12)
        ]
        groups += groups[:3]  # unions already written: copied
        out = np.full((len(groups), h, w), 7, dtype=np.uint8)  # every value must be written
        for i, group in enumerate(groups):
            unions.write(out[i], [(k, parts[k]) for k in group])
        for i, group in enumerate(groups):
            want = np.zeros((h, w), np.uint8)
            for k in group:
                want |= decoded[k]
            assert np.array_equal(out[i], want), (h, w, group)

    def test_each_key_is_decoded_once(self, monkeypatch):
        calls = []
        real = masks.segmentation_runs
        monkeypatch.setattr(masks, "segmentation_runs", lambda *a, **k: calls.append(1) or real(*a, **k))
        rle = masks.encode(random_mask(20, 30))
        unions = masks.MaskUnions(20, 30)
        out = np.empty((3, 20, 30), np.uint8)
        unions.write(out[0], [("a", rle)])
        unions.write(out[1], [("a", rle), ("b", rle)])
        unions.write(out[2], [("b", rle), ("a", rle)])
        assert len(calls) == 2
        assert (out == masks.decode(rle)).all()

    def test_decode_unions_holds_two_masks_not_every_part(self):
        """A union of 40 regions used to keep all 40 decoded masks until it was written; now a part's pixels go
        once OR-ed in (and a key once no later union names it): the peak is about the output and two masks."""
        import tracemalloc

        h, w = 300, 400
        parts = [(k, masks.encode(random_mask(h, w, k))) for k in range(40)]
        unions = [parts, parts[:3], parts[38:]]  # keys named again later: kept until their last union (5)
        want = np.stack([np.bitwise_or.reduce([masks.decode(r) for _, r in group]) for group in unions])
        tracemalloc.start()
        try:
            got = masks.decode_unions(unions, h, w)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        np.testing.assert_array_equal(got, want)
        assert peak < got.nbytes + 12 * h * w, peak  # was 40 masks beyond the output

    def test_checks_as_decode_does(self):
        unions = masks.MaskUnions(4, 5, record="r7")
        with pytest.raises(ShapeMismatchError, match="r7"):
            unions.write(np.empty((4, 5), np.uint8), [(0, masks.encode(np.zeros((5, 4), np.uint8)))])
        with pytest.raises(MaskFormatError, match="r7"):
            unions.write(np.empty((4, 5), np.uint8), [(1, {"size": [4, 5], "counts": [3, 2]})])
        with pytest.raises(ShapeMismatchError, match="cannot be written"):
            unions.write(np.empty((5, 4), np.uint8), [])
