"""The engine: dispatch, plans (seeded, per epoch and repeat, the same in any worker), batches through
``with_transform`` + ``DataLoader(num_workers=2)`` + the collator, lengths, the record filter."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest
import torch
from datasets import concatenate_datasets

from sa2va_hf.errors import PlanError, Sa2VAError, SampleDroppedError
from sa2va_hf.training import PlanRandom, Sa2VACollator, Sa2VATrainingTransform, lazy_frames, with_repeats

MIX = ("osprey_conversation", "osprey_detail_description", "refcoco", "gcg_grandf", "llava_665k", "describe_anything",
       "finetune")  # fmt: skip
PLAN_KEYS = ("text_ids", "question_ids", "answer_ids", "frame_ids")
LOADER_TIMEOUT = 60  # seconds a batch may take: a worker that hangs fails the test instead


@pytest.fixture(scope="module")
def mix(built):
    return concatenate_datasets([built(s) for s in MIX])


def test_the_mix_builds_and_every_length_is_exact(mix, processors):
    t = Sa2VATrainingTransform(processors("qwen"), "v2")
    kept, report = t.filter(mix)
    assert report == {t.drop_reason(mix[1]): 3}  # the three Osprey conversations opened by a gpt turn
    assert len(kept) == len(mix) - 3
    lengths = t.lengths(kept)
    for i in range(len(kept)):
        record = kept[i]
        sample = t.build(record, t.plan(record))
        assert len(sample["input_ids"]) == lengths[i] == t.length(record)
        json.dumps(sample["plan"])
    signed = t.lengths(kept, signed=True)
    text_only = [i for i in range(len(kept)) if not kept[i]["frames"]]
    assert text_only and all(signed[i] == -lengths[i] for i in text_only)


def run_loader(dataset, transform, epoch=0):
    transform.set_epoch(epoch)
    loader = torch.utils.data.DataLoader(
        dataset.with_transform(transform), batch_size=3, num_workers=2,
        collate_fn=Sa2VACollator(return_plans=True), timeout=LOADER_TIMEOUT,
    )  # fmt: skip
    return list(loader)


def test_dataloader_with_workers_gives_model_ready_batches_identical_across_runs(mix, processors):
    t = Sa2VATrainingTransform(processors("qwen"), "v1", seed=3)
    kept, _ = t.filter(mix)
    first, second = run_loader(kept, t), run_loader(kept, pickle.loads(pickle.dumps(t)))
    assert len(first) == len(second) == -(-len(kept) // 3)
    plans = [p for batch in first for p in batch["plans"]]
    for i, plan in enumerate(plans):  # workers drew the plans the main process draws
        assert plan == t.plan(kept[i])
    for a, b in zip(first, second):
        assert a.keys() == b.keys()
        for key in a:
            if isinstance(a[key], torch.Tensor):
                assert torch.equal(a[key], b[key]), key
            elif key in ("masks", "prompt_masks"):
                assert all(torch.equal(x, y) for x, y in zip(a[key], b[key])), key
            else:
                assert a[key] == b[key], key
    for batch in first:
        n = len(batch["plans"])
        assert batch["input_ids"].shape == batch["labels"].shape == batch["attention_mask"].shape
        assert batch["input_ids"].shape[0] == n
        assert batch["pixel_values"].shape[0] == int(batch["num_patches"].sum())
        assert batch["pixel_values"].dtype == torch.float32
        context = processors("qwen").image_context_token_id
        assert all(plan["source"] in MIX for plan in batch["plans"])
        assert int((batch["input_ids"] == context).sum()) == 256 * int(
            sum(p for p, plan in zip(batch["num_patches"].tolist(), batch["plans"]) if plan["frame_ids"])
        ) + sum(sum(r) for r in batch.get("region_pixels", []))


def test_same_inputs_same_plan_epochs_and_repeats_differ(built, processors):
    record = built("refcoco")[0]
    t = Sa2VATrainingTransform(processors("qwen"), "v1", seed=7)
    plans = {(e, r): None for e in range(3) for r in range(3)}
    for e, r in plans:
        t.set_epoch(e)
        plans[(e, r)] = t.plan({**record, "repeat": r})
        assert plans[(e, r)] == t.plan({**record, "repeat": r})  # the same inputs, the same plan
        assert (plans[(e, r)]["epoch"], plans[(e, r)]["repeat"]) == (e, r)
    draws = {json.dumps([plans[k][key] for key in PLAN_KEYS]) for k in plans}
    assert len(draws) == len(plans)  # every epoch and repeat draws its own sample
    assert t.plan({**record, "repeat": 0}) != Sa2VATrainingTransform(processors("qwen"), "v1", seed=8).plan(record)


def test_run_level_choices_do_not_depend_on_the_epoch(built, processors):
    """mmdet picks one sentence per RefCOCO object when the dataset is built: fixed over epochs,
    different per repeat (upstream's four RefCOCO copies each pick their own)."""
    record = built("refcoco")[0]  # region 0 has three sentences, region 1 one
    t = Sa2VATrainingTransform(processors("qwen"), "v1", seed=1)

    def sentences(epoch, repeat, transform=t):
        transform.set_epoch(epoch)
        plan = transform.plan({**record, "repeat": repeat})
        return {record["texts"][k]["region_ids"][0]: k for k in plan["text_ids"]}

    def chosen(repeat, transform=t):
        out = {}
        for e in range(6):
            for region, k in sentences(e, repeat, transform).items():
                out.setdefault(region, set()).add(k)
        return out

    assert all(len(ks) == 1 for ks in chosen(0).values())
    per_repeat = [chosen(r)[0] for r in range(12) if 0 in chosen(r)]
    assert len(set().union(*per_repeat)) > 1
    fixed = Sa2VATrainingTransform(processors("qwen"), "v1", seed=1, fixes={"refcoco_sentence_per_sample"})
    assert any(len(ks) > 1 for ks in chosen(0, fixed).values())


def test_with_repeats_marks_each_copy(built, processors):
    ds = built("refcoco")
    repeated = with_repeats(ds, 3)
    assert len(repeated) == 3 * len(ds)
    assert repeated["repeat"] == [0] * len(ds) + [1] * len(ds) + [2] * len(ds)
    t = Sa2VATrainingTransform(processors("qwen"), "v2")
    plans = [t.plan(repeated[i * len(ds)]) for i in range(3)]
    assert len({json.dumps([p[k] for k in PLAN_KEYS]) for p in plans}) == 3
    half = with_repeats(ds, 1.5)
    assert len(half) == int(1.5 * len(ds)) and half["repeat"].count(1) == len(half) - len(ds)
    with pytest.raises(Sa2VAError, match="already has a 'repeat' column"):
        with_repeats(repeated, 2)


def test_a_single_record_and_a_batch(built, processors):
    ds = built("gcg_grandf")
    t = Sa2VATrainingTransform(processors("qwen"), "v1")
    one = t(ds[0])
    batch = t(ds[0:2])
    assert one["input_ids"] == batch["input_ids"][0]
    assert np.array_equal(one["pixel_values"], batch["pixel_values"][0])
    assert set(batch) == set(one) and all(len(v) == 2 for v in batch.values())


def test_batches_of_mixed_sources_fill_missing_keys_with_none(built, processors):
    osprey, refcoco = built("osprey_conversation")[0], built("refcoco")[0]
    t = Sa2VATrainingTransform(processors("qwen"), "v1")
    batch = t({key: [osprey[key], refcoco[key]] for key in osprey})
    assert batch["masks"][0] is None and batch["masks"][1] is not None
    assert batch["prompt_masks"][0] is not None and batch["prompt_masks"][1] is None
    collated = Sa2VACollator()([{k: v[i] for k, v in batch.items()} for i in range(2)])
    assert len(collated["masks"]) == 1 and len(collated["prompt_masks"]) == 1
    assert collated["vp_overall_mask"].dtype == torch.bool and int(collated["vp_overall_mask"].sum()) == 1


def test_return_tensors_pt(built, processors):
    sample = Sa2VATrainingTransform(processors("qwen"), "v2", return_tensors="pt")(built("refcoco")[0])
    assert isinstance(sample["pixel_values"], torch.Tensor) and isinstance(sample["masks"], torch.Tensor)


def test_dispatch_and_own_data_names(built, processors):
    record = built("finetune")[0]
    t = Sa2VATrainingTransform(processors("qwen"), "v2")
    renamed = {**record, "source": "my_kitchen"}
    with pytest.raises(Sa2VAError, match=r"families=\{'my_kitchen': 'folder'\}"):
        t.plan(renamed)
    mine = Sa2VATrainingTransform(processors("qwen"), "v2", families={"my_kitchen": "finetune"})
    assert mine.render(renamed, t.plan(record)) == t.render(record, t.plan(record))
    with pytest.raises(Sa2VAError, match="not a family"):
        Sa2VATrainingTransform(processors("qwen"), "v2", families={"mine": "nope"})


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(recipe="v3"), "recipe must be one of"),
        (dict(fixes=["gcg_span"]), r"unknown fix\(es\) \['gcg_span'\]"),
        (dict(seed=1.5), "seed must be an int"),
        (dict(max_length=0), "max_length"),
        (dict(return_tensors="tf"), "return_tensors"),
    ],
)
def test_bad_arguments(processors, kwargs, match):
    with pytest.raises(Sa2VAError, match=match):
        Sa2VATrainingTransform(processors("qwen"), **kwargs)


def test_plans_that_do_not_fit_are_errors(built, processors):
    record = built("refcoco")[0]
    t = Sa2VATrainingTransform(processors("qwen"), "v2")
    plan = t.plan(record)
    for bad, match in [
        ({**plan, "text_ids": [99]}, "text_ids must be indices below"),
        ({**plan, "question_ids": [16] * 5}, "question index 16 is outside its 16 templates"),
        ({k: v for k, v in plan.items() if k != "frame_ids"}, r"plan lacks \['frame_ids'\]"),
        ({**plan, "recipe": "v1"}, "a plan for recipe 'v1'"),
        ({**plan, "answer_ids": [0]}, "one question and one answer id per text id"),
    ]:
        with pytest.raises(PlanError, match=match):
            t.build(record, bad)
    with pytest.raises(PlanError, match="rng must be"):
        t.plan(record, rng="seed")
    assert t.plan(record, rng=5) == t.plan(record, rng=np.random.default_rng(5))
    assert t.plan(record, rng=PlanRandom.derive(0, 0, record["source"], record["id"], 0)) == t.plan(record)


def test_max_length_that_cuts_image_tokens_names_the_record(built, processors):
    record = built("refcoco")[0]
    t = Sa2VATrainingTransform(processors("qwen"), "v2", max_length=500)
    with pytest.raises(Sa2VAError, match=r"max_length=500.*record '101'"):
        t(record)


def test_refused_records_raise_a_named_error_in_the_transform(built, processors):
    record = built("osprey_conversation")[1]
    with pytest.raises(SampleDroppedError, match=r"transform.filter\(dataset\)"):
        Sa2VATrainingTransform(processors("qwen"), "v2")(record)


@pytest.mark.parametrize("flavour", ["phi3", "internlm2"])
def test_context_tokens_are_not_tokenized_one_by_one(mix, processors, flavour):
    """A run of <IMG_CONTEXT> is its ids (an added token splits the text around it): the samples and
    lengths equal those of tokenizing everything, for tokenizers with a BOS and v1's own loop."""
    t = Sa2VATrainingTransform(processors(flavour), "v1", fixes={"osprey_leading_gpt"})
    slow = Sa2VATrainingTransform(processors(flavour), "v1", fixes={"osprey_leading_gpt"})
    slow._splits = False  # tokenize every <IMG_CONTEXT>
    for i in range(0, len(mix), 3):
        record = mix[i]
        plan = t.plan(record)
        fast, full = t.build(record, plan), slow.build(record, plan)
        assert fast["input_ids"] == full["input_ids"] and fast["labels"] == full["labels"]
        assert t.length(record, plan) == slow.length(record, plan) == len(fast["input_ids"])
    assert t._splits is True


VIDEO_MIX = ("revos", "mevis", "ref_youtube_vos", "ref_sav", "chat_univi", "refcoco")


@pytest.mark.parametrize("recipe", ["v1", "v2"])
def test_video_sources_through_workers_and_the_collator_identical_across_runs(built, processors, recipe):
    mix = lazy_frames(concatenate_datasets([built(s) for s in VIDEO_MIX]))  # frames decoded where planned
    t = Sa2VATrainingTransform(processors("qwen"), recipe, seed=5)
    kept, report = t.filter(mix)
    # v1 writes 5 frame strings for Chat-UniVi's 3-frame video: refused; v2 builds every record
    assert report == ({t.drop_reason(built("chat_univi")[1]): 1} if recipe == "v1" else {})
    lengths = t.lengths(kept)
    first, second = run_loader(kept, t), run_loader(kept, pickle.loads(pickle.dumps(t)))
    plans = [p for batch in first for p in batch["plans"]]
    assert [p["source"] for p in plans] == kept["source"]
    for i, plan in enumerate(plans):  # workers drew the plans the main process draws
        assert plan == t.plan(kept[i])
    for a, b in zip(first, second):
        assert a.keys() == b.keys()
        for key in a:
            if isinstance(a[key], torch.Tensor):
                assert torch.equal(a[key], b[key]), key
            elif key == "masks":
                assert all(torch.equal(x, y) for x, y in zip(a[key], b[key])), key
            else:
                assert a[key] == b[key], key
    context = processors("qwen").image_context_token_id
    row = 0
    for batch in first:
        # every frame (or tile) in pixel_values has its 256 image tokens, every planned frame its SAM2 image
        assert int((batch["input_ids"] == context).sum()) == 256 * batch["pixel_values"].shape[0]
        assert batch["pixel_values"].shape[0] == int(batch["num_patches"].sum())
        grounded = [p for p in batch["plans"] if p["source"] != "chat_univi"]
        assert batch.get("frames_per_batch", []) == [len(p["frame_ids"]) for p in grounded]
        assert [m.shape[0] for m in batch.get("masks", [])] == [
            5 if p["source"] == "refcoco" else 5 * len(p["frame_ids"]) for p in grounded
        ]
        n = len(batch["plans"])
        assert batch["attention_mask"].sum(dim=1).tolist() == lengths[row : row + n]
        row += n


def test_trainer_callback_sets_the_epoch_before_each_epochs_workers_start(mix, processors):
    """What transformers' Trainer does per epoch: on_epoch_begin, then iter(DataLoader) (fresh workers)."""
    from transformers import TrainerControl, TrainerState

    from sa2va_hf.training import SetEpochCallback

    t = Sa2VATrainingTransform(processors("qwen"), "v1", seed=3)
    kept = t.filter(mix)[0].select(range(6))
    loader = torch.utils.data.DataLoader(
        kept.with_transform(t), batch_size=3, num_workers=2, collate_fn=Sa2VACollator(return_plans=True),
        timeout=LOADER_TIMEOUT,
    )
    callback, state, seen = SetEpochCallback(t), TrainerState(), []
    for epoch_done in (0.0, 1.0, 2.0):
        state.epoch = epoch_done
        callback.on_epoch_begin(None, state, TrainerControl())
        seen.append([p["epoch"] for batch in loader for p in batch["plans"]])
    assert seen == [[0] * 6, [1] * 6, [2] * 6]
    state.epoch = 1.5  # resumed mid-epoch 1: its plans are epoch 1's
    callback.on_epoch_begin(None, state, TrainerControl())
    assert t.epoch == 1


def test_trainer_callback_refuses_persistent_workers_and_non_transforms(processors):
    from types import SimpleNamespace

    from transformers import TrainerControl, TrainerState

    from sa2va_hf.training import SetEpochCallback

    callback = SetEpochCallback(Sa2VATrainingTransform(processors("qwen"), "v1"))
    with pytest.raises(Sa2VAError, match="persistent_workers=True .* never see a new epoch"):
        callback.on_train_begin(SimpleNamespace(dataloader_persistent_workers=True), TrainerState(), TrainerControl())
    with pytest.raises(Sa2VAError, match="transforms with a set_epoch method"):
        SetEpochCallback(object())
