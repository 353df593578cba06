from __future__ import annotations

import numpy as np
from datasets import Image as ImageFeature

from sa2va_hf import masks
from sa2va_hf.data.schema import features


def raw_frames(ds):
    """The frames column without decoding (paths / bytes as stored)."""
    return ds.cast_column("frames", [ImageFeature(decode=False)])["frames"]  # [f]: a list on datasets 3.x and >= 4


def check_against(ds, expected: list[dict], source: str) -> None:
    """Every built record equals the fake writer's expectation, decoded masks included."""
    assert ds.features == features()
    assert len(ds) == len(expected), (len(ds), [e["id"] for e in expected])
    frames = raw_frames(ds)
    for rec, fr, exp in zip(ds, frames, expected):
        assert rec["id"] == exp["id"]
        assert rec["source"] == source
        assert rec["video"] is None and rec["frame_indices"] == []
        assert (rec["height"], rec["width"]) == (exp["height"], exp["width"])
        if exp["frame"] is None:  # a text-only record
            assert fr == [] and (rec["height"], rec["width"]) == (0, 0)
        elif isinstance(exp["frame"], bytes):
            assert len(fr) == 1 and fr[0]["bytes"] == exp["frame"]
        else:
            assert len(fr) == 1 and fr[0]["path"] == exp["frame"] and fr[0]["bytes"] is None
        if exp["frame"] is not None:
            assert rec["frames"][0].size == (exp["width"], exp["height"])
        assert len(rec["regions"]) == len(exp["regions"]), rec["id"]
        for got, want in zip(rec["regions"], exp["regions"]):
            assert got["id"] == want["id"]
            assert got["label"] == want["label"]
            if want["bbox"] is None:
                assert got["bbox"] is None
            else:
                np.testing.assert_allclose(got["bbox"], want["bbox"], rtol=1e-6)
            assert len(got["masks"]) == 1
            rle = got["masks"][0]
            assert isinstance(rle["counts"], str) and rle["size"] == [exp["height"], exp["width"]]
            m = masks.decode(rle)
            assert m.dtype == np.uint8 and set(np.unique(m)) <= {0, 1}
            np.testing.assert_array_equal(m, (want["mask"] != 0).astype(np.uint8), err_msg=f"{rec['id']} {want['id']}")
        assert rec["texts"] == exp["texts"], rec["id"]
        assert rec["caption"] == exp["caption"]
        assert rec["conversations"] == exp["conversations"]
