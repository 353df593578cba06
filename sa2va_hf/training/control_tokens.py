"""Control tokens written in data text, and ``[SEG]`` tokens against masks: what the transform refuses, and
how data text is read as plain text (``control_tokens="plain"``).

*Control tokens* are the processor's tokenizer's special and added tokens (chat markers such as
``<|im_end|>``, ``<img>``, ``</img>``, ``<IMG_CONTEXT>``, ``[SEG]``, ``<p>``, ``</p>``, ``<vp>``, ``</vp>``,
``<|endoftext|>`` ...), not the placeholders a source format itself uses (``<image>``, ``<video>``). Upstream
tokenizes a record's texts (captions, expressions, conversations) with the template around them, so one
written in data text becomes that token: ``<|im_end|>\\n<|im_start|>system`` ends the labelled answer and
opens a turn, a ``[SEG]`` in a caption takes the mask of the phrase after it. What a family reads of a
record (its :meth:`~sa2va_hf.training.transforms.base.FamilyTransform.data_texts`, after its own string steps:
Osprey deletes ``<`` / ``>``, RefCOCO lower-cases ...) is scanned for them.

Plain reading: each occurrence in data text is marked (:func:`mark_record`: two noncharacters around it,
which no string step of a family touches) before the family lays the sample out; the text is then tokenized
as the tokenizer always does, and each control token that came from data is replaced by its own text
tokenized with the special tokens split (:func:`encode_marked`). Records without control tokens are not
touched: their samples are upstream's, bit for bit.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ..errors import Sa2VAError
from ..tokens import IMAGE_PLACEHOLDER, SEG_TOKEN

__all__ = [
    "CONTROL_TOKEN_POLICIES",
    "SEG_MISMATCH_POLICIES",
    "MARK_OPEN",
    "MARK_CLOSE",
    "control_token_list",
    "encode_marked",
    "found_tokens",
    "mark_record",
    "strip_marks",
]

#: ``control_tokens=``: refuse such records (default), tokenize them as upstream, or read data text as plain text
CONTROL_TOKEN_POLICIES = ("error", "upstream", "plain")
#: ``seg_mismatch=``: refuse a sample whose ``[SEG]`` tokens are not one per mask (default), or train it as upstream
SEG_MISMATCH_POLICIES = ("error", "upstream")
#: the placeholders source formats write, which are not control tokens of the data
FORMAT_PLACEHOLDERS = (IMAGE_PLACEHOLDER, "<video>")
#: around a control token of data text, for ``control_tokens="plain"`` (Unicode noncharacters: for internal use)
MARK_OPEN, MARK_CLOSE = "\ufdd0", "\ufdd1"


def control_token_list(tokenizer: Any) -> tuple[str, ...]:
    """The tokenizer's special and added tokens, longest first, without the source formats' placeholders."""
    tokens = set(tokenizer.get_added_vocab()) | set(getattr(tokenizer, "all_special_tokens", ()))
    return tuple(sorted((t for t in tokens if t and t not in FORMAT_PLACEHOLDERS), key=lambda t: (-len(t), t)))


def token_pattern(tokens: Sequence[str]) -> re.Pattern | None:
    """Leftmost-longest matching of ``tokens`` (as tokenizers match added tokens); ``None`` for no token."""
    return re.compile("|".join(re.escape(t) for t in tokens)) if tokens else None


def found_tokens(texts: Iterable[str], pattern: re.Pattern | None) -> Counter:
    """How many times each control token occurs in ``texts``."""
    found: Counter = Counter()
    if pattern is not None:
        for text in texts:
            found.update(m.group() for m in pattern.finditer(text))
    return found


def text_reason(found: Counter, control_tokens: str, seg_mismatch: str) -> str | None:
    """Why a record whose data text holds the control tokens ``found`` is refused under these policies, or None."""
    others = {t: n for t, n in found.items() if t != SEG_TOKEN}
    if control_tokens == "error" and others:
        listed = ", ".join(f"{t!r} x{n}" for t, n in sorted(others.items())[:6])
        return (
            f"its text holds control token(s) of the tokenizer ({listed}), which would become those tokens inside "
            "the sample (a turn ended and another opened inside an answer, image tokens that match no pixels); "
            "control_tokens='upstream' trains it so, 'plain' reads them as text"
        )
    if control_tokens != "plain" and seg_mismatch == "error" and found.get(SEG_TOKEN):
        return (
            f"its text holds {SEG_TOKEN!r} x{found[SEG_TOKEN]}, each a {SEG_TOKEN} token beside the recipe's: the "
            f"sample's {SEG_TOKEN} tokens would outnumber its masks, and a mask would go to the wrong phrase; "
            "seg_mismatch='upstream' trains it so, control_tokens='plain' reads it as text"
        )
    return None


def marks_in(texts: Iterable[str]) -> bool:
    return any(MARK_OPEN in t or MARK_CLOSE in t for t in texts)


MARKS_REASON = (
    "its text holds U+FDD0 or U+FDD1, Unicode noncharacters control_tokens='plain' uses to mark data text; "
    "use control_tokens='error' or 'upstream'"
)

# --------------------------------------------------------------------------- marking data text


def mark_record(record: Mapping[str, Any], pattern: re.Pattern | None) -> dict | None:
    """``record`` with every control token of its texts, caption and messages between :data:`MARK_OPEN` and
    :data:`MARK_CLOSE` (spans into the caption moved with it); ``None`` when there is none to mark."""
    if pattern is None:
        return None
    caption = record.get("caption")
    shifts: list[tuple[int, int]] = []  # (caption position, characters inserted before it)
    if caption is not None:
        caption, shifts = _mark(caption, pattern)
    texts = [{**t, "text": _mark(t["text"], pattern)[0]} for t in record["texts"]]
    conversations = [{**m, "value": _mark(m["value"], pattern)[0]} for m in record["conversations"]]
    changed = (
        caption != record.get("caption")
        or any(a["text"] != b["text"] for a, b in zip(texts, record["texts"]))
        or any(a["value"] != b["value"] for a, b in zip(conversations, record["conversations"]))
    )
    if not changed:
        return None
    if shifts:
        texts = [{**t, "start": _moved(t["start"], shifts), "end": _moved(t["end"], shifts)} for t in texts]
    return {**record, "caption": caption, "texts": texts, "conversations": conversations}


def _mark(text: str, pattern: re.Pattern) -> tuple[str, list[tuple[int, int]]]:
    """(``text`` with each occurrence marked, how its positions move: ``(from position, shift)`` in order)."""
    out, moves, last, inserted = [], [], 0, 0
    for m in pattern.finditer(text):
        out += [text[last : m.start()], MARK_OPEN, m.group(), MARK_CLOSE]
        moves.append((m.start() + 1, inserted + 1))  # a position inside the occurrence: after its opening mark
        inserted += 2
        moves.append((m.end(), inserted))
        last = m.end()
    if not moves:
        return text, []
    out.append(text[last:])
    return "".join(out), moves


def _moved(position: int | None, moves: list[tuple[int, int]]) -> int | None:
    if position is None:
        return None
    shift = 0
    for start, inserted in moves:
        if position >= start:
            shift = inserted
    return position + shift


def strip_marks(text: str) -> str:
    return text.replace(MARK_OPEN, "").replace(MARK_CLOSE, "")


# --------------------------------------------------------------------------- tokenizing marked text


def encode_marked(
    tokenizer: Any, text: str, add_special_tokens: bool, pattern: re.Pattern, where: str = ""
) -> list[int]:
    """``tokenizer.encode`` of ``text`` without its marks, each control token that was marked (data text) replaced
    by its own text tokenized with the tokenizer's special tokens split (plain text); the recipe's stay tokens."""
    clean, marked = _unmark(text)
    ids = list(tokenizer.encode(clean, add_special_tokens=add_special_tokens))
    prefix = len(tokenizer.encode("", add_special_tokens=True)) if add_special_tokens else 0
    added = set(tokenizer.get_added_vocab().values())
    positions = [i for i in range(prefix, len(ids)) if ids[i] in added]
    occurrences = list(pattern.finditer(clean))
    if len(positions) != len(occurrences):
        raise Sa2VAError(
            f"control_tokens='plain' cannot pair the {len(occurrences)} control token(s) of a text with the "
            f"{len(positions)} the tokenizer made of it (a token with lstrip / rstrip?); use control_tokens='error'"
            f"{where}"
        )
    for i, m in reversed(list(zip(positions, occurrences))):
        if (m.start(), m.end()) in marked:
            ids[i : i + 1] = list(
                tokenizer(m.group(), add_special_tokens=False, split_special_tokens=True)["input_ids"]
            )
    return ids


def _unmark(text: str) -> tuple[str, set[tuple[int, int]]]:
    """(text without marks, the (start, end) of each marked stretch in it)."""
    out, spans, pos, start = [], set(), 0, None
    for ch in text:
        if ch == MARK_OPEN:
            start = pos
        elif ch == MARK_CLOSE:
            if start is not None:
                spans.add((start, pos))
            start = None
        else:
            out.append(ch)
            pos += 1
    return "".join(out), spans
