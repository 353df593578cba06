"""Hostile and broken input to the mask codec and to image files: a clear error, never a crash.

pycocotools' C code has no bounds checks, so the inputs that used to kill the process run in
a child Python under a memory limit: a regression fails one test instead of killing pytest.
The property tests (hypothesis) pin the codec to pycocotools and to an independent decoder.
"""

from __future__ import annotations

import io
import struct
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from PIL import Image
from pycocotools import mask as mask_utils

import sa2va_hf
from sa2va_hf import ImageLoadError, MaskFormatError, Sa2VAError, masks
from sa2va_hf.image_io import open_image

CHILD_MEMORY = 1 << 30  # bytes of address space for a child: far below what the crashing inputs ask for
# Fixed examples, no example database in the checkout, and no per-example deadline (no timing asserts).
PROPERTY = settings(max_examples=150, deadline=None, database=None, derandomize=True)


def rle_string(runs, pad=()):
    """Compressed RLE counts of ``runs`` as pycocotools' ``rleToString`` writes them.

    An independent reference for the tests; ``pad[i]`` extra characters make number ``i``
    non-canonical (they repeat its sign, so its value is unchanged).
    """
    out = []
    for i, run in enumerate(runs):
        x = run - runs[i - 2] if i > 2 else run
        chars = []
        while True:
            c = x & 0x1F
            x >>= 5
            chars.append(c)
            if x == (-1 if c & 0x10 else 0):
                break
        sign = 0x1F if chars[-1] & 0x10 else 0
        chars += [sign] * (pad[i] if i < len(pad) else 0)
        out += [48 + (c | 0x20) for c in chars[:-1]] + [48 + chars[-1]]
    return bytes(out).decode("ascii")


def runs_of(mask):
    """Uncompressed COCO runs of a 2-D mask (column-major, background first)."""
    flat = np.asarray(mask).flatten(order="F")
    bounds = np.concatenate(([0], np.flatnonzero(np.diff(flat)) + 1, [flat.size]))
    runs = np.diff(bounds).tolist()
    return [0] + runs if flat.size and flat[0] else runs


def paint(runs, h, w):
    """The mask ``runs`` describe, by the definition (runs alternate 0 and 1, column-major)."""
    values = np.arange(len(runs)) % 2
    return np.repeat(values, runs).astype(np.uint8).reshape((h, w), order="F")


def run_isolated(code):
    """Run ``code`` in a fresh Python limited to CHILD_MEMORY, with ``masks`` and ``open_image`` imported."""
    prelude = f"""
        import resource, sys, types
        resource.setrlimit(resource.RLIMIT_AS, ({CHILD_MEMORY}, {CHILD_MEMORY}))
        # Skip sa2va_hf/__init__ (it imports transformers, seconds per child): masks and image_io need only errors.
        package = types.ModuleType("sa2va_hf")
        package.__path__ = {list(sa2va_hf.__path__)!r}
        sys.modules["sa2va_hf"] = package
        from sa2va_hf import masks
        from sa2va_hf.errors import ImageLoadError, MaskFormatError
        from sa2va_hf.image_io import open_image
    """
    script = textwrap.dedent(prelude) + textwrap.dedent(code)
    return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)


# --------------------------------------------------------------------------- crashes

# Each of these killed the process (SIGSEGV, or glibc aborting on a corrupted heap) before the fix.
CRASHERS = {
    "polygon coordinate 2**31": ("masks.to_rle([[0, 0, 2147483648, 0, 0, 10]], 100, 100, **WHERE)", "beyond"),
    "polygon coordinate 1e8": ("masks.to_rle([[0, 0, 1e8, 0, 0, 10]], 100, 100, **WHERE)", "outline too long"),
    "valid RLE of 100000x100000": (  # one run of 10**10 pixels
        "masks.decode({'size': [100000, 100000], 'counts': 'PPigPZ9'}, **WHERE)",
        "over the limit",
    ),
    "uncompressed runs >= 2**29": (
        "masks.to_rle({'size': [1, 15 * 2**30], 'counts': [2**29 * (1 + j % 4) for j in range(12)]}, **WHERE)",
        "over the limit",
    ),
    # pycocotools' encoder writes 6 characters a run into 6 bytes a run, then its NUL: one past.
    "4 runs of 2**24 or more": (
        "masks.to_rle({'size': [1, 2**26 + 1], 'counts': [2**24, 2**25, 2**24, 1]}, **WHERE)",
        "over the limit",
    ),
}


@pytest.mark.parametrize("statement,message", CRASHERS.values(), ids=CRASHERS.keys())
def test_input_that_crashed_pycocotools_is_refused(statement, message):
    result = run_isolated(
        "WHERE = {'file': 'anno.json', 'record': 7}\n"
        f"try:\n    {statement}\nexcept MaskFormatError as e:\n    print('refused:', e)\n"
    )
    assert result.returncode == 0, f"child died (rc {result.returncode}): {result.stderr[-2000:]}"
    assert "refused:" in result.stdout and message in result.stdout, result.stdout + result.stderr
    assert "file 'anno.json', record 7" in result.stdout


def test_a_stack_of_masks_larger_than_memory_is_a_memory_error_not_a_crash():
    # pycocotools decoded the whole stack into one unchecked malloc (70 x 16.7 MB here): SIGSEGV.
    result = run_isolated(
        "empty = {'size': [4096, 4095], 'counts': 'PPlo?'}\n"
        "try:\n    masks.decode_many([empty] * 70, 4096, 4095)\nexcept MemoryError:\n    print('MemoryError')\n"
    )
    assert result.returncode == 0 and "MemoryError" in result.stdout, result.stderr[-2000:]


def test_a_70000_square_polygon_is_refused_not_wrapped_to_32_bits():
    # Before: an RLE whose runs covered 4294920000 (4.9e9 mod 2**32) of 4.9e9 pixels.
    with pytest.raises(MaskFormatError, match=r"70000 x 70000 .*over the limit.*record 3"):
        masks.to_rle([[0, 0, 69999, 0, 69999, 69999, 0, 69999]], 70000, 70000, file="osprey.json", record=3)


# --------------------------------------------------------------------------- silent wrong data


def test_non_canonical_rle_is_re_encoded_from_its_runs():
    # A run written in 7 characters: valid, but pycocotools reads it wrongly and refuses the mask.
    padded = {"size": [20, 20], "counts": "b1f4f4llooooO"}
    canonical = rle_string([50, 150, 150, 50])
    assert canonical == "b1f4f4lL" and masks.rle_counts(padded["counts"]).tolist() == [50, 150, 150, 50]
    assert masks.to_rle(padded) == {"size": [20, 20], "counts": canonical}
    assert masks.to_rle({"size": [20, 20], "counts": padded["counts"].encode()})["counts"] == canonical
    expected = paint([50, 150, 150, 50], 20, 20)
    assert np.array_equal(masks.decode(padded), expected)
    assert np.array_equal(masks.decode_many([padded], 20, 20)[0], expected)
    assert masks.rle_area(padded) == 200


@pytest.mark.parametrize(
    "counts",
    [
        [2**62, 2**62, 2**62, 2**62 + 16],  # uncompressed: the int64 sum wraps around to 16
        rle_string([2**58] * 64 + [16]),  # compressed: 64 runs of 2**58 wrap around, then 16
    ],
    ids=["uncompressed", "compressed"],
)
def test_runs_whose_sum_wraps_around_are_refused(counts):
    with pytest.raises(MaskFormatError, match=r"cover \d{20} pixels.*needs 16.*record 'r'"):
        masks.to_rle({"size": [4, 4], "counts": counts}, file="a.json", record="r")


@pytest.mark.parametrize(
    "counts",
    [[1.9, 4.9], ["1", "4"], [True, 4], [1, 4.0], np.array([True, False, True, True, True])],
    ids=["floats", "strings", "bool", "float", "bool array"],
)
def test_uncompressed_counts_must_be_integers(counts):
    with pytest.raises(MaskFormatError, match=r"integers.*file 'a\.json', record 2"):
        masks.to_rle({"size": [1, 5], "counts": counts}, file="a.json", record=2)


def test_uncompressed_counts_from_numpy_keep_working():
    m = np.zeros((4, 5), np.uint8)
    m[1:3, 1:4] = 1
    for counts in (np.array(runs_of(m)), np.array(runs_of(m), dtype=np.uint32), tuple(runs_of(m))):
        assert masks.to_rle({"size": [4, 5], "counts": counts}) == masks.encode(m)


def test_polygon_coordinates_must_be_numbers():
    for bad in (["0", 0, 5, 0, 5, 5], [True, 0, 5, 0, 5, 5]):
        with pytest.raises(MaskFormatError, match="non-number.*record 1"):
            masks.to_rle([bad], 10, 10, record=1)


# --------------------------------------------------------------------------- sizes

BAD_SIZES = [-1, 2**70, "abc", 10**5000, 2.0, True, None]


@pytest.mark.parametrize("bad", BAD_SIZES, ids=["-1", "2**70", "abc", "5000 digits", "float", "bool", "None"])
def test_bad_rle_size(bad):
    with pytest.raises(MaskFormatError, match=r"mask (size|of).*file 'x\.json', record 'k'"):
        masks.decode({"size": [bad, 4], "counts": "0"}, file="x.json", record="k")


@pytest.mark.parametrize("bad", BAD_SIZES[:-1], ids=["-1", "2**70", "abc", "5000 digits", "float", "bool"])
def test_bad_image_size_for_a_polygon(bad):
    with pytest.raises(MaskFormatError, match=r"mask (size|of).*file 'x\.json', record 'k'"):
        masks.to_rle([[0, 0, 5, 0, 5, 5]], 10, bad, file="x.json", record="k")
    with pytest.raises(MaskFormatError, match=r"file 'x\.json', record 'k'"):
        masks.decode_many([], bad, 10, file="x.json", record="k")


def test_huge_numbers_in_counts_and_coordinates():
    with pytest.raises(MaskFormatError, match="beyond 64 bits.*record 1"):
        masks.decode({"size": [1, 5], "counts": [10**5000, 5]}, record=1)
    with pytest.raises(MaskFormatError, match="beyond.*record 1"):
        masks.decode([[0, 0, 10**5000, 0, 5, 5]], 10, 10, record=1)


def test_mask_pixel_limit_can_be_lowered_not_raised(monkeypatch):
    side = 4096
    assert side * side > masks.MAX_MASK_PIXELS >= 4096 * 4095
    with pytest.raises(MaskFormatError, match="4096 x 4096 pixels is over the limit"):
        masks.encode(np.zeros((side, side), np.uint8), file="m.png")
    monkeypatch.setattr(masks, "MAX_MASK_PIXELS", 2**40)  # no effect: pycocotools cannot encode larger masks
    with pytest.raises(MaskFormatError, match="over the limit of 16777215"):
        masks.decode({"size": [side, side], "counts": rle_string([side * side])})
    monkeypatch.setattr(masks, "MAX_MASK_PIXELS", 100)
    with pytest.raises(MaskFormatError, match="over the limit of 100"):
        masks.decode({"size": [20, 20], "counts": rle_string([400])})
    assert masks.decode({"size": [10, 10], "counts": rle_string([100])}).shape == (10, 10)


# --------------------------------------------------------------------------- polygons outside the image


@pytest.mark.parametrize(
    "polygon",
    [
        [-50.0, -20.0, 150.0, 10.0, 60.0, 130.0],  # every vertex outside, the triangle still covers pixels
        [10.0, 10.0, 2e5, 40.0, 20.0, 70.0],  # a vertex 200000 pixels away: 2 million steps, safe
        [3e7, 3e7, 3e7 + 4, 3e7, 3e7, 3e7 + 4],  # far away and tiny: an empty mask
        [-0.5, -0.5, 100.5, -0.5, 100.5, 80.5, -0.5, 80.5],  # the image's own border
    ],
    ids=["around", "one far vertex", "far and tiny", "border"],
)
def test_polygons_partly_or_wholly_outside_rasterise_exactly_as_pycocotools(polygon):
    expected = mask_utils.merge(mask_utils.frPyObjects([polygon], 80, 100))
    assert masks.to_rle([polygon], 80, 100)["counts"] == expected["counts"].decode("ascii")


def test_polygon_on_an_image_without_pixels_is_the_empty_mask():
    # pycocotools rasterised it into runs that cover pixels the 5x0 image does not have.
    for h, w in [(5, 0), (0, 5), (0, 0)]:
        assert masks.to_rle([[0, 0, 5, 0, 5, 5]], h, w) == masks.encode(np.zeros((h, w), np.uint8))
    assert masks.decode_many([[[0, 0, 5, 0, 5, 5]], {"size": [5, 0], "counts": ""}], 5, 0).shape == (2, 5, 0)


def test_box_of_an_empty_mask_with_a_zero_run_is_zeros():
    assert masks.rle_bbox({"size": [2, 2], "counts": [4]}) == [0.0, 0.0, 0.0, 0.0]
    assert masks.rle_bbox({"size": [2, 2], "counts": [4, 0]}) == [0.0, 0.0, 0.0, 0.0]  # pycocotools: 4294967295
    assert masks.rle_bbox({"size": [2, 3], "counts": [1, 2, 0, 3]}) == [0.0, 0.0, 3.0, 2.0]


# --------------------------------------------------------------------------- every error names file and record

# Only inputs whose regression would be harmless here: the crashing ones run in a child above.
BAD_SEGMENTATIONS = {
    "float counts": {"size": [1, 5], "counts": [1.9, 4.9]},
    "string counts": {"size": [1, 5], "counts": ["1", "4"]},
    "wrapping runs": {"size": [4, 4], "counts": [2**62, 2**62, 2**62, 2**62 + 16]},
    "size -1": {"size": [-1, 4], "counts": "0"},
    "size 2**70": {"size": [2**70, 1], "counts": "0"},
    "size abc": {"size": ["abc", 1], "counts": "0"},
    "size of 5000 digits": {"size": [10**5000, 1], "counts": "0"},
    "counts a dict": {"size": [1, 1], "counts": {"a": 1}},
    "keys of mixed types": {1: 2, "size": [1, 1]},
    "coordinate of 5000 digits": [[0, 0, 10**5000, 0, 5, 5]],
}


@pytest.mark.parametrize("segmentation", BAD_SEGMENTATIONS.values(), ids=BAD_SEGMENTATIONS.keys())
@pytest.mark.parametrize("call", ["to_rle", "decode", "decode_many"])
def test_every_refusal_is_a_value_error_naming_file_and_record(segmentation, call):
    def run():
        if call == "decode_many":
            return masks.decode_many([segmentation], 20, 20, file="anno.json", record="img_9")
        return getattr(masks, call)(segmentation, 20, 20, file="anno.json", record="img_9")

    with pytest.raises(Sa2VAError, match=r"file 'anno\.json', record 'img_9'") as info:
        run()
    assert isinstance(info.value, ValueError)


# --------------------------------------------------------------------------- image files


def dds_with_unknown_pixel_format(path):
    buffer = io.BytesIO()
    Image.new("RGBA", (4, 4)).save(buffer, "DDS")
    data = bytearray(buffer.getvalue())
    struct.pack_into("<I", data, 80, 0)  # pixel format flags: none known (Pillow: NotImplementedError)
    path.write_bytes(bytes(data))
    return path


def test_mutated_dds_is_an_image_load_error(tmp_path):
    path = dds_with_unknown_pixel_format(tmp_path / "texture.dds")
    with pytest.raises(ImageLoadError, match=r"texture\.dds.*cannot be decoded.*pixel format"):
        open_image(path)


def test_mutated_dds_header_is_an_image_load_error_naming_the_record(tmp_path):
    from sa2va_hf.data.sources._images import image_size

    path = dds_with_unknown_pixel_format(tmp_path / "texture.dds")
    with pytest.raises(ImageLoadError, match=r"texture\.dds.*cannot be decoded.*record 4"):
        image_size(str(path), file="anno.json", record=4)


def test_jpeg2000_claiming_gigabytes_is_an_image_load_error(tmp_path):
    pytest.importorskip("PIL.Jpeg2KImagePlugin")
    from PIL import features

    if not features.check("jpg_2000"):
        pytest.skip("Pillow built without OpenJPEG")
    buffer = io.BytesIO()
    Image.new("RGB", (16, 16)).save(buffer, "JPEG2000", no_jp2=True)
    data = bytearray(buffer.getvalue())
    siz = data.index(b"\xff\x51")
    struct.pack_into(">II", data, siz + 6, 65535, 65535)  # image size
    struct.pack_into(">II", data, siz + 22, 65535, 65535)  # tile size
    path = tmp_path / "huge.j2k"
    path.write_bytes(bytes(data))
    with pytest.raises(ImageLoadError, match=r"huge\.j2k.*too large"):
        open_image(path)  # PIL's pixel limit refuses it
    # With PIL's limit switched off (people do), decoding asks for 17 GB: Pillow raises MemoryError.
    result = run_isolated(
        f"""
        from PIL import Image
        Image.MAX_IMAGE_PIXELS = None
        try:
            open_image({str(path)!r})
        except ImageLoadError as e:
            print("refused:", e)
        """
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "refused:" in result.stdout and "huge.j2k" in result.stdout and "too large" in result.stdout


# --------------------------------------------------------------------------- properties

small_masks = st.tuples(st.integers(1, 24), st.integers(1, 24)).flatmap(
    lambda hw: arrays(np.uint8, hw, elements=st.integers(0, 1))
)


@PROPERTY
@given(small_masks)
def test_round_trip_through_every_encoding(mask):
    h, w = mask.shape
    rle = masks.encode(mask)
    assert isinstance(rle["counts"], str) and rle["counts"] == rle_string(runs_of(mask))
    assert np.array_equal(masks.decode(rle), mask)
    as_bytes = {"size": [h, w], "counts": rle["counts"].encode("ascii")}
    assert np.array_equal(masks.decode(as_bytes), mask) and masks.to_rle(as_bytes) == rle
    uncompressed = {"size": [h, w], "counts": runs_of(mask)}
    assert masks.to_rle(uncompressed) == rle and np.array_equal(masks.decode(uncompressed), mask)
    assert masks.rle_counts(rle["counts"]).tolist() == runs_of(mask)


valid_runs = st.lists(st.integers(0, 3000), min_size=1, max_size=12).filter(lambda runs: 0 < sum(runs) <= 20000)


@PROPERTY
@given(valid_runs, st.lists(st.integers(0, 6), max_size=12))
def test_canonicalisation_is_exact_and_idempotent(runs, pad):
    size = [1, sum(runs)]
    canonical = rle_string(runs)
    padded = {"size": size, "counts": rle_string(runs, pad)}
    once = masks.to_rle(padded)
    assert once == {"size": size, "counts": canonical}
    assert masks.to_rle(once) == once
    assert np.array_equal(masks.decode(padded), paint(runs, *size))
    assert np.array_equal(masks.decode(padded), mask_utils.decode({"size": size, "counts": canonical.encode()}))


@PROPERTY
@given(st.lists(st.integers(-40, 120), max_size=10), st.integers(0, 12), st.integers(0, 12))
def test_validation_agrees_with_pycocotools_on_canonical_input(runs, h, w):
    rle = {"size": [h, w], "counts": rle_string(runs)}
    valid = all(r >= 0 for r in runs) and sum(runs) == h * w
    try:
        ours = masks.decode(rle)
    except MaskFormatError:
        ours = None
    assert (ours is not None) == valid
    try:
        theirs = mask_utils.decode({"size": [h, w], "counts": rle["counts"].encode()})
    except ValueError:  # pycocotools' own bound check (runs past the buffer)
        theirs = None
        assert ours is None
    if valid:
        assert np.array_equal(ours, paint(runs, h, w)) and np.array_equal(ours, theirs)
        assert masks.to_rle(rle) == rle


@PROPERTY
@given(st.text(alphabet=[chr(c) for c in range(48, 112)], max_size=24))
def test_any_string_is_refused_or_decoded_by_the_definition(counts):
    try:
        runs = masks.rle_counts(counts).tolist()
    except MaskFormatError:
        return
    rle = {"size": [1, sum(runs)], "counts": counts}
    if min(runs, default=0) < 0 or sum(runs) > masks.MAX_MASK_PIXELS:
        with pytest.raises(MaskFormatError):
            masks.to_rle(rle)
        return
    assert masks.to_rle(rle)["counts"] == rle_string(runs)
    if sum(runs) <= 5000:
        assert np.array_equal(masks.decode(rle), paint(runs, 1, sum(runs)))
