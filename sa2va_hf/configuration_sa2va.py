"""A minimal config class: transformers' Auto* registries are keyed by a config class.

It is only used as that key; it is deliberately *not* registered with ``AutoConfig``,
so real Sa2VA checkpoints (``model_type`` "sa2va_chat", remote code) keep loading their own.
"""

from transformers import PretrainedConfig


class Sa2VAProcessingConfig(PretrainedConfig):
    model_type = "sa2va_hf"
