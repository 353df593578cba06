"""The training side: records -> upstream Sa2VA training samples, conversations -> ``input_ids`` +
``labels``, the batch collator.

Not part of the processor's remote code: it imports the processor closure, never the reverse.
"""

from .callbacks import SetEpochCallback
from .collator import Sa2VACollator, collate_fn
from .conversations import CONVERSATION_STYLES, IGNORE_INDEX, encode_conversation, encode_turns
from .dataset_tools import lazy_frames
from .fixes import FIXES
from .mix import UPSTREAM_REPEATS, upstream_mix, with_repeats
from .plan import PlanRandom
from .transform import Sa2VATrainingTransform

__all__ = [
    "CONVERSATION_STYLES",
    "FIXES",
    "IGNORE_INDEX",
    "PlanRandom",
    "Sa2VACollator",
    "Sa2VATrainingTransform",
    "SetEpochCallback",
    "UPSTREAM_REPEATS",
    "collate_fn",
    "encode_conversation",
    "encode_turns",
    "lazy_frames",
    "upstream_mix",
    "with_repeats",
]
