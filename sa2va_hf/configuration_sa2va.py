"""Minimal config classes: transformers' Auto* registries are keyed by a config class.

They are only used as those keys, one per image processor class (``AutoImageProcessor`` resolves a
saved ``image_processor_type`` through the mapping that holds it, so each class needs its own);
they are deliberately *not* registered with ``AutoConfig``, so real Sa2VA checkpoints
(``model_type`` "sa2va_chat", remote code) keep loading their own.
"""

from transformers import PretrainedConfig


class Sa2VAProcessingConfig(PretrainedConfig):
    model_type = "sa2va_hf"


class Sa2VAQwen2VLProcessingConfig(PretrainedConfig):
    model_type = "sa2va_hf_qwen2_vl"


class Sa2VALlavaProcessingConfig(PretrainedConfig):
    model_type = "sa2va_hf_llava"
