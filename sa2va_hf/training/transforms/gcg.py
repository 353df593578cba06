"""GCG (RefCOCOg-GCG, GranD-f, OpenPSG, Flickr30k) -> the sample of upstream's grounded-caption classes.

v1: ``RefCOCOgGCGDataset`` / ``GranDfGCGDataset`` / ``OpenPsgGCGDataset`` / ``FlickrGCGDataset``
(``projects/llava_sam2/datasets/GCG_Dataset.py`` + ``gcg_process.py``); v2: ``Sa2VA05GCGDataset``
(``projects/sa2va/datasets/sa2va_data_05_gcg.py``).

One turn: a GCG question (v1: ``gcg_process.GCG_QUESTIONS``, which start with ``<image>``; v2:
``<image>\\n`` + ``common.GCG_QUESTIONS``), answered by the caption with every grounded phrase
``[s, e)`` rewritten as ``<p> phrase </p> [SEG]``; ``masks`` one per phrase, in span order;
``g_pixel_values``; dynamic tiles. Phrases are sorted by span start (ties keep file order) and tagged
from the last to the first.

* RefCOCOg-GCG: the caption (``strip('"').strip()``, as the record keeps it) is **lower-cased**, and
  a ref counts when its sentence, lower-cased, is in it. v1 then locates the sentence with its
  original case (``-1`` when it has a capital: span ``[-1, -1]``) and trims overlapping spans over
  the *unsorted* list (``end = next start - 1``); v2 locates it lower-cased and does not trim.
* GranD-f / OpenPSG: the record's spans (``token_positives``) into the caption as stored.
* Flickr: each annotation's first ``tokens_positive`` span (the region's first text), caption as in
  the file.
* v1 keeps the answer as it is, v2 strips it; v1 encodes with xtuner's template_map_fn + encode, as v2.
* Overlapping spans nest their tags (v1's RefCOCOg-GCG trimming garbles them further). The
  ``gcg_spans`` fix, for all four sets: RefCOCOg-GCG sentences located case-insensitively, and over the
  sorted spans one that overlaps the next ends where the next begins (one left empty goes, with its mask).

``plan["text_ids"]`` lists the grounded phrases in file order (the answer orders them by span).
"""

from __future__ import annotations

from ...errors import PlanError
from ...tokens import IMAGE_PLACEHOLDER
from ..plan import draw, template
from .base import FamilyTransform, SampleSpec, base_plan, fold_v1, fold_v2, refuse, texts_of_region, where


def tag_caption(caption: str, spans: list[list[int]]) -> str:
    """Upstream's ``tag_caption``: from the last start to the first, ``<p> {phrase} </p> [SEG]`` around each span."""
    for start, end in sorted(spans, key=lambda x: x[0], reverse=True):
        caption = f"{caption[:start]}<p> {caption[start:end]} </p> [SEG]{caption[end:]}"
    return caption


def trim_v1(spans: list[list[int]]) -> None:
    """v1 ``refcocog_parse_annotations``: over the list as it is (file order, not sorted), an earlier
    span reaching the start of a later one ends one before it; in place, as upstream edits the lists
    its sorted copy shares."""
    for i in range(len(spans)):
        for j in range(i + 1, len(spans)):
            if spans[i][1] >= spans[j][0]:
                spans[i][1] = spans[j][0] - 1
                break


def trim_sorted(spans: list[list[int]], order: list[int]) -> list[int]:
    """The ``gcg_spans`` fix: over sorted spans, one that overlaps the next ends where the next begins;
    returns ``order`` without the spans that end up empty."""
    for a, b in zip(order, order[1:]):
        spans[a][1] = min(spans[a][1], spans[b][0])
    return [i for i in order if spans[i][1] > spans[i][0]]


class GCGTransform(FamilyTransform):
    families = ("gcg",)

    def plan(self, record, rng, t) -> dict:
        reason = self._refusal(record)
        if reason is not None:
            raise refuse(record, reason)
        return base_plan(_phrases(record), [draw(rng.sample, len(t.prompts.GCG_QUESTIONS))], [None])

    def drop_reason(self, record, t) -> str | None:
        return self._refusal(record)

    def data_texts(self, record, t) -> list[str]:
        """The caption the answer is made of (RefCOCOg-GCG's lower-cased); the phrases are parts of it."""
        if record["caption"] is None:
            return []
        return [record["caption"].lower() if record["source"] == "gcg_refcocog" else record["caption"]]

    @staticmethod
    def _refusal(record) -> str | None:
        if record["caption"] is None:
            return "no caption"
        phrases = _phrases(record)
        if not phrases:
            return "no grounded phrase (v1 trains on record 0 instead, v2 draws another record)"
        if record["source"] != "gcg_refcocog" and any(record["texts"][k]["start"] is None for k in phrases):
            return "a grounded phrase whose span lies outside the caption"
        return None

    def spec(self, record, plan, t) -> SampleSpec:
        reason = self._refusal(record)
        if reason is not None:
            raise refuse(record, reason)
        if len(plan["question_ids"]) != 1:
            raise PlanError(f"a GCG plan has one question id{where(record)}")
        ids = sorted(plan["text_ids"])  # file order
        texts = [record["texts"][k] for k in ids]
        fixed = "gcg_spans" in t.fixes
        if record["source"] == "gcg_refcocog":
            caption = record["caption"].lower()
            spans = []
            for text in texts:
                phrase = text["text"] if t.recipe == "v1" and not fixed else text["text"].lower()
                start = caption.find(phrase)
                spans.append([start, start + len(phrase) if start != -1 else -1])
        else:
            caption = record["caption"]
            spans = [[text["start"], text["end"]] for text in texts]
        order = sorted(range(len(spans)), key=lambda i: spans[i][0])
        if fixed:
            order = trim_sorted(spans, order)
        elif record["source"] == "gcg_refcocog" and t.recipe == "v1":
            trim_v1(spans)
        answer = tag_caption(caption, [spans[i] for i in order])
        question = template(t.prompts.GCG_QUESTIONS, plan["question_ids"][0], "question", where(record)).strip()
        if t.recipe == "v1":
            turns = fold_v1([{"from": "human", "value": question}, {"from": "gpt", "value": answer}])
        else:
            messages = [
                {"from": "human", "value": IMAGE_PLACEHOLDER + "\n" + question},
                {"from": "gpt", "value": answer},
            ]
            turns = fold_v2(messages, True, record)
        return SampleSpec(
            turns=turns,
            frames=[0],
            mask_groups=[list(texts[i]["region_ids"]) for i in order],
        )


def _phrases(record) -> list[int]:
    """The texts upstream grounds, in file order: each region's first text (RefCOCOg-GCG: when the
    sentence, lower-cased, is in the lower-cased caption)."""
    out = []
    caption = (record["caption"] or "").lower()
    for region in range(len(record["regions"])):
        texts = texts_of_region(record, region)
        if not texts:
            continue
        k = texts[0]
        if record["source"] == "gcg_refcocog" and record["texts"][k]["text"].lower() not in caption:
            continue
        out.append(k)
    return out


TRANSFORM = GCGTransform()
