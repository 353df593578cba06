from __future__ import annotations

import numpy as np
from datasets import Image as ImageFeature

from sa2va_hf import masks
from sa2va_hf.data.schema import features, record_frames

from ._common import frame_signature


def raw_frames(ds):
    """The frames column without decoding (paths / bytes as stored)."""
    return ds.cast_column("frames", [ImageFeature(decode=False)])["frames"]  # [f]: a list on datasets 3.x and >= 4


def check_against(ds, expected: list[dict], source: str) -> None:
    """Every built record equals the fake writer's expectation, decoded masks included.

    An expected record has ``frame`` (one image: a path, or bytes when embedded), ``frames`` (a
    video's frame paths, in order) or ``video`` + ``frame_indices`` (an mp4 whose frames encode
    their index, ``frame_signature_image``); a region has ``mask`` (one frame) or ``masks`` (one
    array or None per frame).
    """
    assert ds.features == features()
    assert len(ds) == len(expected), (len(ds), [e["id"] for e in expected])
    frames = raw_frames(ds)
    for rec, fr, exp in zip(ds, frames, expected):
        assert rec["id"] == exp["id"]
        assert rec["source"] == source
        assert (rec["height"], rec["width"]) == (exp["height"], exp["width"])
        n_frames = _check_frames(rec, fr, exp)
        assert len(rec["regions"]) == len(exp["regions"]), rec["id"]
        for got, want in zip(rec["regions"], exp["regions"]):
            assert got["id"] == want["id"]
            assert got["label"] == want["label"]
            if want["bbox"] is None:
                assert got["bbox"] is None
            else:
                np.testing.assert_allclose(got["bbox"], want["bbox"], rtol=1e-6)
            want_masks = want["masks"] if "masks" in want else [want["mask"]]
            assert len(got["masks"]) == len(want_masks) == n_frames, (rec["id"], want["id"])
            for k, (rle, mask) in enumerate(zip(got["masks"], want_masks)):
                ctx = f"{rec['id']} region {want['id']} frame {k}"
                if mask is None:
                    assert rle is None, ctx
                    continue
                assert rle is not None, ctx
                assert isinstance(rle["counts"], str) and rle["size"] == [exp["height"], exp["width"]]
                m = masks.decode(rle)
                assert m.dtype == np.uint8 and set(np.unique(m)) <= {0, 1}
                np.testing.assert_array_equal(m, (mask != 0).astype(np.uint8), err_msg=ctx)
        assert rec["texts"] == exp["texts"], rec["id"]
        assert rec["caption"] == exp["caption"]
        assert rec["conversations"] == exp["conversations"]


def _check_frames(rec: dict, raw: list, exp: dict) -> int:
    """The record's frames are the expected ones, in order; returns how many."""
    if exp.get("video") is not None:
        assert rec["video"] == {"path": exp["video"], "bytes": None}
        assert rec["frame_indices"] == exp["frame_indices"] and raw == [] == rec["frames"]
        decoded = record_frames(rec)
        assert [frame_signature(f) for f in decoded] == exp["frame_indices"], rec["id"]
        assert all(f.size == (exp["width"], exp["height"]) for f in decoded)
        return len(exp["frame_indices"])
    assert rec["video"] is None and rec["frame_indices"] == []
    if "frame" in exp:  # one image, or none for a text-only record
        want = [] if exp["frame"] is None else [exp["frame"]]
    else:
        want = exp["frames"]
    assert len(raw) == len(want), rec["id"]
    for stored, w in zip(raw, want):
        if isinstance(w, bytes):
            assert stored["bytes"] == w
        else:
            assert stored["path"] == w and stored["bytes"] is None
    assert all(img.size == (exp["width"], exp["height"]) for img in rec["frames"])
    return len(want)
