"""Upstream's question and answer templates, in upstream's order, one namespace per code base.

A plan names templates by their index in these tuples (``question_ids`` / ``answer_ids``), so the
order is part of the contract. The lists share names across code bases but not contents:

* :class:`GLAMM` -- ``projects/glamm/datasets/utils/utils.py``, which Sa2VA v1's RefCOCO dataset
  (``RefCOCO_Dataset.py``) imports: ``SEG_QUESTIONS`` (16, half without the final ``?`` / ``.``),
  ``ANSWER_LIST`` (5), and a ``GCG_QUESTIONS`` ("detailed" descriptions) that v1 does *not* use;
* :class:`V1` -- Sa2VA v1 (magic-research/Sa2VA, ``projects/llava_sam2/datasets``): its own
  ``GCG_QUESTIONS`` (``gcg_process.py``: ``<image>`` + "brief" descriptions), Osprey's
  ``DETAILED_QUESTIONS`` (30) and ``LIMIT``, Ref-SAV's long-caption prompt, and the video lists of
  ``ReVOS_Dataset.py`` (a copy of GLaMM's ``SEG_QUESTIONS`` / ``ANSWER_LIST``);
* :class:`V2` -- Sa2VA v2 (bytedance/Sa2VA, ``projects/sa2va/datasets/common.py``):
  ``SEG_QUESTIONS`` (16, every one ending in ``?`` or ``.``, so not GLaMM's), ``ANSWER_LIST``,
  ``GCG_QUESTIONS`` (GLaMM's "detailed" list, "the this image" corrected, no ``<image>``), Osprey's ``VP_QUESTIONS``
  (18); Ref-SAV uses the generic ``SEG_QUESTIONS``.

Both namespaces also hold ``REFVOS_EVAL_QUESTIONS`` and ``RES_EVAL_QUESTIONS``: the prompts of upstream's
referring-video and referring-image evaluation (``evaluation/dataset/refVOS.py``, ``RES.py``), which
evaluation plans index.

:data:`RECIPE_PROMPTS` maps a recipe to its namespace.
"""

from __future__ import annotations


class GLAMM:
    """GLaMM's lists (``projects/glamm/datasets/utils/utils.py``), as Sa2VA v1's RefCOCO imports them."""

    SEG_QUESTIONS = (
        "Can you segment the {class_name} in this image?",
        "Please segment {class_name} in this image.",
        "What is {class_name} in this image? Please respond with segmentation mask.",
        "What is {class_name} in this image? Please output segmentation mask.",
        "Can you segment the {class_name} in this image",
        "Please segment {class_name} in this image",
        "What is {class_name} in this image? Please respond with segmentation mask",
        "What is {class_name} in this image? Please output segmentation mask",
        "Could you provide a segmentation mask for the {class_name} in this image?",
        "Please identify and segment the {class_name} in this image.",
        "Where is the {class_name} in this picture? Please respond with a segmentation mask.",
        "Can you highlight the {class_name} in this image with a segmentation mask?",
        "Could you provide a segmentation mask for the {class_name} in this image",
        "Please identify and segment the {class_name} in this image",
        "Where is the {class_name} in this picture? Please respond with a segmentation mask",
        "Can you highlight the {class_name} in this image with a segmentation mask",
    )
    ANSWER_LIST = (
        "It is [SEG].",
        "Sure, [SEG].",
        "Sure, it is [SEG].",
        "Sure, the segmentation result is [SEG].",
        "[SEG].",
    )
    GCG_QUESTIONS = (
        "Could you please give me a detailed description of the image? Please respond with interleaved "
        "segmentation masks for the corresponding parts of the answer.",
        "Can you provide a thorough description of the this image? Please output with interleaved segmentation "
        "masks for the corresponding phrases.",
        "Please describe in detail the contents of the image. Please respond with interleaved segmentation masks "
        "for the corresponding parts of the answer.",
        "Could you give a comprehensive explanation of what can be found within this picture? Please output with "
        "interleaved segmentation masks for the corresponding phrases.",
        "Could you give me an elaborate explanation of this picture? Please respond with interleaved segmentation "
        "masks for the corresponding phrases.",
        "Could you provide me with a detailed analysis of this photo? Please output with interleaved segmentation "
        "masks for the corresponding parts of the answer.",
    )


_REGION_QUESTIONS_V1 = (
    "Can you provide me with a detailed description of the region in the picture marked by <region>?",
    "I'm curious about the region represented by <region> in the picture. Could you describe it in detail?",
    "What can you tell me about the region indicated by <region> in the image?",
    "I'd like to know more about the area in the photo labeled <region>. Can you give me a detailed description?",
    "Could you describe the region shown as <region> in the picture in great detail?",
    "What details can you give me about the region outlined by <region> in the photo?",
    "Please provide me with a comprehensive description of the region marked with <region> in the image.",
    "Can you give me a detailed account of the region labeled as <region> in the picture?",
    "I'm interested in learning more about the region represented by <region> in the photo. Can you describe it "
    "in detail?",
    "What is the region outlined by <region> in the picture like? Could you give me a detailed description?",
    "Can you provide me with a detailed description of the region in the picture marked by <region>, please?",
    "I'm curious about the region represented by <region> in the picture. Could you describe it in detail, please?",
    "What can you tell me about the region indicated by <region> in the image, exactly?",
    "I'd like to know more about the area in the photo labeled <region>, please. Can you give me a detailed "
    "description?",
    "Could you describe the region shown as <region> in the picture in great detail, please?",
    "What details can you give me about the region outlined by <region> in the photo, please?",
    "Please provide me with a comprehensive description of the region marked with <region> in the image, please.",
    "Can you give me a detailed account of the region labeled as <region> in the picture, please?",
    "I'm interested in learning more about the region represented by <region> in the photo. Can you describe it "
    "in detail, please?",
    "What is the region outlined by <region> in the picture like, please? Could you give me a detailed description?",
    "Please describe the region <region> in the image in detail.",
    "Can you offer a thorough analysis of the region <region> in the image?",
    "Could you elaborate on the region highlighted by <region> in the picture provided?",
    "Please share more information about the zone emphasized with <region> in the photo.",
    "What insights can you give about the area denoted by <region> in the image presented?",
    "Can you share a comprehensive rundown of the region denoted by <region> in the presented image?",
    "I'd like to know more about the region highlighted by <region> in the picture provided.",
    "Work through the important details of the area <region> in the image.",
    "Illustrate the area represented by <region> through a descriptive explanation.",
    "Examine the region <region> closely and share its details.",
)


#: Upstream's referring-video evaluation prompts after ``<image>\n`` (v2 ``evaluation/dataset/refVOS.py``:
#: ``SEG_PROMPT`` for an expression without ``?``, ``SEG_PROMPT_QUESTION`` for one with it); the expression
#: goes in verbatim. v1's evaluation has the first only (it passes a ``?`` expression alone, without
#: ``<image>``, so its frames get no image tokens): both recipes evaluate with v2's pair.
_REFVOS_EVAL_QUESTIONS = ("Please segment {class_name}.", " {class_name} Please respond with a segmentation mask.")

#: Upstream's referring-image (RefCOCO family) evaluation prompt after ``<image>\n``, leading space
#: included (``evaluation/dataset/RES.py``, v1 and v2 alike; v2's ``reasoning`` variant is not offered).
_RES_EVAL_QUESTIONS = (" Please segment {class_name} in this image.",)


class V1:
    """Sa2VA v1 (magic-research/Sa2VA, ``projects/llava_sam2/datasets``), as each dataset class imports them."""

    #: RefCOCO (GLaMM's list); ``ReVOS_Dataset.py`` (ReVOS, MeViS, Ref-YTVOS) holds an identical copy.
    SEG_QUESTIONS = GLAMM.SEG_QUESTIONS
    ANSWER_LIST = GLAMM.ANSWER_LIST
    #: ``gcg_process.py``: ``<image>`` + a request for a *brief* description (all four GCG sets).
    GCG_QUESTIONS = (
        "<image>Could you please give me a brief description of the image? Please respond with interleaved "
        "segmentation masks for the corresponding parts of the answer.",
        "<image>Can you provide a brief description of the this image? Please output with interleaved "
        "segmentation masks for the corresponding phrases.",
        "<image>Please briefly describe the contents of the image. Please respond with interleaved segmentation "
        "masks for the corresponding parts of the answer.",
        "<image>Could you give a brief explanation of what can be found within this picture? Please output with "
        "interleaved segmentation masks for the corresponding phrases.",
        "<image>Could you give me an brief explanation of this picture? Please respond with interleaved "
        "segmentation masks for the corresponding phrases.",
        "<image>Could you provide me with a briefly analysis of this photo? Please output with interleaved "
        "segmentation masks for the corresponding parts of the answer.",
    )
    #: ``Osprey_Dataset.py``: questions of ``osprey_detail_description`` (``<region>`` -> ``regionK``).
    DETAILED_QUESTIONS = _REGION_QUESTIONS_V1
    #: ``Osprey_Dataset.py``: appended to every user message of ``osprey_short_form`` (the other
    #: Osprey files append ``""``).
    LIMIT = " Answer the question using a single word or phrase."
    #: ``ReSAM2_Dataset.py`` (Ref-SAV, default ``mode='long'``, the ``formated`` caption).
    REF_SAV_SEG_QUESTIONS = ("Please segment the object according to the description: {class_name}",)
    #: ``ReSAM2_Dataset.py`` ``short`` mode (a ``short_caps`` item, ``"A "`` removed).
    REF_SAV_SEG_QUESTIONS_SHORT = GLAMM.SEG_QUESTIONS
    REF_SAV_ANSWER_LIST = GLAMM.ANSWER_LIST
    REFVOS_EVAL_QUESTIONS = _REFVOS_EVAL_QUESTIONS
    RES_EVAL_QUESTIONS = _RES_EVAL_QUESTIONS


class V2:
    """Sa2VA v2 (bytedance/Sa2VA, ``projects/sa2va/datasets/common.py``)."""

    SEG_QUESTIONS = (
        "Can you segment the {class_name} in this image?",
        "Please segment {class_name} in this image.",
        "What is {class_name} in this image? Please respond with segmentation mask.",
        "What is {class_name} in this image? Please output segmentation mask.",
        "Can you segment the {class_name} in this image?",
        "Please segment {class_name} in this image.",
        "What is {class_name} in this image? Please respond with segmentation mask?",
        "What is {class_name} in this image? Please output segmentation mask?",
        "Could you provide a segmentation mask for the {class_name} in this image?",
        "Please identify and segment the {class_name} in this image.",
        "Where is the {class_name} in this picture? Please respond with a segmentation mask.",
        "Can you highlight the {class_name} in this image with a segmentation mask?",
        "Could you provide a segmentation mask for the {class_name} in this image?",
        "Please identify and segment the {class_name} in this image.",
        "Where is the {class_name} in this picture? Please respond with a segmentation mask.",
        "Can you highlight the {class_name} in this image with a segmentation mask?",
    )
    ANSWER_LIST = GLAMM.ANSWER_LIST
    #: GLaMM's "detailed" list with "the this image" corrected; the dataset puts ``<image>\n`` in front.
    GCG_QUESTIONS = (
        GLAMM.GCG_QUESTIONS[0],
        "Can you provide a thorough description of this image? Please output with interleaved segmentation masks "
        "for the corresponding phrases.",
        *GLAMM.GCG_QUESTIONS[2:],
    )
    #: Osprey description questions (``sa2va_data_06_vp.py``): 18 of v1's 30, in v1's order.
    VP_QUESTIONS = (
        "Can you provide me with a detailed description of the region in the picture marked by <region>?",
        "I'm curious about the region represented by <region> in the picture. Could you describe it in detail?",
        "What can you tell me about the region indicated by <region> in the image?",
        "What details can you give me about the region outlined by <region> in the photo?",
        "Please provide me with a comprehensive description of the region marked with <region> in the image.",
        "Can you give me a detailed account of the region labeled as <region> in the picture?",
        "I'm interested in learning more about the region represented by <region> in the photo. Can you describe "
        "it in detail?",
        "What is the region outlined by <region> in the picture like? Could you give me a detailed description?",
        "Please describe the region <region> in the image in detail.",
        "Can you offer a thorough analysis of the region <region> in the image?",
        "Could you elaborate on the region highlighted by <region> in the picture provided?",
        "Please share more information about the zone emphasized with <region> in the photo.",
        "What insights can you give about the area denoted by <region> in the image presented?",
        "Can you share a comprehensive rundown of the region denoted by <region> in the presented image?",
        "I'd like to know more about the region highlighted by <region> in the picture provided.",
        "Work through the important details of the area <region> in the image.",
        "Illustrate the area represented by <region> through a descriptive explanation.",
        "Examine the region <region> closely and share its details.",
    )
    LIMIT = V1.LIMIT
    REFVOS_EVAL_QUESTIONS = _REFVOS_EVAL_QUESTIONS
    RES_EVAL_QUESTIONS = _RES_EVAL_QUESTIONS


RECIPE_PROMPTS = {"v1": V1, "v2": V2}

__all__ = ["GLAMM", "RECIPE_PROMPTS", "V1", "V2"]
