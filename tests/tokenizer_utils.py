"""Small local tokenizers for the processor tests (nothing is downloaded).

A byte-level BPE over the 256-symbol byte alphabet encodes and decodes any text exactly;
a few merges make tokenization depend on where the text is cut, as real BPEs do, so a
test notices when pieces are tokenized together that upstream tokenizes apart.

Five flavours mirror the LLMs Sa2VA uses:

* ``phi3``: BOS ``<s>`` added by the tokenizer (Llama-style), chat tokens ``<|user|>`` ...;
* ``qwen``: no BOS, ``<|im_start|>`` / ``<|im_end|>``;
* ``internlm2``: BOS ``<s>``, ``<|im_start|>`` / ``<|im_end|>``;
* ``qwen_vl``: ``qwen`` as the Qwen2.5-VL / Qwen3-VL tokenizers are (``<|vision_start|>`` ...);
* ``llava``: LLaVA-1.5's Vicuna (Llama): BOS ``<s>``, EOS ``</s>``, no chat tokens.

``image_tokens=True`` pre-adds the flavour's image tokens as the real tokenizers have them:
``<img> </img> <IMG_CONTEXT>`` (InternVL), ``<|vision_start|> <|vision_end|> <|image_pad|>
<|video_pad|>`` (Qwen-VL), ``<image>`` (LLaVA-1.5 as transformers ships it).
"""

from __future__ import annotations

from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, processors
from transformers import PreTrainedTokenizerFast

MERGES = [
    ("e", "n"),
    ("en", "d"),
    ("Ġ", "t"),
    ("h", "e"),
    ("Ġt", "he"),
    ("i", "s"),
    ("Ġ", "is"),
    ("r", "e"),
    ("g", "i"),
    ("o", "n"),
    ("gi", "on"),
    ("re", "gion"),
    ("Ġ", "a"),
    ("Ġa", "re"),
    ("Ċ", "Ċ"),
]

FLAVOURS = {
    "phi3": dict(bos="<s>", eos="</s>", chat=["<|user|>", "<|end|>", "<|assistant|>", "<|system|>", "<|endoftext|>"]),
    "qwen": dict(bos=None, eos="<|im_end|>", chat=["<|endoftext|>", "<|im_start|>", "<|im_end|>"]),
    "internlm2": dict(bos="<s>", eos="</s>", chat=["<|im_start|>", "<|im_end|>"]),
    "qwen_vl": dict(bos=None, eos="<|im_end|>", chat=["<|endoftext|>", "<|im_start|>", "<|im_end|>"]),
    "llava": dict(bos="<s>", eos="</s>", chat=[]),
}
INTERNVL_IMAGE_TOKENS = ["<img>", "</img>", "<IMG_CONTEXT>"]
IMAGE_TOKENS = {
    "qwen_vl": ["<|vision_start|>", "<|vision_end|>", "<|image_pad|>", "<|video_pad|>"],
    "llava": ["<image>"],
}


def make_tokenizer(flavour: str = "phi3", image_tokens: bool = True, **init_kwargs) -> PreTrainedTokenizerFast:
    """``init_kwargs`` (``padding=``, ``max_length=``, ...) become the tokenizer's saved defaults."""
    spec = FLAVOURS[flavour]
    alphabet = sorted(pre_tokenizers.ByteLevel.alphabet())
    vocab = {c: i for i, c in enumerate(alphabet)}
    for a, b in MERGES:
        vocab.setdefault(a + b, len(vocab))
    tok = Tokenizer(models.BPE(vocab=vocab, merges=MERGES))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    specials = [t for t in (spec["bos"], spec["eos"], "<unk>") if t] + spec["chat"]
    if image_tokens:
        specials += IMAGE_TOKENS.get(flavour, INTERNVL_IMAGE_TOKENS)
    tok.add_special_tokens([AddedToken(s, special=True, normalized=False) for s in dict.fromkeys(specials)])
    if spec["bos"]:
        bos_id = tok.token_to_id(spec["bos"])
        tok.post_processor = processors.TemplateProcessing(
            single=f"{spec['bos']} $A",
            pair=f"{spec['bos']} $A {spec['bos']} $B",
            special_tokens=[(spec["bos"], bos_id)],
        )
    kwargs = dict(eos_token=spec["eos"], unk_token="<unk>", clean_up_tokenization_spaces=False)
    if spec["bos"]:
        kwargs["bos_token"] = spec["bos"]
    if flavour in ("qwen", "qwen_vl"):
        kwargs["pad_token"] = "<|endoftext|>"
    return PreTrainedTokenizerFast(tokenizer_object=tok, **kwargs, **init_kwargs)


def label_runs(tokenizer, input_ids, labels):
    """Split a sequence into maximal (labelled?, decoded text) runs, checking labels == ids where labelled."""
    assert len(input_ids) == len(labels)
    runs = []
    for tok, lab in zip(input_ids, labels):
        on = lab != -100
        if on:
            assert lab == tok
        if runs and runs[-1][0] == on:
            runs[-1][1].append(tok)
        else:
            runs.append((on, [tok]))
    return [(on, tokenizer.decode(ids)) for on, ids in runs]
