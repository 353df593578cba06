"""Sa2VAVideoProcessor and videos through Sa2VAProcessor: pixels, token strings, masks, max_llm_frames, inputs.

Expected pixels come from ``tests/reference.py`` (predict_forward's per-frame transform written
out: PIL resize to 448x448, x/255, (x - mean)/std per pixel); expected prompts are spelled out
from upstream's rule ``((frame + '\\n') * n).strip()`` (``ref_video_prompt``).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from sa2va_hf import Sa2VAImageProcessor, Sa2VAProcessor
from sa2va_hf.data.schema import make_record
from sa2va_hf.errors import Sa2VAError, ShapeMismatchError, VideoLoadError
from sa2va_hf.training import encode_conversation
from sa2va_hf.video_processing_sa2va import Sa2VAVideoProcessor

from ..fakedata._common import frame_signature, frame_signature_image, write_mp4
from ..reference import ref_g_pixel_values, ref_video_frame, ref_video_prompt
from ..tokenizer_utils import make_tokenizer

QWEN_USER, QWEN_ASSISTANT = "<|im_start|>user\n", "<|im_end|>\n<|im_start|>assistant\n"


def make_processor(flavour="qwen"):
    return Sa2VAProcessor(Sa2VAImageProcessor(), make_tokenizer(flavour), template=flavour)


def frame(h, w, seed=0, mode="RGB"):
    im = Image.fromarray(np.random.RandomState(seed).randint(0, 256, (h, w, 3), dtype=np.uint8))
    return im.convert(mode)


def clip(n, h=60, w=90):
    return [frame(h, w, seed) for seed in range(n)]


def decode(proc, ids):
    return proc.tokenizer.decode(ids)


def chat(proc, content):
    return proc.apply_chat_template([{"role": "user", "content": content}], add_generation_prompt=True)


@pytest.fixture(scope="module")
def mp4(tmp_path_factory):
    """An mp4 of 8 frames whose brightness encodes the frame index."""
    path = tmp_path_factory.mktemp("video") / "clip.mp4"
    return write_mp4(str(path), [frame_signature_image(i, 48, 64) for i in range(8)])


# --------------------------------------------------------------------------- pixels


@pytest.mark.parametrize("size", [(60, 90), (448, 448), (97, 61), (3, 700), (1000, 1)])
def test_every_frame_is_the_one_tile_image_recipe_bit_for_bit(size):
    frames = [frame(*size, seed=s) for s in range(3)]
    out = Sa2VAVideoProcessor()(frames)
    assert out["pixel_values"].shape == (3, 3, 448, 448) and out["pixel_values"].dtype == np.float32
    assert out["g_pixel_values"].shape == (3, 3, 1024, 1024) and out["g_pixel_values"].dtype == np.uint8
    for k, f in enumerate(frames):
        np.testing.assert_array_equal(out["pixel_values"][k], ref_video_frame(f), err_msg=f"frame {k}")
        np.testing.assert_array_equal(out["g_pixel_values"][k], ref_g_pixel_values(f), err_msg=f"frame {k}")
    assert out["num_frames"].tolist() == out["num_llm_frames"].tolist() == [3]
    assert out["num_patches"].tolist() == [1, 1, 1] and not out["vp_overall_mask"].any()


def test_frames_ignore_the_tiling_options_and_take_the_pixel_options():
    frames = clip(2, 300, 900)  # an image this shape would get 3 tiles + thumbnail
    ip = Sa2VAImageProcessor(max_tiles=6, image_mean=[0.5, 0.5, 0.5], grounding_size=512, normalize_grounding=True)
    out = Sa2VAVideoProcessor(ip)(frames, use_thumbnail=True)
    one_tile = Sa2VAImageProcessor(
        max_tiles=1, image_mean=[0.5, 0.5, 0.5], grounding_size=512, normalize_grounding=True
    )
    for k, f in enumerate(frames):
        single = one_tile(f)
        np.testing.assert_array_equal(out["pixel_values"][k], single["pixel_values"][0])
        np.testing.assert_array_equal(out["g_pixel_values"][k], single["g_pixel_values"][0])
    assert out["g_pixel_values"].dtype == np.float32 and out["g_pixel_values"].shape[-1] == 512


def test_non_rgb_frames_convert_as_upstream():
    frames = [frame(40, 50, s, mode) for s, mode in enumerate(["L", "RGBA", "P"])]
    out = Sa2VAVideoProcessor()(frames)
    for k, f in enumerate(frames):
        np.testing.assert_array_equal(out["pixel_values"][k], ref_video_frame(f))
    with pytest.raises(Sa2VAError, match=r"frame 0 of video 0 is a 'L' image and do_convert_rgb=False"):
        Sa2VAVideoProcessor()(frames, do_convert_rgb=False)


def test_grounding_on_a_worker_thread_gives_the_same_outputs():
    frames = clip(4)
    one, two = Sa2VAVideoProcessor()(frames), Sa2VAVideoProcessor()(frames, num_threads=2)
    assert one.keys() == two.keys()
    for key in one:
        np.testing.assert_array_equal(one[key], two[key], err_msg=key)


def test_return_grounding_false_and_tensors():
    out = Sa2VAVideoProcessor()(clip(2), return_grounding=False)
    assert "g_pixel_values" not in out
    pt = Sa2VAVideoProcessor()(clip(2), masks=np.ones((1, 2, 60, 90), np.uint8), return_tensors="pt")
    assert isinstance(pt["pixel_values"], torch.Tensor) and isinstance(pt["masks"][0], torch.Tensor)
    assert isinstance(pt["num_llm_frames"], torch.Tensor)


# --------------------------------------------------------------------------- what a video may be


def test_pil_arrays_tensors_and_paths_give_the_same_pixels(tmp_path):
    frames = clip(3)
    arrays = [np.asarray(f) for f in frames]
    paths = []
    for k, f in enumerate(frames):
        paths.append(str(tmp_path / f"{k:05d}.png"))
        f.save(paths[-1])
    stacked = np.stack(arrays)
    want = Sa2VAVideoProcessor()(frames)
    for video in (arrays, paths, stacked, torch.from_numpy(stacked).permute(0, 3, 1, 2), tuple(frames)):
        got = Sa2VAVideoProcessor()(video)
        np.testing.assert_array_equal(got["pixel_values"], want["pixel_values"])
        np.testing.assert_array_equal(got["g_pixel_values"], want["g_pixel_values"])


def test_a_video_file_every_frame_or_the_frames_named(mp4):
    vp = Sa2VAVideoProcessor()
    every = vp(mp4)
    assert every["num_frames"].tolist() == [8]
    picked = vp({"video": mp4, "frame_indices": [6, 1, 3]})
    assert picked["num_frames"].tolist() == [3]
    from sa2va_hf import video_io

    decoded = video_io.read_frames(mp4, [6, 1, 3])
    assert [frame_signature(f) for f in decoded] == [6, 1, 3]
    np.testing.assert_array_equal(picked["pixel_values"], vp(decoded)["pixel_values"])
    np.testing.assert_array_equal(picked["pixel_values"][0], every["pixel_values"][6])
    as_bytes = vp({"path": "clip.mp4", "bytes": open(mp4, "rb").read()})
    np.testing.assert_array_equal(as_bytes["g_pixel_values"], every["g_pixel_values"])


def test_a_video_record_reads_its_frames(mp4, tmp_path):
    rec = make_record(id="vid/1", source="ref_sav", video=mp4, frame_indices=[0, 4], height=48, width=64)
    out = Sa2VAVideoProcessor()(rec)
    want = Sa2VAVideoProcessor()({"video": mp4, "frame_indices": [0, 4]})
    np.testing.assert_array_equal(out["pixel_values"], want["pixel_values"])
    # a JPEG-frame record (revos and co.): its stored frames
    paths = []
    for k, f in enumerate(clip(2, 48, 64)):
        paths.append(str(tmp_path / f"{k}.jpg"))
        f.save(paths[-1])
    jpeg = make_record(id="j", source="revos", frames=paths, height=48, width=64)
    got = Sa2VAVideoProcessor()(jpeg)
    np.testing.assert_array_equal(got["pixel_values"], Sa2VAVideoProcessor()(paths)["pixel_values"])
    wrong = dict(rec, height=50)
    with pytest.raises(ShapeMismatchError, match=r"record 'vid/1'.*says 50x64 .* frames are 48x64"):
        Sa2VAVideoProcessor()(wrong)


def test_batches_and_per_sample_lists():
    a, b, c = clip(2), clip(3, 30, 40), clip(1, 20, 20)
    flat = Sa2VAVideoProcessor()([a, b, c])
    assert flat["num_frames"].tolist() == [2, 3, 1] and flat["pixel_values"].shape[0] == 6
    nested = Sa2VAVideoProcessor()([[a], [b, c]])
    for key in flat:
        np.testing.assert_array_equal(flat[key], nested[key], err_msg=key)
    five_d = Sa2VAVideoProcessor()(np.stack([np.stack([np.asarray(f) for f in a])] * 2))
    assert five_d["num_frames"].tolist() == [2, 2]


# --------------------------------------------------------------------------- text, through the processor


def test_one_image_string_per_frame_joined_with_newlines():
    proc = make_processor("qwen")
    out = proc(videos=clip(4), text=chat(proc, "<image>Please segment the person."))
    assert decode(proc, out["input_ids"][0]) == (
        QWEN_USER + ref_video_prompt(4) + "Please segment the person." + QWEN_ASSISTANT
    )
    assert sum(t == proc.image_context_token_id for t in out["input_ids"][0]) == 4 * 256


def test_max_llm_frames_is_predict_forwards_first_five_frames():
    proc = make_processor("qwen")
    frames = clip(7)
    masks = np.zeros((2, 7, 60, 90), np.uint8)
    out = proc(videos=frames, text=chat(proc, "<image>Please segment the person."), masks=masks, max_llm_frames=5)
    assert decode(proc, out["input_ids"][0]) == (
        QWEN_USER + ref_video_prompt(5) + "Please segment the person." + QWEN_ASSISTANT
    )
    assert out["pixel_values"].shape[0] == 5 and out["num_llm_frames"].tolist() == [5]
    for k in range(5):
        np.testing.assert_array_equal(out["pixel_values"][k], ref_video_frame(frames[k]))
    # SAM2 sees every frame, and the masks cover every frame
    assert out["g_pixel_values"].shape[0] == 7 and out["num_frames"].tolist() == [7]
    np.testing.assert_array_equal(out["g_pixel_values"][6], ref_g_pixel_values(frames[6]))
    assert out["masks"][0].shape == (14, 60, 90)
    # fewer frames than the limit: every frame; nested videos_kwargs works the same
    short = proc(videos=clip(3), text="<image>", videos_kwargs={"max_llm_frames": 5})
    assert short["num_llm_frames"].tolist() == [3] and short["pixel_values"].shape[0] == 3


def test_max_llm_frames_default_is_every_frame_and_is_checked():
    proc = make_processor("qwen")
    assert proc(videos=clip(6), text="<image>")["num_llm_frames"].tolist() == [6]
    for bad in (0, -1, "5", True, 2.0):
        with pytest.raises(Sa2VAError, match="max_llm_frames"):
            Sa2VAVideoProcessor()(clip(2), max_llm_frames=bad)
    with pytest.raises(Sa2VAError, match="max_llm_frames"):
        Sa2VAVideoProcessor(max_llm_frames=0)
    assert Sa2VAVideoProcessor(max_llm_frames=2)(clip(3))["num_llm_frames"].tolist() == [2]


def test_a_batch_of_videos_gets_one_string_each():
    proc = make_processor("qwen")
    out = proc(videos=[clip(2), clip(3, 30, 40)], text=["<image>A", "<image>B"], max_llm_frames=2)
    a, b = (decode(proc, ids).replace(proc.tokenizer.eos_token, "") for ids in out["input_ids"])
    assert a == ref_video_prompt(2) + "A" and b == ref_video_prompt(2) + "B"
    with pytest.raises(Sa2VAError, match=r"sample 1: its text holds 1 <image> placeholder\(s\) but 2"):
        proc(videos=[[clip(2)], [clip(1), clip(1)]], text=["<image>A", "<image>B"])


def test_apply_chat_template_takes_a_video_block():
    proc = make_processor("phi3")
    frames = clip(3)
    messages = [
        {"role": "user", "content": [{"type": "video", "video": frames}, {"type": "text", "text": "What happens?"}]}
    ]
    prompt = proc.apply_chat_template(messages, add_generation_prompt=True)
    assert prompt == "<|user|>\n<image>\nWhat happens?<|end|>\n<|assistant|>\n"  # one <image> per video
    inputs = proc.apply_chat_template(
        messages, add_generation_prompt=True, tokenize=True, return_dict=True, processor_kwargs={"max_llm_frames": 2}
    )
    direct = proc(videos=frames, text=prompt, max_llm_frames=2)
    assert inputs["input_ids"] == direct["input_ids"]
    np.testing.assert_array_equal(inputs["pixel_values"], direct["pixel_values"])
    assert decode(proc, inputs["input_ids"][0]) == (
        "<s><|user|>\n" + ref_video_prompt(2) + "\nWhat happens?<|end|>\n<|assistant|>\n"
    )


def test_apply_chat_template_takes_a_video_file(mp4):
    proc = make_processor("qwen")
    messages = [{"role": "user", "content": [{"type": "video", "path": mp4}, {"type": "text", "text": "Q"}]}]
    out = proc.apply_chat_template(messages, add_generation_prompt=True, tokenize=True, return_dict=True)
    assert out["num_frames"].tolist() == [8]
    assert decode(proc, out["input_ids"][0]) == QWEN_USER + ref_video_prompt(8) + "\nQ" + QWEN_ASSISTANT


def test_training_samples_take_max_llm_frames_too():
    proc = make_processor("qwen")
    conv = [{"from": "human", "value": "<image>What happens?"}, {"from": "gpt", "value": "A dance."}]
    out = encode_conversation(proc, videos=clip(4), conversations=conv, max_llm_frames=3)
    assert sum(t == proc.image_context_token_id for t in out["input_ids"][0]) == 3 * 256
    assert out["g_pixel_values"].shape[0] == 4


# --------------------------------------------------------------------------- masks


def test_masks_are_object_major():
    n_obj, n_frames, h, w = 3, 4, 20, 30
    given = np.zeros((n_obj, n_frames, h, w), np.uint8)
    for o in range(n_obj):
        for f in range(n_frames):
            given[o, f, o, f] = 1  # a pixel that says which object and frame
    out = Sa2VAVideoProcessor()(clip(n_frames, h, w), masks=given)
    (got,) = out["masks"]
    assert got.shape == (n_obj * n_frames, h, w) and got.dtype == np.uint8
    for o in range(n_obj):
        for f in range(n_frames):
            assert np.argwhere(got[o * n_frames + f]).tolist() == [[o, f]]


def test_masks_as_lists_of_per_frame_masks_rles_and_nulls():
    from ..fakedata._common import compressed_rle

    h, w = 20, 30
    m = np.zeros((h, w), np.uint8)
    m[2:5, 3:9] = 1
    out = Sa2VAVideoProcessor()(clip(3, h, w), masks=[[m, None, compressed_rle(m)], [None, None, m * 7]])
    got = out["masks"][0]
    assert [int(x.sum()) for x in got] == [18, 0, 18, 0, 0, 18] and got.max() == 1


def test_masks_per_video_in_a_batch():
    a, b = clip(2, 20, 30), clip(1, 10, 10)
    out = Sa2VAVideoProcessor()([a, b], masks=[np.ones((1, 2, 20, 30)), None])
    assert out["masks"][0].shape == (2, 20, 30) and out["masks"][1].shape == (0, 10, 10)


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    "call, error, match",
    [
        (dict(videos=[frame(60, 90), frame(60, 91)]), ShapeMismatchError,
         r"video 0: frames differ in size: frame 0 is 90x60 \(W x H\) but frame 1 is 91x60"),
        (dict(videos=[clip(2), [frame(60, 90), frame(61, 90, 1)]]), ShapeMismatchError, r"video 1: frames differ"),
        (dict(videos=[]), Sa2VAError, "videos is an empty list"),
        (dict(videos=[clip(2), []]), Sa2VAError, "video 1 has no frames"),
        (dict(videos=np.zeros((0, 10, 10, 3), np.uint8)), Sa2VAError, "video 0 has no frames"),
        (dict(videos=clip(3), masks=[[None] * 2]), ShapeMismatchError, r"masks of video 0\[0\]: 2 masks for 3 frames"),
        (dict(videos=clip(3), masks=np.zeros((1, 2, 60, 90))), ShapeMismatchError,
         r"masks of video 0: expected \(n_obj, 3, 60, 90\) = \(objects, frames, H, W\), got \(1, 2, 60, 90\)"),
        (dict(videos=clip(2), masks=[[np.zeros((60, 80)), None]]), ShapeMismatchError,
         r"masks of video 0\[0\]\[0\]: mask shape \(1, 60, 80\) does not match the image \(H, W\) = \(60, 90\)"),
        (dict(videos=[clip(2), clip(2)], masks=[None]), ShapeMismatchError, r"one entry per video \(2 videos\), got 1"),
        (dict(videos="frame.jpg"), Sa2VAError, r"the path 'frame\.jpg' \(an image file, not a video"),
        (dict(videos=[clip(1), 3]), Sa2VAError, r"videos must be a video .* got a list of 2 \(int, list\)"),
        (dict(videos=np.zeros((2, 3), np.uint8)), ShapeMismatchError, r"\(F, H, W, C\) .* got shape \(2, 3\)"),
        (dict(videos=clip(2), fps=2), Sa2VAError, "samples no frames"),
        (dict(videos=clip(2), max_tile=2), Sa2VAError, "unknown Sa2VAVideoProcessor option 'max_tile'"),
    ],
)  # fmt: skip
def test_bad_videos_are_named_errors(call, error, match):
    with pytest.raises(error, match=match):
        Sa2VAVideoProcessor()(**call)


def test_a_missing_or_broken_video_file_is_named(tmp_path, mp4):
    with pytest.raises(VideoLoadError, match=r"nope\.mp4' does not exist"):
        Sa2VAVideoProcessor()(str(tmp_path / "nope.mp4"))
    bad = tmp_path / "bad.mkv"
    bad.write_bytes(b"not a video" * 20)
    with pytest.raises(VideoLoadError, match=r"bad\.mkv"):
        Sa2VAVideoProcessor()({"video": str(bad)})
    with pytest.raises(VideoLoadError, match=r"has 8 decodable frame\(s\) but frame 9 is needed.*record 'r'"):
        Sa2VAVideoProcessor()({"id": "r", "video": mp4, "frame_indices": [2, 9]})
    with pytest.raises(Sa2VAError, match=r"video 0 \(record 'e'\) has no frames"):
        Sa2VAVideoProcessor()({"id": "e", "video": mp4, "frame_indices": []})


def test_the_processor_refuses_visual_prompts_on_videos():
    proc = make_processor("qwen")
    with pytest.raises(Sa2VAError, match="visual_prompts need images"):
        proc(videos=clip(2), text="<image>", visual_prompts=np.ones((1, 60, 90), np.uint8))
