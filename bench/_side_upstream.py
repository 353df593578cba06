"""Upstream's side of ``bench/upstream.py`` (runs in a venv of upstream's own, see the README's "Speed"):
Sa2VA v1's dataset classes (``projects/llava_sam2/datasets/`` of the checkout given with ``--upstream``),
running unchanged, built with the arguments of v1's ``configs/sa2va_4b.py`` (``phi3_chat``, ``DirectResize``
1024 grounding images, 5 expressions / objects and 5 frames a video sample; ``repeats=1``) on the same native
folder and tokenizer as the product, collated by upstream's ``video_lisa_collate_fn``.

One stub: ``projects.llava_sam2.models`` is registered as a bare package over its real folder, so its
``__init__`` (the model: ``mmcv.ops``, SAM2, InternVL) is not run; the grounding resize the configs name,
``models/preprocess/image_resize.py``'s ``DirectResize``, is then imported from its real file.
"""

from __future__ import annotations

import copy
import os
import sys
import types

VIDEO = {"revos", "ref_sav", "chat_univi"}
MODES = ("one", "default", "loader")
SPECIAL_TOKENS = ["[SEG]", "<p>", "</p>", "<vp>", "</vp>"]  # sa2va_4b.py
MAX_LENGTH = 8192


def import_upstream(upstream: str):
    """Upstream's dataset package and what its configs hand the classes."""
    sys.path.insert(0, os.path.abspath(upstream))
    import projects.llava_sam2  # noqa: F401 (a namespace package: the parent of the stub)

    models = types.ModuleType("projects.llava_sam2.models")
    models.__path__ = [os.path.join(os.path.abspath(upstream), "projects", "llava_sam2", "models")]
    sys.modules["projects.llava_sam2.models"] = models
    from projects.llava_sam2 import datasets as up
    from projects.llava_sam2.models.preprocess.image_resize import DirectResize

    return up, DirectResize


class Side:
    modes = MODES

    def __init__(self, data_dir: str, sources: list[str], upstream: str | None) -> None:
        if not upstream:
            raise SystemExit("--upstream: the path of a Sa2VA v1 checkout (magic-research/Sa2VA)")
        up, direct_resize = import_upstream(upstream)
        from transformers import PreTrainedTokenizerFast
        from xtuner.dataset.map_fns import template_map_fn_factory
        from xtuner.utils import PROMPT_TEMPLATE

        self._collate = up.video_lisa_collate_fn
        d = data_dir.rstrip("/") + "/"
        video = d + "video_datas/"

        def common(image: bool = False) -> dict:
            """What sa2va_4b.py passes every dataset (a fresh copy: classes edit the template in place)."""
            template = copy.deepcopy(PROMPT_TEMPLATE.phi3_chat)
            out = {"tokenizer": dict(type=PreTrainedTokenizerFast.from_pretrained,
                                     pretrained_model_name_or_path=d + "tokenizer"),
                   "special_tokens": SPECIAL_TOKENS, "max_length": MAX_LENGTH}  # fmt: skip
            if not image:
                out["template_map_fn"] = dict(type=template_map_fn_factory, template=template)
            else:
                out["prompt_template"] = template
            return out

        grounding = dict(type=direct_resize, target_length=1024)
        make = {
            "refcoco": lambda: up.ReferSegmDataset(
                **common(image=True), extra_image_processor=grounding, data_root=d + "ref_seg/refcoco",
                data_prefix=dict(img_path="coco2014/train2014/"), ann_file="instances.json",
                split_file="refs(unc).p", num_classes_per_sample=5),
            "osprey": lambda: up.OspreyDataset(
                **common(), image_folder=[d + f"osprey-724k/coco/{s}/" for s in
                                          ("train2014", "val2014", "train2017", "val2017")],
                data_path=d + "osprey-724k/Osprey-724K/osprey_conversation.json", lazy=True, repeats=1),
            "gcg_grandf": lambda: up.GranDfGCGDataset(
                **common(), data_path=d + "glamm_data/annotations/GranDf_HA_GCG_train.json",
                image_folder=d + "glamm_data/images/grandf/train/", extra_image_processor=grounding,
                lazy=True, repeats=1),
            "revos": lambda: up.VideoReVOSDataset(
                **common(), image_folder=video + "revos/", expression_file=video + "revos/meta_expressions_train_.json",
                mask_file=video + "revos/mask_dict.json", lazy=True, repeats=1, extra_image_processor=grounding,
                sampled_frames=5),
            "ref_sav": lambda: up.VideoSAM2Dataset(
                **common(), sam2_folder=video + "sam_v_full/", expression_file=video + "sam_v_final_v3.json",
                lazy=True, repeats=1, extra_image_processor=grounding, sampled_frames=5, select_number=5),
            "chat_univi": lambda: up.VideoChatUniViDataset(
                **common(), image_folder=video + "chat_univi/Activity_Videos/",
                json_file=video + "chat_univi/video_chat.json", lazy=True, repeats=1,
                extra_image_processor=grounding, sampled_frames=5),
        }  # fmt: skip
        self.datasets = {source: make[source]() for source in sources}

    def versions(self) -> dict:
        import datasets
        import mmengine
        import numpy
        import PIL
        import torch
        import torchvision
        import transformers
        import xtuner

        return {"torch": torch.__version__, "torchvision": torchvision.__version__, "numpy": numpy.__version__,
                "pillow": PIL.__version__, "transformers": transformers.__version__,
                "datasets": datasets.__version__, "xtuner": xtuner.__version__, "mmengine": mmengine.__version__}  # fmt: skip

    def set_threads(self, mode: str) -> None:
        import torch

        one = mode == "one"
        torch.set_num_threads(1 if one else len(os.sched_getaffinity(0)))
        try:
            import cv2

            cv2.setNumThreads(1 if one else -1)
        except ImportError:
            pass
        # decord (Chat-UniVi's frames): upstream opens `VideoReader(path, ctx=cpu(0))`, whose num_threads=0 asks
        # FFmpeg for a thread per core; one thread each means decord's default too
        try:
            import decord

            init = decord.VideoReader.__init__
            names = init.__code__.co_varnames[: init.__code__.co_argcount][-len(init.__defaults__) :]
            init.__defaults__ = tuple(
                (1 if one else 0) if name == "num_threads" else value for name, value in zip(names, init.__defaults__)
            )
        except ImportError:
            pass
        # OpenCV's FFmpeg decoder (Ref-SAV's frames) reads its thread count when a capture opens
        if one:
            os.environ["OPENCV_FFMPEG_CAPTURE_OPTIONS"] = "threads;1"
        else:
            os.environ.pop("OPENCV_FFMPEG_CAPTURE_OPTIONS", None)

    def dataset(self, source: str, mode: str):
        return self.datasets[source]

    def collate(self, source: str):
        return self._collate
