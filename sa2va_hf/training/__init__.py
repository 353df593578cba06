"""The training side: conversations -> ``input_ids`` + ``labels``, and the batch collator.

Not part of the processor's remote code: it imports the processor closure, never the reverse.
"""

from .collator import Sa2VACollator, collate_fn
from .conversations import CONVERSATION_STYLES, IGNORE_INDEX, encode_conversation, encode_turns

__all__ = ["CONVERSATION_STYLES", "IGNORE_INDEX", "Sa2VACollator", "collate_fn", "encode_conversation", "encode_turns"]
