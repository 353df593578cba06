"""Upstream's known defects, each with a name: ``Sa2VATrainingTransform(..., fixes={"name", ...})``.

Without fixes a sample is what upstream builds, defects included. Each fix changes one thing, for
the recipes and sources its entry names; docs/upstream.md lists them with the upstream code they fix.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from ..errors import Sa2VAError


@dataclass(frozen=True)
class Fix:
    name: str
    sources: str
    upstream: str
    fixed: str


FIXES = {
    fix.name: fix
    for fix in (
        Fix(
            "osprey_leading_gpt",
            "Osprey (all five files), v1 and v2",
            "a conversation that starts with a gpt turn cannot be trained on: v1 asserts in the dataset; v2 "
            "drops the turn and, with it, the <image> + region prompt it writes into message 0 only if that "
            "message is the user's, so the sample holds pixels but no image tokens and v2's model raises "
            "'Incompatible shapes'. Without the fix such records are refused (SampleDroppedError; filter them "
            "out with transform.filter)",
            "the leading gpt turn(s) are skipped and the image + region prompt open the first user turn",
        ),
        Fix(
            "osprey_image_tag",
            "Osprey (all five files), v1 and v2",
            "every '<' and '>' is deleted from the texts before the image prompt is added, so an '<image>' "
            "written in the conversation stays in the text as the word 'image'",
            "an '<image>' in the conversation (and one newline after it) is removed before the brackets",
        ),
        Fix(
            "mask_dtypes",
            "Osprey and describe-anything, v1 and v2",
            "vp_overall_mask is float32 (torch.Tensor([False, ..., True])); v2's prompt_masks are float32 "
            "(interpolated as float), v1's uint8",
            "vp_overall_mask is bool and prompt_masks uint8, as SPEC §2 (the model casts both to bool)",
        ),
        Fix(
            "refcoco_template",
            "RefCOCO / + / g, v1",
            "ReferSegmDataset replaces the template's instruction with phi3's '<|user|>\\n{input}<|end|>"
            "<|assistant|>\\n' whatever the checkpoint's template (the qwen 1B and internlm2 8B models are "
            "trained on phi3-formatted RefCOCO)",
            "the checkpoint's own template instruction (v1's RefCOCO loop otherwise: first turn with the "
            "tokenizer's special tokens, no separator, no EOS)",
        ),
        Fix(
            "refcoco_sentence_per_sample",
            "RefCOCO / + / g, v1 and v2",
            "mmdet's RefCocoDataset (text_mode='random') picks one sentence per object when the dataset is "
            "built; that sentence is the object's only one for the whole run (each of v1's four RefCOCO "
            "copies, i.e. each repeat, picks its own)",
            "each sample draws each object's sentence anew",
        ),
        Fix(
            "gcg_spans",
            "GCG (all four sets), v1 and v2",
            "overlapping phrase spans nest their <p> tags. RefCOCOg-GCG, v1: each sentence is found in the "
            "lower-cased caption with its original case (a sentence with a capital gets the span [-1, -1]: an "
            "empty '<p>  </p> [SEG]' is written before the caption's last character) and overlaps are trimmed "
            "over the spans in file order, not sorted order (an earlier phrase can end at -1 or before its "
            "start: garbled tags), cutting one character more than the overlap; v2 finds case-insensitively "
            "and does not trim",
            "RefCOCOg-GCG sentences are found case-insensitively; over the sorted spans, one that overlaps "
            "the next ends where the next begins (a phrase left empty is dropped with its mask)",
        ),
        Fix(
            "seg_question_article",
            "RefCOCO / + / g, own data, ReVOS / MeViS / Ref-YTVOS, Ref-SAV (v2), v1 and v2",
            "the SEG question templates write 'the {class_name}' (10 of 16), so a phrase that opens with an "
            "article reads 'Can you segment the the man in red in this image?' ('the a dog', 'the The object')",
            "where the phrase opens with 'the', 'a' or 'an' (any case), the template's 'the ' before it is dropped",
        ),
        Fix(
            "video_distinct_expressions",
            "ReVOS / MeViS / Ref-YTVOS, Ref-SAV, v1 and v2",
            "the 5 expressions (Ref-SAV: objects) of a sample are drawn with replacement in both branches: the "
            "branch for more than 5 calls np.random.choice(n, 5) without replace=False, so a sample may ask for "
            "one expression twice while others of the video go unused",
            "a video with more than 5 expressions gives 5 distinct ones (5 or fewer: with replacement, as upstream)",
        ),
        Fix(
            "video_distinct_frames",
            "ReVOS / MeViS / Ref-YTVOS, Ref-SAV, v1 and v2",
            "frames are drawn without replacement only when the video has more than 6 (select_k + 1): a video of "
            "5 or 6 frames repeats frames",
            "5 distinct frames whenever the video has at least 5 (fewer: with replacement, as upstream)",
        ),
        Fix(
            "video_question_newline",
            "ReVOS / MeViS / Ref-YTVOS, Ref-SAV, Chat-UniVi, v1",
            "the first question follows the last frame's '</img>' on the same line ('</img>Can you segment ...'), "
            "while v2 and predict_forward (inference, both versions) put it on the next line",
            "a newline between the frames and the first question (unless the question already starts with one)",
        ),
        Fix(
            "chat_univi_placeholders",
            "Chat-UniVi, v1 and v2",
            "v1 removes only '<image>' from the questions, so a '<video>' placeholder stays in the text as words; "
            "v2 removes only '<video>': an '<image>' in the first question leaves a blank line after the frames, "
            "one in a later question makes v2 assert (such records are refused)",
            "both '<image>' and '<video>' are removed from every question before the frames are put in front",
        ),
        Fix(
            "chat_univi_short_videos",
            "Chat-UniVi, v1",
            "a video of fewer than 5 frames gives all its frames to the model but its text holds 5 frame strings, "
            "so image tokens and pixels disagree (v1's model warns and misplaces the batch's image embeddings). "
            "Without the fix such records are refused",
            "one frame string per frame given, as v2 writes it",
        ),
    )
}


def check_fixes(fixes: Iterable[str] | None) -> frozenset[str]:
    """The set of fix names; an unknown name is an error listing the known ones."""
    if fixes is None:
        return frozenset()
    if isinstance(fixes, str):
        fixes = [fixes]
    names = frozenset(fixes)
    unknown = sorted(n for n in names if n not in FIXES)
    if unknown:
        raise Sa2VAError(f"unknown fix(es) {unknown}; known fixes: {sorted(FIXES)}")
    return names
