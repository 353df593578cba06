"""Small local tokenizers for the processor tests (nothing is downloaded).

A byte-level BPE over the 256-symbol byte alphabet encodes and decodes any text exactly;
a few merges make tokenization depend on where the text is cut, as real BPEs do, so a
test notices when pieces are tokenized together that upstream tokenizes apart.

Three flavours mirror the LLMs Sa2VA uses:

* ``phi3``: BOS ``<s>`` added by the tokenizer (Llama-style), chat tokens ``<|user|>`` ...;
* ``qwen``: no BOS, ``<|im_start|>`` / ``<|im_end|>``;
* ``internlm2``: BOS ``<s>``, ``<|im_start|>`` / ``<|im_end|>``.

``image_tokens=True`` pre-adds ``<img> </img> <IMG_CONTEXT>`` as the InternVL tokenizers have them.
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
        specials += ["<img>", "</img>", "<IMG_CONTEXT>"]
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
    if flavour == "qwen":
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
