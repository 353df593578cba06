"""Chat-UniVi video QA (video conversations, part of Sa2VA's training mix) -> canonical records.

Files (upstream configs, v1 and v2): ``data_dir/video_datas/chat_univi/video_chat.json`` (a JSON
list, streamed; Chat-UniVi-Instruct's ``Fine-tuning/VIDEO``) and the videos under
``data_dir/video_datas/chat_univi/Activity_Videos/`` at each entry's ``video`` path. An entry is
``{"id", "video", "conversations": [{"from", "value"}, ...]}``.

One record per entry, as upstream (v1 ``VideoChatUniViDataset``, v2 ``Sa2VA04VideoQA``) reads them:

* ``id`` = the entry's position in the file (stable and unique whatever the file's own ids);
* ``video`` = ``Activity_Videos/<video>``, or, where that file is absent, the same path with
  ``mkv`` replaced by ``mp4`` (upstream's fallback, applied to the entry's path);
* ``frame_indices`` = every frame of the video, ``0 .. n - 1``: upstream decodes the video with
  decord and, at training time, samples 5 frames, one at random in each of 5 equal segments
  (``np.linspace(0, n, 6)`` bounds; all frames when ``n <= 5``). Sampling is the transform's;
  the record says which frames exist. ``n`` is the count the container header states; the video
  is decoded, to count, only where the header states none (Matroska, WebM). Frames are decoded
  lazily by ``sa2va_hf.video_io``, never stored. A video shared by several entries is opened
  once per build job;
* ``conversations`` exactly as in the file (v1 strips ``<image>`` from the questions and puts the
  frames before the first; v2 strips ``<video>`` and writes ``<image>\\n`` before it: the
  transform's job); no regions, no caption; ``height`` / ``width`` from the header.

A missing video is an error by default (v1 raises ``FileNotFoundError``); ``missing_videos="skip"``
leaves such entries out (as v2's ``mock_prepare_data`` check does), counted in the build log and in
the builder's ``filter_report``. A video that exists but cannot be opened, or has no frame, is
always an error, as is an entry without a ``video`` or without conversations.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass

from ...errors import AnnotationError, VideoLoadError, where
from ..catalog import SourceSpec
from ..safety import safe_join
from ..schema import make_record, validate_record
from ._fields import check_missing_policy, get, records_with_missing_policy
from ._fields import conversations as read_conversations
from ._json import iter_json_array, json_array_shards, require_file
from ._video import count_frames

VERSION = "1.0.0"  # bump whenever the records change


@dataclass(frozen=True)
class ChatUniViOptions:
    """``missing_videos``: ``"error"`` (default) or ``"skip"`` (counted in ``filter_report``)."""

    missing_videos: str = "error"

    def __post_init__(self) -> None:
        check_missing_policy("missing_videos", self.missing_videos)


class _MissingVideo(VideoLoadError):
    """Neither the entry's video nor its ``.mp4`` fallback exists (the one error the skip policy skips)."""


def paths(data_dir: str, spec: SourceSpec) -> dict:
    root = os.path.join(os.fspath(data_dir), "video_datas", "chat_univi")
    return {"json": os.path.join(root, spec.params["file"]), "videos": os.path.join(root, spec.params["folder"])}


def input_files(spec: SourceSpec, data_dir: str) -> list[str]:
    return [paths(data_dir, spec)["json"]]


def shards(spec: SourceSpec, data_dir: str, options: ChatUniViOptions) -> dict[str, list[dict]]:
    return {"train": json_array_shards(require_file(paths(data_dir, spec)["json"], f"{spec.name} annotation file"))}


def report(spec: SourceSpec, data_dir: str, options: ChatUniViOptions) -> dict:
    """Entries, and (with ``missing_videos="skip"``) entries left out because their video is missing."""
    p = paths(data_dir, spec)
    counts: Counter = Counter()
    for index, (_, entry) in enumerate(iter_json_array(require_file(p["json"], f"{spec.name} annotation file"))):
        counts["entries in file"] += 1
        if options.missing_videos == "skip":
            try:
                video_path(p["videos"], get(entry, "video", str, file=p["json"], record=str(index)), p["json"], index)
            except _MissingVideo:
                counts["entries dropped: video missing"] += 1
    return dict(counts)


def generate(
    spec: SourceSpec, data_dir: str, options: ChatUniViOptions, split: str, shard_list: list[dict]
) -> Iterator[tuple[str, dict]]:
    p = paths(data_dir, spec)
    headers: dict[str, tuple[int, int, int]] = {}  # video path -> (frames, h, w): entries share videos
    return records_with_missing_policy(
        spec.name,
        shard_list,
        lambda entry, index, file: _record(entry, index, spec.name, p, file, headers),
        _MissingVideo,
        options.missing_videos,
        "missing_videos",
        "video",
    )


def video_path(folder: str, rel: str, file: str, index: int) -> str:
    """``folder/rel``, else upstream's fallback ``folder/rel.replace("mkv", "mp4")``; both inside ``folder``."""
    rec = str(index)
    tried = [safe_join(folder, rel, file=file, record=rec)]
    if "mkv" in rel:
        tried.append(safe_join(folder, rel.replace("mkv", "mp4"), file=file, record=rec))
    for path in tried:
        if os.path.isfile(path):
            return path
    raise _MissingVideo(f"video {rel!r} not found; looked for {tried}{where(file, rec)}")


def _record(entry: object, index: int, source: str, p: dict, file: str, headers: dict) -> dict:
    rec = str(index)
    rel = get(entry, "video", str, file=file, record=rec)
    conversations = read_conversations(entry, file=file, record=rec)
    if not conversations:
        raise AnnotationError(f"the entry has no conversation turns{where(file, rec)}")
    path = video_path(p["videos"], rel, file, index)
    if path not in headers:
        headers[path] = count_frames(path, file=file, record=rec)
    n, h, w = headers[path]
    record = make_record(
        id=rec, source=source, video=path, frame_indices=range(n), height=h, width=w, conversations=conversations
    )
    return validate_record(record, file=file)


SOURCES = (
    SourceSpec(
        "chat_univi",
        "chat_univi",
        description="Chat-UniVi video QA conversations on ActivityNet videos (every frame indexed, decoded lazily).",
        params={"file": "video_chat.json", "folder": "Activity_Videos"},
        options=ChatUniViOptions,
        homepage="https://huggingface.co/datasets/Chat-UniVi/Chat-UniVi-Instruct",
        license="apache-2.0 (annotations, as the Hub dataset card states); videos: ActivityNet's, their own terms",
        citation="Jin et al., Chat-UniVi: Unified Visual Representation Empowers Large Language Models with Image "
        "and Video Understanding, CVPR 2024, arXiv:2311.08046",
    ),
)
