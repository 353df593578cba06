"""Keep training transforms' epoch in step with transformers' ``Trainer``.

A :class:`~.transform.Sa2VATrainingTransform` draws each sample's plan from (seed, epoch, source,
id, repeat); nothing in ``Trainer`` tells a ``datasets.Dataset.with_transform`` transform that a
new epoch began (accelerate's ``set_epoch`` reaches samplers and iterable datasets only), so
without this callback every epoch would repeat epoch 0's plans. ``on_epoch_begin`` runs before
``Trainer`` makes the epoch's ``DataLoader`` iterator, so workers started for the epoch copy the
new value -- not workers kept alive across epochs (``dataloader_persistent_workers=True``), which
keep the transform they started with.
"""

from __future__ import annotations

import math
from typing import Any

from transformers import TrainerCallback

from ..errors import Sa2VAError


class SetEpochCallback(TrainerCallback):
    """``Trainer(..., callbacks=[SetEpochCallback(transform)])``: calls ``transform.set_epoch(epoch)``
    at the start of every epoch (the whole epochs done so far: 0, 1, ...; right on resume too)."""

    def __init__(self, *transforms: Any) -> None:
        if not transforms or not all(callable(getattr(t, "set_epoch", None)) for t in transforms):
            raise Sa2VAError("SetEpochCallback takes one or more transforms with a set_epoch method")
        self.transforms = transforms

    def on_epoch_begin(self, args, state, control, **kwargs):
        # state.epoch is fractional mid-epoch (a resumed run starts its first epoch there): whole epochs done
        epoch = int(math.floor((state.epoch or 0) + 1e-6))
        for transform in self.transforms:
            transform.set_epoch(epoch)
        return control

    def on_train_begin(self, args, state, control, **kwargs):
        if getattr(args, "dataloader_persistent_workers", False):
            raise Sa2VAError(
                "SetEpochCallback: with dataloader_persistent_workers=True the workers keep the transform "
                "they started with and never see a new epoch; set it to False"
            )
        return control


__all__ = ["SetEpochCallback"]
