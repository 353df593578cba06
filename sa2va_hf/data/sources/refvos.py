"""ReVOS, MeViS and Ref-YouTube-VOS (``meta_expressions`` + ``mask_dict``) -> canonical records.

Files (under ``data_dir/video_datas/``, named as Sa2VA's training configs and its evaluation
script ``ref_vos_eval.py`` name them), per source and split: expressions; masks; frame folder.

* ``revos`` train: ``revos/meta_expressions_train_.json``; ``revos/mask_dict.json``; ``revos/``
* ``revos`` valid: ``revos/meta_expressions_valid_.json``; the same ``revos/mask_dict.json``; ``revos/``
* ``mevis`` train / valid_u: ``mevis/<split>/meta_expressions.json``; ``mevis/<split>/mask_dict.json``;
  ``mevis/<split>/JPEGImages/``
* ``mevis`` valid: ``mevis/valid/meta_expressions.json``; none; ``mevis/valid/JPEGImages/``
* ``ref_youtube_vos`` train: ``rvos/meta_expressions/train/meta_expressions.json``; ``rvos/mask_dict.pkl``;
  ``rvos/train/JPEGImages/``
* ``ref_youtube_vos`` valid: ``rvos/meta_expressions/valid/meta_expressions.json``; none;
  ``rvos/valid/JPEGImages/``

A split is built when its expressions file exists (the others are left out, logged); a source
with none of them is an error. ReVOS valid reads the one ``mask_dict.json``, as
ReVOS's own evaluation does. Splits without masks keep every video and expression, with no
regions (``region_ids`` empty): MeViS valid has no mask file, Ref-YouTube-VOS valid no ``obj_id``.

One record per video (``id`` = the video key; ReVOS keys hold slashes). Upstream parity
(Sa2VA v1 ``VideoReVOSDataset`` / ``VideoRefYoutubeVOSDataset``, v2 ``Sa2VA03RefVOS``):

* videos in the file's order; ``frames`` sorted as strings (upstream ``sorted``), each
  ``<frames folder>/<video>/<frame>.jpg``; every frame's JPEG header is checked (one size per video,
  equal to the file's ``height``/``width`` where it gives them);
* expression ids sorted **as strings** ("0", "1", "10", "11", "2", ...); each expression is a text
  (``exp`` verbatim: upstream lower-cases it and drops ``.`` at training time);
* ReVOS / MeViS: an expression's masks are ``mask_dict[str(anno_id)]`` for each of its ``anno_id``;
  one region per annotation id (``id`` = the anno id), in first-mention order, and the
  expression's ``region_ids`` point at them (upstream ORs them per frame at training time);
* Ref-YouTube-VOS: ``mask_dict.pkl`` is keyed by a running counter over every expression of the
  split: videos in JSON order x expression ids in string order (upstream's ``anno_count``), so
  region ``id`` = that counter and each expression has its own region (the pkl holds one mask
  list per expression; VISA's builder, whose pkl Sa2VA uses, repeats an object's masks for
  each expression naming it). The pickle is read with the
  restricted unpickler; its ``bytes`` RLE counts are stored as ASCII ``str``.
* per frame one RLE or null: entry ``k`` of a mask list belongs to the ``k``-th frame in sorted
  order, as upstream indexes it; the list must be as long as ``frames`` (upstream would silently
  accept a longer one: here a length mismatch is an error).

Large files: ``mask_dict.json`` (hundreds of MB for MeViS / ReVOS) is never loaded whole. One
streaming pass records each key's byte span; every shard then reads only its videos' masks by
seeking. ``mask_dict.pkl`` can only be unpickled whole, once per build job.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator

from ...errors import AnnotationError, where
from ..catalog import SourceSpec
from ..safety import load_pickle
from ..schema import make_record, make_region, make_text, validate_record
from ._fields import get, optional_size
from ._json import chunks, json_object_spans, load_json, read_json_span, require_file
from ._video import check_frames, frame_masks, frame_paths

logger = logging.getLogger(__name__)

VERSION = "1.1.0"  # bump whenever the records change (1.1: EXIF orientation cleared)
WRITER_BATCH_SIZE = 16  # a record holds a mask per frame: buffer few before writing (datasets: 1000)


def split_paths(data_dir: str, spec: SourceSpec, split: str) -> dict:
    root = os.path.join(os.fspath(data_dir), "video_datas", spec.params["root"])
    files = spec.params["splits"][split]
    return {
        "expressions": os.path.join(root, files["expressions"]),
        "frames": os.path.normpath(os.path.join(root, files["frames"])),
        "masks": None if files["masks"] is None else os.path.join(root, files["masks"]),
    }


def input_files(spec: SourceSpec, data_dir: str) -> list[str]:
    out: list[str] = []
    for split in spec.splits:
        p = split_paths(data_dir, spec, split)
        out += [f for f in (p["expressions"], p["masks"]) if f is not None and f not in out]
    return out


def _videos(path: str) -> dict:
    data = load_json(path)
    videos = get(data, "videos", dict, file=path, record=None)
    for key, entry in videos.items():
        if not isinstance(entry, dict):
            raise AnnotationError(f"a video entry must be an object, got {type(entry).__name__}{where(path, key)}")
    return videos


def _expressions(entry: dict, by_anno_id: bool, *, file: str, video: str) -> list[tuple[str, str, list[str]]]:
    """(exp id, text, anno keys) in upstream's order (ids sorted as strings). ``by_anno_id``: read ``anno_id``."""
    exps = get(entry, "expressions", dict, file=file, record=video)
    out = []
    for exp_id in sorted(exps):
        rec = f"{video}, expression {exp_id}"
        exp = exps[exp_id]
        text = get(exp, "exp", str, file=file, record=rec)
        keys: list[str] = []
        if by_anno_id:
            ids = get(exp, "anno_id", list, file=file, record=rec)
            if not all(isinstance(i, (int, str)) and not isinstance(i, bool) for i in ids):
                raise AnnotationError(f"'anno_id' must be a list of ints, got {ids!r:.60}{where(file, rec)}")
            keys = [str(i) for i in ids]  # upstream: mask_dict[str(anno_id)]
        out.append((exp_id, text, keys))
    return out


def counter_keys(videos: dict, *, file: str) -> dict[str, list[str]]:
    """Ref-YouTube-VOS: video -> the ``mask_dict.pkl`` key of each expression, in expression-id string order.

    Upstream's ``anno_count`` runs over videos in JSON order and, within each, over the
    expression ids sorted as strings; the pickle is keyed by ``str(anno_count)``.
    """
    out, count = {}, 0
    for video, entry in videos.items():
        n = len(get(entry, "expressions", dict, file=file, record=video))
        out[video] = [str(k) for k in range(count, count + n)]
        count += n
    return out


def shards(spec: SourceSpec, data_dir: str, options) -> dict[str, list[dict]]:
    """Native split -> shards ``{"videos": [key, ...], "spans": {anno key: (start, end)}}``.

    For a ``mask_dict.json`` the spans come from one streaming pass over it; every anno id an
    expression names must be among its keys (checked here, before any record is built).
    """
    out, missing = {}, []
    for split in spec.splits:
        p = split_paths(data_dir, spec, split)
        if not os.path.isfile(p["expressions"]):
            missing.append(p["expressions"])
            continue
        videos = _videos(p["expressions"])
        keys = list(videos)
        spans: dict[str, tuple[int, int]] = {}
        if p["masks"] is not None:
            require_file(p["masks"], f"{spec.name} {split} mask file")
            if spec.params["masks_by"] == "anno_id":
                spans = _needed_spans(videos, p["expressions"], p["masks"])
        out[split] = [
            {"videos": part, "spans": _spans_of(part, videos, spans, p["expressions"]) if spans else {}}
            for part in chunks(keys)
        ]
    if not out:
        raise AnnotationError(f"{spec.name}: no expressions file found; expected one of {missing}")
    for path in missing:
        logger.info("%s: %r not found; its split is left out", spec.name, path)
    return out


def _needed_spans(videos: dict, exp_path: str, mask_path: str) -> dict[str, tuple[int, int]]:
    spans = json_object_spans(mask_path)
    for video, entry in videos.items():
        for exp_id, _, keys in _expressions(entry, True, file=exp_path, video=video):
            for key in keys:
                if key not in spans:
                    raise AnnotationError(
                        f"anno_id {key} of expression {exp_id} is not a key of {mask_path!r}{where(exp_path, video)}"
                    )
    return spans


def _spans_of(part: list[str], videos: dict, spans: dict, exp_path: str) -> dict[str, tuple[int, int]]:
    """The spans one shard needs (a shard carries only its own, not the whole index)."""
    return {
        key: spans[key]
        for video in part
        for _, _, keys in _expressions(videos[video], True, file=exp_path, video=video)
        for key in keys
    }


def generate(
    spec: SourceSpec, data_dir: str, options, split: str, shard_list: list[dict]
) -> Iterator[tuple[str, dict]]:
    p = split_paths(data_dir, spec, split)
    videos = _videos(p["expressions"])
    masks_by = None if p["masks"] is None else spec.params["masks_by"]
    if masks_by == "anno_id":
        with open(p["masks"], "rb") as f:  # one handle per job; each anno id is read by seeking to its span

            def read(key: str, shard: dict, rec: str) -> object:
                return read_json_span(f, shard["spans"][key], file=p["masks"], record=rec)

            yield from _records(spec, p, videos, shard_list, masks_by, read)
    elif masks_by == "counter":
        mask_dict = _load_pickle(spec, p, videos)

        def read(key: str, shard: dict, rec: str) -> object:
            if key not in mask_dict:
                raise AnnotationError(f"key {key!r} (the running counter) is not in {p['masks']!r}{where(None, rec)}")
            return mask_dict[key]

        yield from _records(spec, p, videos, shard_list, masks_by, read)
    else:
        yield from _records(spec, p, videos, shard_list, None, None)


def _load_pickle(spec: SourceSpec, p: dict, videos: dict) -> dict:
    mask_dict = load_pickle(p["masks"])
    if not isinstance(mask_dict, dict):
        raise AnnotationError(f"mask_dict.pkl must hold a dict, got {type(mask_dict).__name__}{where(p['masks'])}")
    n_exps = sum(len(keys) for keys in counter_keys(videos, file=p["expressions"]).values())
    if len(mask_dict) != n_exps:  # the counter keys are then unlikely to line up: say so
        logger.warning(
            "%s: %r has %d keys for the %d expressions of %r",
            spec.name,
            p["masks"],
            len(mask_dict),
            n_exps,
            p["expressions"],
        )
    return mask_dict


def _records(
    spec: SourceSpec,
    p: dict,
    videos: dict,
    shard_list: list[dict],
    masks_by: str | None,
    read: Callable[[str, dict, str], object] | None,
) -> Iterator[tuple[str, dict]]:
    """One record per video of the shards; ``read(key, shard, record)`` gives a key's per-frame mask list."""
    file = p["expressions"]
    counters = counter_keys(videos, file=file) if masks_by == "counter" else {}
    for shard in shard_list:
        for video in shard["videos"]:
            entry = videos[video]
            exps = _expressions(entry, masks_by == "anno_id", file=file, video=video)
            if masks_by == "counter":  # each expression its own key, in the same (string-sorted) order
                exps = [(exp_id, text, [key]) for (exp_id, text, _), key in zip(exps, counters[video])]
            names = get(entry, "frames", list, file=file, record=video)
            frames = frame_paths(p["frames"], video, names, file=file, record=video)
            h, w = check_frames(frames, *optional_size(entry, file=file, record=video), file=file, record=video)
            regions, index = [], {}
            for _, _, keys in exps:
                for key in keys:
                    if key not in index:
                        rec = f"{video}, anno {key}"
                        per_frame = frame_masks(read(key, shard, rec), len(frames), h, w, file=p["masks"], record=rec)
                        index[key] = len(regions)
                        regions.append(make_region(key, per_frame))
            texts = [make_text(text, [index[k] for k in keys]) for _, text, keys in exps]
            record = make_record(
                id=video, source=spec.name, frames=frames, height=h, width=w, regions=regions, texts=texts
            )
            yield video, validate_record(record, file=file)


def _splits(**files: tuple[str, str, str | None]) -> dict:
    return {split: {"expressions": e, "frames": f, "masks": m} for split, (e, f, m) in files.items()}


SOURCES = (
    SourceSpec(
        "revos",
        "refvos",
        splits=("train", "valid"),
        description="ReVOS reasoning video object segmentation: expressions and per-frame masks per video.",
        params={
            "root": "revos",
            "masks_by": "anno_id",
            "splits": _splits(
                train=("meta_expressions_train_.json", "", "mask_dict.json"),
                valid=("meta_expressions_valid_.json", "", "mask_dict.json"),
            ),
        },
        homepage="https://github.com/cilinyan/VISA",
        license="see homepage; videos from MOSE, MeViS, LV-VIS, OVIS, TAO, UVO keep their terms",
        citation="Yan et al., VISA: Reasoning Video Object Segmentation via Large Language Models, ECCV 2024, "
        "arXiv:2407.11325",
    ),
    SourceSpec(
        "mevis",
        "refvos",
        splits=("train", "valid_u", "valid"),
        description="MeViS motion-expression video segmentation: expressions and per-frame masks per video.",
        params={
            "root": "mevis",
            "masks_by": "anno_id",
            "splits": _splits(
                train=("train/meta_expressions.json", "train/JPEGImages", "train/mask_dict.json"),
                valid_u=("valid_u/meta_expressions.json", "valid_u/JPEGImages", "valid_u/mask_dict.json"),
                valid=("valid/meta_expressions.json", "valid/JPEGImages", None),
            ),
        },
        homepage="https://henghuiding.com/MeViS",
        license="non-commercial research use only (see homepage)",
        citation="Ding et al., MeViS: A Large-scale Benchmark for Video Segmentation with Motion Expressions, "
        "ICCV 2023, arXiv:2308.08544",
    ),
    SourceSpec(
        "ref_youtube_vos",
        "refvos",
        splits=("train", "valid"),
        description="Ref-YouTube-VOS referring video object segmentation: expressions and per-frame masks per video.",
        params={
            "root": "rvos",
            "masks_by": "counter",
            "splits": _splits(
                train=("meta_expressions/train/meta_expressions.json", "train/JPEGImages", "mask_dict.pkl"),
                valid=("meta_expressions/valid/meta_expressions.json", "valid/JPEGImages", None),
            ),
        },
        homepage="https://youtube-vos.org/dataset/rvos/",
        license="see homepage (YouTube-VOS terms)",
        citation="Seo et al., URVOS: Unified Referring Video Object Segmentation Network with a Large-Scale "
        "Benchmark, ECCV 2020",
    ),
)
