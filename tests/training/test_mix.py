"""Upstream's mixes: each source repeated as its config says, every copy with its own repeat number."""

from __future__ import annotations

import pytest

from sa2va_hf.errors import Sa2VAError
from sa2va_hf.training import UPSTREAM_REPEATS, upstream_mix


def test_v1_and_v2_counts():
    v1, v2 = UPSTREAM_REPEATS["v1"], UPSTREAM_REPEATS["v2"]
    assert (v1["refcoco"], v1["revos"], v1["gcg_grandf"], v1["osprey_short_form"]) == (4, 10, 10, 1)
    assert (v2["refcoco"], v2["refcocog"], v2["gcg_grandf"], v2["gcg_flickr"]) == (5, 4, 50, 5)
    assert "osprey_short_form" not in v2  # v2 trains Osprey's conversation and description files only
    assert UPSTREAM_REPEATS["v2-14b"]["gcg_grandf"] == 100 and UPSTREAM_REPEATS["v2-finetune"] == {"finetune": 100}
    # sa2va_qwen25_*b.py / sa2va_qwen3_4b.py, as their ConcatDataset lists them (no Osprey)
    assert dict(UPSTREAM_REPEATS["v2-qwen"]) == {
        "refcoco": 5, "refcoco_plus": 5, "refcocog": 4, "llava_665k": 1, "revos": 10, "mevis": 4,
        "ref_youtube_vos": 4, "ref_sav": 4, "chat_univi": 1,
        "gcg_refcocog": 10, "gcg_grandf": 100, "gcg_flickr": 10, "gcg_openpsg": 10,
    }  # fmt: skip


def test_upstream_mix(built):
    refcoco, grandf, mine = built("refcoco"), built("gcg_grandf"), built("finetune")
    mix = upstream_mix({"refcoco": refcoco, "gcg_grandf": grandf}, "v1")
    assert len(mix) == 4 * len(refcoco) + 10 * len(grandf)
    assert mix["repeat"][: 4 * len(refcoco)] == [r for r in range(4) for _ in range(len(refcoco))]
    assert mix.filter(lambda s: s == "gcg_grandf", input_columns="source")["repeat"].count(9) == len(grandf)
    with pytest.raises(Sa2VAError, match=r"\['finetune'\] not in the 'v2' mix"):
        upstream_mix({"refcoco": refcoco, "finetune": mine}, "v2")
    own = upstream_mix({"refcoco": refcoco, "finetune": mine}, "v2", repeats={"finetune": 2})
    assert len(own) == 5 * len(refcoco) + 2 * len(mine)
    with pytest.raises(Sa2VAError, match="recipe must be one of"):
        upstream_mix({"refcoco": refcoco}, "v3")
