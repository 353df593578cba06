"""The product's side of ``bench/upstream.py`` (runs in the project's venv): each source built with
``load_source`` from the native folder (videos through ``lazy_frames``), served through
``Dataset.with_transform(Sa2VATrainingTransform(processor, "v1"))`` as a user's training loop reads it,
collated by ``Sa2VACollator``. The processor is InternVL's with v1's ``phi3`` template (Sa2VA-4B's) and
the tokenizer both sides load from the folder.
"""

from __future__ import annotations

import contextlib
import os

#: bench source -> catalog source
SOURCES = {
    "refcoco": "refcoco",
    "osprey": "osprey_conversation",
    "gcg_grandf": "gcg_grandf",
    "revos": "revos",
    "ref_sav": "ref_sav",
    "chat_univi": "chat_univi",
}
VIDEO = {"revos", "ref_sav", "chat_univi"}
#: mode -> image processor options (``num_threads=None``: the product's default; one inside a worker)
MODES = {
    "one": {"num_threads": 1},
    "default": {},
    "loader": {},
    "torch": {"num_threads": 1, "resize_backend": "torch"},
    "torch_loader": {"resize_backend": "torch"},
    "compact_loader": {},
    "torch_compact_loader": {"resize_backend": "torch"},
}
#: mode -> training transform options
TRANSFORM_OPTIONS = {"compact_loader": {"compact_samples": True}, "torch_compact_loader": {"compact_samples": True}}


class Side:
    modes = tuple(MODES)

    def __init__(self, data_dir: str, sources: list[str], upstream: str | None = None) -> None:
        import datasets
        from transformers import PreTrainedTokenizerFast

        from sa2va_hf import Sa2VAImageProcessor, Sa2VAProcessor, load_source
        from sa2va_hf.training import Sa2VACollator, Sa2VATrainingTransform, lazy_frames

        datasets.disable_progress_bars()
        tokenizer_dir = os.path.join(data_dir, "tokenizer")
        self.transforms = {}
        for mode, options in MODES.items():
            processor = Sa2VAProcessor(Sa2VAImageProcessor(**options),
                                       PreTrainedTokenizerFast.from_pretrained(tokenizer_dir), template="phi3")  # fmt: skip
            self.transforms[mode] = Sa2VATrainingTransform(processor, "v1", **TRANSFORM_OPTIONS.get(mode, {}))
        self.records = {}
        for source in sources:
            ds = load_source(SOURCES[source], data_dir, split="train", cache_dir=os.path.join(data_dir, ".hf-cache"))
            self.records[source] = lazy_frames(ds) if source in VIDEO else ds
        self._collate = Sa2VACollator()

    def versions(self) -> dict:
        import datasets
        import numpy
        import PIL
        import torch
        import transformers

        import sa2va_hf

        return {"sa2va_hf": sa2va_hf.__version__, "torch": torch.__version__, "numpy": numpy.__version__,
                "pillow": PIL.__version__, "transformers": transformers.__version__,
                "datasets": datasets.__version__}  # fmt: skip

    @staticmethod
    @contextlib.contextmanager
    def as_worker():
        """The collator acts as in a DataLoader worker (compact batches: shared memory, finished when unpickled)."""
        from sa2va_hf.training import collator

        in_worker, collator._in_worker = collator._in_worker, lambda: True
        try:
            yield
        finally:
            collator._in_worker = in_worker

    def set_threads(self, mode: str) -> None:
        import torch

        torch.set_num_threads(1 if mode in ("one", "torch") else len(os.sched_getaffinity(0)))

    def dataset(self, source: str, mode: str):
        return self.records[source].with_transform(self.transforms[mode])

    def collate(self, source: str):
        return self._collate
