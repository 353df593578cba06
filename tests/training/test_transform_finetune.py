"""Your own data (``finetune``, ``folder``): upstream v2's ``Sa2VAFinetuneDataset`` sample."""

from __future__ import annotations

import numpy as np
import pytest

from sa2va_hf.errors import SampleDroppedError
from sa2va_hf.training import Sa2VATrainingTransform

from .expected import decoded, img, sample_runs, tiles, xtuner_runs


@pytest.mark.parametrize("recipe", ["v1", "v2"])
def test_finetune_every_object_one_turn_v2_layout(built, processors, recipe):
    record = built("finetune")[1]  # 30 x 36, objects "The object number 0 of image 1." and "... 1 of image 1."
    t = Sa2VATrainingTransform(processors("phi3"), recipe)
    plan = t.plan(record)
    assert plan["text_ids"] == [0, 1] and len(plan["question_ids"]) == len(plan["answer_ids"]) == 2
    plan = {**plan, "question_ids": [6, 11], "answer_ids": [4, 1]}
    # v2's SEG_QUESTIONS 6 and 11 (6 ends in "mask?", unlike GLaMM's), the text lower-cased, final "." removed
    expected = xtuner_runs(
        "phi3",
        [
            (img(tiles(30, 36)) + "\nWhat is the object number 0 of image 1 in this image? Please respond with "
             "segmentation mask?", "[SEG]."),
            ("Can you highlight the the object number 1 of image 1 in this image with a segmentation mask?", "Sure, [SEG]."),
        ],
    )  # fmt: skip
    assert t.render(record, plan) == expected
    sample = t.build(record, plan)
    assert sample_runs(t.processor.tokenizer, sample) == expected
    assert set(sample) == {"input_ids", "labels", "pixel_values", "num_patches", "g_pixel_values", "masks", "plan"}
    assert all(np.array_equal(sample["masks"][k], decoded(record, k)) for k in range(2))


def test_folder_objects_with_several_texts_speak_with_one_per_sample(built, processors):
    record = built("folder")[0]  # kitchen: "the kettle"; mug_2: "a blue mug" / "the mug on the right"
    t = Sa2VATrainingTransform(processors("qwen"), "v2")
    seen = set()
    for seed in range(12):
        plan = t.plan(record, rng=seed)
        assert plan["text_ids"][0] == 0 and plan["text_ids"][1] in (1, 2)
        seen.add(plan["text_ids"][1])
    assert seen == {1, 2}
    assert len(t(record)["masks"]) == 2


def test_an_object_without_text_is_refused(built, processors):
    record = built("folder")[0]
    bare = {**record, "texts": [x for x in record["texts"] if x["region_ids"] != [0]]}
    t = Sa2VATrainingTransform(processors("qwen"), "v2")
    assert t.drop_reason(bare) == "object 'kettle' has no text of its own"
    with pytest.raises(SampleDroppedError, match="kettle"):
        t(bare)
