"""The template lists: upstream's order, and the differences between GLaMM's, v1's and v2's lists."""

from __future__ import annotations

from sa2va_hf.training.prompts import GLAMM, RECIPE_PROMPTS, V1, V2


def test_sizes_and_order():
    assert (len(GLAMM.SEG_QUESTIONS), len(V2.SEG_QUESTIONS), len(V1.ANSWER_LIST), len(V2.ANSWER_LIST)) == (16, 16, 5, 5)
    assert (len(V1.GCG_QUESTIONS), len(V2.GCG_QUESTIONS), len(GLAMM.GCG_QUESTIONS)) == (6, 6, 6)
    assert (len(V1.DETAILED_QUESTIONS), len(V2.VP_QUESTIONS)) == (30, 18)
    assert V1.SEG_QUESTIONS[0] == V2.SEG_QUESTIONS[0] == "Can you segment the {class_name} in this image?"
    assert V1.ANSWER_LIST == ("It is [SEG].", "Sure, [SEG].", "Sure, it is [SEG].",
                              "Sure, the segmentation result is [SEG].", "[SEG].")  # fmt: skip
    assert (
        V1.DETAILED_QUESTIONS[-1] == V2.VP_QUESTIONS[-1] == "Examine the region <region> closely and share its details."
    )


def test_lists_share_names_not_contents():
    # v1's RefCOCO reads GLaMM's list, whose entries 4-7 and 12-15 have no final punctuation
    assert V1.SEG_QUESTIONS is GLAMM.SEG_QUESTIONS
    assert GLAMM.SEG_QUESTIONS[4] == "Can you segment the {class_name} in this image"
    assert V2.SEG_QUESTIONS[4] == "Can you segment the {class_name} in this image?"
    assert V2.SEG_QUESTIONS[6] == "What is {class_name} in this image? Please respond with segmentation mask?"
    # v1's GCG questions open with <image> and ask for a brief description; GLaMM's and v2's a detailed one
    assert all(q.startswith("<image>") and "brie" in q for q in V1.GCG_QUESTIONS)
    assert not any("<image>" in q for q in V2.GCG_QUESTIONS + GLAMM.GCG_QUESTIONS)
    assert "of the this image" in GLAMM.GCG_QUESTIONS[1] and "of this image" in V2.GCG_QUESTIONS[1]
    assert V2.GCG_QUESTIONS[2:] == GLAMM.GCG_QUESTIONS[2:]
    # v2's Osprey questions are 18 of v1's 30, in v1's order
    positions = [V1.DETAILED_QUESTIONS.index(q) for q in V2.VP_QUESTIONS]
    assert positions == sorted(positions) == [0, 1, 2, 5, 6, 7, 8, 9, *range(20, 30)]
    assert V1.LIMIT == V2.LIMIT == " Answer the question using a single word or phrase."
    assert V1.REF_SAV_SEG_QUESTIONS == ("Please segment the object according to the description: {class_name}",)
    assert RECIPE_PROMPTS == {"v1": V1, "v2": V2}
