"""Work done in the parent process, then in forked children: run as ``python -m tests.fork_scenarios NAME DIR``.

Each scenario first does in this (parent) process what a user does before training or mapping -- builds
a sample, decodes a video frame, runs the processor -- then hands the same work to forked children
(``DataLoader`` workers, ``datasets.map(num_proc=2)``, a ``multiprocessing`` pool) and checks that the
children give what the parent gives. Threads do not survive ``fork``: a child that waits on one of the
parent's threads never returns, so every wait here has a deadline, and :func:`tests.child.run_module`
kills the whole process group and prints every thread's stack if the scenario itself overruns.

A fresh process per scenario: what the parent did before the fork is what the scenario did, nothing
an earlier test left behind.
"""

from __future__ import annotations

import multiprocessing
import os
import sys

import numpy as np

WAIT = 60  # seconds a parent waits for its children (they take well under a second here): a hang fails


def _built(source: str, root: str):
    from sa2va_hf import load_source
    from tests.training.conftest import WRITERS

    data = os.path.join(root, source)
    if not os.path.isdir(data):
        WRITERS[source](data, source)
    return load_source(source, data, split="train", cache_dir=os.path.join(root, "cache"))


def _transform(resize_backend: str = "pil", num_threads: int | None = None):
    from sa2va_hf import Sa2VAImageProcessor, Sa2VAProcessor
    from sa2va_hf.training import Sa2VATrainingTransform
    from tests.tokenizer_utils import make_tokenizer

    image_processor = Sa2VAImageProcessor(resize_backend=resize_backend, num_threads=num_threads)
    processor = Sa2VAProcessor(image_processor, make_tokenizer("qwen"), template="qwen")
    return Sa2VATrainingTransform(processor, "v2", seed=7)


def _loader_batches_equal_the_parents(dataset, transform) -> None:
    """``DataLoader(num_workers=2)`` + the collator gives the batches the parent builds itself."""
    import torch

    from sa2va_hf.training import Sa2VACollator

    collate = Sa2VACollator()
    loader = torch.utils.data.DataLoader(
        dataset.with_transform(transform), batch_size=2, num_workers=2, collate_fn=collate, timeout=WAIT,
        multiprocessing_context="fork",
    )  # fmt: skip
    from_workers = list(loader)
    in_parent = [
        collate([transform(dataset[j]) for j in range(i, min(i + 2, len(dataset)))]) for i in range(0, len(dataset), 2)
    ]
    assert len(from_workers) == len(in_parent) > 0
    for a, b in zip(from_workers, in_parent):
        assert a.keys() == b.keys()
        for key in a:
            if isinstance(a[key], torch.Tensor):
                assert torch.equal(a[key], b[key]), key
            elif isinstance(a[key], list) and a[key] and isinstance(a[key][0], torch.Tensor):
                assert all(torch.equal(x, y) for x, y in zip(a[key], b[key])), key
            else:
                assert a[key] == b[key], key


def video_samples_through_workers(root: str) -> None:
    """Ref-SAV and Chat-UniVi samples (frames decoded from mp4) in DataLoader workers, after the parent
    built one such sample (0.2.1 + PyAV 18.1.1: the workers hung in FFmpeg's frame conversion). Two threads
    on both sides: the decoder's frame threads, then the conversion's slice threads, whatever the machine."""
    from datasets import concatenate_datasets

    from sa2va_hf.training import lazy_frames

    transform = _transform(num_threads=2)
    mix = lazy_frames(concatenate_datasets([_built("ref_sav", root), _built("chat_univi", root)]))
    kept, _ = transform.filter(mix)
    transform(kept[0])  # the parent decodes and converts frames first
    _loader_batches_equal_the_parents(kept, transform)


def image_samples_through_workers(root: str, resize_backend: str) -> None:
    """Image samples in DataLoader workers after the parent ran the processor on its thread pool
    (two threads) with ``resize_backend``."""
    from datasets import concatenate_datasets

    transform = _transform(resize_backend, num_threads=2)
    mix = concatenate_datasets([_built("refcoco", root), _built("osprey_conversation", root)])
    kept, _ = transform.filter(mix)
    transform(kept[0])
    _loader_batches_equal_the_parents(kept, transform)


def _frame_digest(row: dict) -> dict:
    from sa2va_hf.data.schema import record_frames

    return {"digest": [int(np.asarray(f, dtype=np.int64).sum()) for f in record_frames(row)]}


def datasets_map_after_a_decode(root: str) -> None:
    """``datasets.map(num_proc=2)`` (a fork pool) decoding frames, after the parent decoded one."""
    from sa2va_hf import video_io
    from sa2va_hf.training import lazy_frames

    data = lazy_frames(_built("ref_sav", root))
    row = data[0]
    video_io.read_frames(row["video"], [0])
    expected = [_frame_digest(data[i])["digest"] for i in range(len(data))]
    mapped = data.map(_frame_digest, num_proc=2, remove_columns=data.column_names, load_from_cache_file=False)
    assert mapped["digest"] == expected, (mapped["digest"], expected)


def _decode_first_frame(path: str) -> int:
    from sa2va_hf import video_io

    return int(np.asarray(video_io.read_frames(path, [0])[0], dtype=np.int64).sum())


def multiprocessing_pool_after_a_decode(root: str) -> None:
    """A ``multiprocessing`` fork pool decoding mp4 frames, after the parent decoded one."""
    from tests.fakedata._common import frame_signature_image, write_mp4

    paths = [write_mp4(os.path.join(root, f"clip{i}.mp4"), [frame_signature_image(i, 64, 96)] * 3) for i in range(4)]
    expected = [_decode_first_frame(p) for p in paths]
    with multiprocessing.get_context("fork").Pool(2) as pool:
        assert pool.map_async(_decode_first_frame, paths).get(timeout=WAIT) == expected


def _torch_sum_in_child(_: int) -> float:
    import torch

    from sa2va_hf.threads import fork_safe_torch

    torch = fork_safe_torch(torch)
    x = torch.arange(3 * 600 * 600, dtype=torch.float32).reshape(1, 3, 600, 600) / 1e5
    return float(torch.nn.functional.interpolate(x, size=(300, 300), mode="bicubic", antialias=True).sum())


def torch_after_the_parent_ran_parallel_work(root: str) -> None:
    """The package's torch operations in a fork pool after the parent ran torch on its OpenMP threads
    (a float resize there is a parallel region): ``threads.fork_safe_torch`` gives the child one thread."""
    import torch

    torch.set_num_threads(2)
    torch.nn.functional.interpolate(torch.rand(1, 3, 800, 800), size=(400, 400), mode="bilinear", antialias=True)
    expected = _torch_sum_in_child(0)
    with multiprocessing.get_context("fork").Pool(2) as pool:
        got = pool.map_async(_torch_sum_in_child, range(2)).get(timeout=WAIT)
    assert np.allclose(got, expected, rtol=1e-6), (got, expected)


def _qwen_pixels(seed: int) -> np.ndarray:
    from PIL import Image

    from sa2va_hf import Sa2VAQwen2VLImageProcessor

    image = Image.fromarray(np.random.default_rng(seed).integers(0, 256, (300, 500, 3), dtype=np.uint8))
    return Sa2VAQwen2VLImageProcessor(qwen_vl_utils_resize=True)(image, return_grounding=False)["pixel_values"]


def qwen_pixels_after_the_parent_ran_parallel_work(root: str) -> None:
    """Qwen-VL pixels (torch's uint8 resize, the fused normalization) in a fork pool, after the parent ran
    them and other torch work on its OpenMP threads."""
    import torch

    torch.set_num_threads(2)
    torch.nn.functional.interpolate(torch.rand(1, 3, 800, 800), size=(400, 400), mode="bilinear", antialias=True)
    expected = [_qwen_pixels(seed) for seed in range(2)]
    with multiprocessing.get_context("fork").Pool(2) as pool:
        got = pool.map_async(_qwen_pixels, range(2)).get(timeout=WAIT)
    assert all(np.array_equal(a, b) for a, b in zip(got, expected))


def _new_pool_size(count: int) -> int:
    from sa2va_hf import threads

    return threads.thread_pool(count)._max_workers


def thread_pool_lock_held_at_the_fork(root: str) -> None:
    """A child forked while the parent held the pools' lock (another thread making a pool) gets a pool."""
    from sa2va_hf import threads

    threads.thread_pool(2).submit(int).result()
    with threads._pools_lock:  # as another thread of the parent would, at the moment of the fork
        pool = multiprocessing.get_context("fork").Pool(1)
    with pool:
        assert pool.map_async(_new_pool_size, [3]).get(timeout=WAIT) == [3]


SCENARIOS = {
    f.__name__: f
    for f in (
        video_samples_through_workers,
        datasets_map_after_a_decode,
        multiprocessing_pool_after_a_decode,
        torch_after_the_parent_ran_parallel_work,
        qwen_pixels_after_the_parent_ran_parallel_work,
        thread_pool_lock_held_at_the_fork,
    )
}


if __name__ == "__main__":
    name, root, *rest = sys.argv[1:]
    if name == "image_samples_through_workers":
        image_samples_through_workers(root, *rest)
    else:
        SCENARIOS[name](root)
    print("scenario passed")
